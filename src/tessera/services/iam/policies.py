"""Managed policies and their versions: the account's own and AWS's shipped ones.

A customer policy keeps up to five versions; exactly one is the default, the one every
attachment uses. AWS managed policies (``arn:aws:iam::aws:policy/…``, package data)
are read-only here: they can be read, listed and attached, never changed.

Attachment counts are not stored: they are counted from the users, groups and roles
that name the policy, so they cannot drift from the attachments themselves.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from tessera.arn import is_aws_managed_policy
from tessera.errors import (
    DeleteConflictException,
    EntityAlreadyExistsException,
    LimitExceededException,
    NoSuchEntityException,
)
from tessera.policy import PolicyType
from tessera.services import records as R
from tessera.services.aws_managed import list_key
from tessera.services.iam import quotas
from tessera.services.iam.documents import check_size, parse_document
from tessera.services.iam.entities import (
    account_of,
    ensure_quota,
    iso,
    parse_time,
    path_matches,
    view_records,
)
from tessera.services.iam.managed import (
    PolicyRef,
    not_found,
    refuse_aws_policy_change,
    require_customer_policy,
    resolve_policy,
)
from tessera.services.iam.paging import decode_marker, ordered_page, paginate
from tessera.services.iam.tags import (
    authorize_creation,
    merge_tags,
    remove_tags,
    request_tag_context,
    resource_tag_context,
    tag_keys_context,
    validate_request_tags,
)
from tessera.services.ids import POLICY_PREFIX, new_unique_id
from tessera.services.request import OperationContext, operation
from tessera.services.view import name_key
from tessera.store.base import Transaction

POLICY_SIZE_MESSAGE = f"Cannot exceed quota for PolicySize: {quotas.MANAGED_POLICY_SIZE}"
TOO_MANY_VERSIONS = "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version."
HAS_VERSIONS = (
    "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. "
    "The default version is deleted with the policy."
)


# -- usage counts -------------------------------------------------------------------
class Usage:
    """How many entities attach each policy, and use it as a permissions boundary."""

    def __init__(self, holders: Iterable[Mapping[str, Any]]) -> None:
        self.attached: Counter[str] = Counter()
        self.boundary: Counter[str] = Counter()
        for holder in holders:
            self.attached.update(set(holder.get("attached", ())))
            if holder.get("boundary"):
                self.boundary[holder["boundary"]] += 1

    @classmethod
    def of_view(cls, ctx: OperationContext) -> Usage:
        return cls([*view_records(ctx, R.USER), *view_records(ctx, R.GROUP), *view_records(ctx, R.ROLE)])

    @staticmethod
    def in_use_in(tx: Transaction, account: str, arn: str) -> bool:
        """Whether any user, group or role of ``tx`` attaches ``arn`` or has it as its
        boundary (indexed lookups: the cost does not grow with the account)."""
        holders = ((kind, field) for kind in (R.USER, R.GROUP, R.ROLE) for field in ("attached", "boundary"))
        return any(tx.count_by(account, kind, field, arn) for kind, field in holders)

    def in_use(self, arn: str) -> bool:
        return self.attached[arn] > 0 or self.boundary[arn] > 0

    def arns(self) -> set[str]:
        """Every policy ARN attached or used as a boundary."""
        return {arn for arn, n in self.attached.items() if n} | {arn for arn, n in self.boundary.items() if n}


# -- shapes -------------------------------------------------------------------------
def policy_shape(rec: Mapping[str, Any], usage: Usage, *, tags: bool = True) -> dict[str, Any]:
    """``Policy`` for a customer or AWS managed policy record."""
    arn = rec["arn"]
    out: dict[str, Any] = {
        "PolicyName": rec["name"],
        "PolicyId": rec["id"],
        "Arn": arn,
        "Path": rec["path"],
        "DefaultVersionId": rec["default_version"],
        "AttachmentCount": usage.attached[arn],
        "PermissionsBoundaryUsageCount": usage.boundary[arn],
        "IsAttachable": True,
        "CreateDate": parse_time(rec["created"]),
        "UpdateDate": parse_time(rec["updated"]),
    }
    if rec.get("description"):
        out["Description"] = rec["description"]
    if tags and rec.get("tags"):
        out["Tags"] = list(rec["tags"])
    return out


def versions_of(rec: Mapping[str, Any]) -> dict[str, str]:
    """version id → creation time. An AWS managed policy's record lists its versions as
    ``[id, created]`` pairs (its documents stay compressed until asked for)."""
    if is_aws_managed_policy(str(rec["arn"])):
        return {str(v): str(created) for v, created in rec["versions"]}
    return {v: str(version["created"]) for v, version in rec["versions"].items()}


def version_document(ctx: OperationContext, rec: Mapping[str, Any], version_id: str) -> str | None:
    """A version's document: a customer policy's from its record, an AWS one's from the data."""
    if is_aws_managed_policy(str(rec["arn"])):
        return ctx.runtime.view.managed.version_document(str(rec["arn"]), version_id)
    version = rec["versions"].get(version_id)
    return str(version["document"]) if version is not None else None


def version_shape(rec: Mapping[str, Any], version_id: str, created: str, document: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "VersionId": version_id,
        "IsDefaultVersion": version_id == rec["default_version"],
        "CreateDate": parse_time(created),
    }
    if document is not None:
        out["Document"] = document
    return out


def version_number(version_id: str) -> int:
    digits = version_id[1:].split(".", 1)[0]
    return int(digits) if digits.isdigit() else 0


# -- look-ups -----------------------------------------------------------------------
def _require_view_policy(ref: PolicyRef) -> Mapping[str, Any]:
    if ref.record is None:
        raise not_found(ref.arn)
    return ref.record


def _authorize(ctx: OperationContext, action: str, text: str, extra: Mapping[str, object] | None = None) -> PolicyRef:
    """Resolve the PolicyArn ``text`` and authorize ``action`` on the policy it names
    (its stored ARN, with its tags); the caller works on the returned reference only."""
    ref = resolve_policy(ctx, text)
    tags = resource_tag_context(ref.record.get("tags", ())) if ref.record is not None else {}
    ctx.authorize(action, ref.arn, context={**tags, **(extra or {})})
    return ref


def _save(tx: Transaction, account: str, rec: R.PolicyRecord) -> None:
    tx.update(account, R.POLICY, name_key(rec["name"]), rec)


# -- operations ---------------------------------------------------------------------
@operation("iam", "CreatePolicy")
def create_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, name = account_of(ctx), params["PolicyName"]
    path = params.get("Path") or "/"
    arn = f"arn:aws:iam::{account}:policy{path}{name}"
    tags = validate_request_tags(params.get("Tags") or [])
    authorize_creation(ctx, "iam:CreatePolicy", "iam:TagPolicy", arn, tags)
    text = params["PolicyDocument"]
    parse_document(text, PolicyType.IDENTITY, arn)
    check_size([text], quotas.MANAGED_POLICY_SIZE, POLICY_SIZE_MESSAGE)
    now = iso(ctx.now)
    rec: R.PolicyRecord = {
        "name": name,
        "id": new_unique_id(POLICY_PREFIX),
        "path": path,
        "arn": arn,
        "created": now,
        "updated": now,
        "description": params.get("Description") or "",
        "tags": tags,
        "default_version": "v1",
        "next_version": 2,
        "versions": {"v1": {"document": text, "created": now}},
    }
    with ctx.write(account) as tx:
        ensure_quota(tx.count(account, R.POLICY), quotas.POLICIES_PER_ACCOUNT, "PoliciesPerAccount")
        if tx.get(account, R.POLICY, name_key(name)) is not None:
            raise EntityAlreadyExistsException(f"A policy called {name} already exists. Duplicate names are not allowed.")
        tx.insert(account, R.POLICY, name_key(name), rec)
    return {"Policy": policy_shape(rec, Usage([]))}


@operation("iam", "GetPolicy", read_only=True)
def get_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = _authorize(ctx, "iam:GetPolicy", params["PolicyArn"])
    return {"Policy": policy_shape(_require_view_policy(ref), Usage.of_view(ctx))}


@operation("iam", "DeletePolicy")
def delete_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    ref = _authorize(ctx, "iam:DeletePolicy", params["PolicyArn"])
    refuse_aws_policy_change(ref.arn, "delete")
    with ctx.write(account) as tx:
        rec = require_customer_policy(tx, account, ref)
        if Usage.in_use_in(tx, account, rec["arn"]):
            raise DeleteConflictException("Cannot delete a policy attached to entities.")
        if len(rec["versions"]) > 1:
            raise DeleteConflictException(HAS_VERSIONS)
        tx.delete(account, R.POLICY, name_key(rec["name"]))
    return {}


@operation("iam", "ListPolicies", read_only=True)
def list_policies(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """Customer and AWS policies in one order (name, then ARN). AWS's ~1,600 are kept in
    that order, so a page costs a bisection and the page itself, not a sort of them all;
    with a usage filter only the policies the account uses are looked at."""
    prefix = params.get("PathPrefix")
    ctx.authorize("iam:ListPolicies", f"arn:aws:iam::{account_of(ctx)}:policy{prefix or '/'}")
    scope = params.get("Scope") or "All"
    usage = Usage.of_view(ctx)
    marker = params.get("Marker")
    start = decode_marker(marker) if marker else None
    sources: list[Iterable[tuple[str, Mapping[str, Any]]]] = []
    if scope in ("All", "Local"):
        sources.append(_from_key(view_records(ctx, R.POLICY), start))
    if scope in ("All", "AWS"):
        managed = ctx.runtime.view.managed
        if params.get("OnlyAttached") or params.get("PolicyUsageFilter"):
            used = (managed.get(arn) for arn in usage.arns() if is_aws_managed_policy(arn))
            sources.append(_from_key([p for p in used if p is not None], start))
        else:
            sources.append(managed.from_key(start))
    merged = heapq.merge(*sources, key=lambda kv: kv[0])
    chosen = ((k, p) for k, p in merged if path_matches(p["path"], prefix) and _usage_filter(p, usage, params))
    page = ordered_page(chosen, params.get("MaxItems"))
    return page.output("Policies", lambda p: policy_shape(p, usage, tags=False))


def _from_key(recs: Iterable[Mapping[str, Any]], start: str | None) -> list[tuple[str, Mapping[str, Any]]]:
    keyed = sorted(((list_key(p), p) for p in recs), key=lambda kv: kv[0])
    return [kv for kv in keyed if start is None or kv[0] >= start]


def _usage_filter(rec: Mapping[str, Any], usage: Usage, params: Mapping[str, Any]) -> bool:
    """OnlyAttached and PolicyUsageFilter (PermissionsPolicy / PermissionsBoundary)."""
    arn, how = rec["arn"], params.get("PolicyUsageFilter")
    if how == "PermissionsPolicy":
        used = usage.attached[arn] > 0
    elif how == "PermissionsBoundary":
        used = usage.boundary[arn] > 0
    else:
        used = usage.in_use(arn)
    return used if (params.get("OnlyAttached") or how) else True


# -- versions -----------------------------------------------------------------------
@operation("iam", "CreatePolicyVersion")
def create_policy_version(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, text = account_of(ctx), params["PolicyDocument"]
    ref = _authorize(ctx, "iam:CreatePolicyVersion", params["PolicyArn"])
    refuse_aws_policy_change(ref.arn, "create a version of")
    parse_document(text, PolicyType.IDENTITY, ref.arn)
    check_size([text], quotas.MANAGED_POLICY_SIZE, POLICY_SIZE_MESSAGE)
    with ctx.write(account) as tx:
        rec = require_customer_policy(tx, account, ref)
        if len(rec["versions"]) >= quotas.VERSIONS_PER_POLICY:
            raise LimitExceededException(TOO_MANY_VERSIONS)
        version_id = f"v{rec['next_version']}"
        rec["next_version"] += 1
        rec["versions"][version_id] = {"document": text, "created": iso(ctx.now)}
        if params.get("SetAsDefault"):
            rec["default_version"] = version_id
            rec["updated"] = iso(ctx.now)
        _save(tx, account, rec)
    return {"PolicyVersion": version_shape(rec, version_id, rec["versions"][version_id]["created"], text)}


def _no_such_version(arn: str, version_id: str) -> NoSuchEntityException:
    return NoSuchEntityException(f"Policy {arn} version {version_id} does not exist or is not attachable.")


@operation("iam", "GetPolicyVersion", read_only=True)
def get_policy_version(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    version_id = params["VersionId"]
    ref = _authorize(ctx, "iam:GetPolicyVersion", params["PolicyArn"])
    rec = _require_view_policy(ref)
    created = versions_of(rec).get(version_id)
    document = version_document(ctx, rec, version_id) if created is not None else None
    if created is None or document is None:
        raise _no_such_version(ref.arn, version_id)
    return {"PolicyVersion": version_shape(rec, version_id, created, document)}


@operation("iam", "ListPolicyVersions", read_only=True)
def list_policy_versions(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """Newest first, as AWS lists them."""
    rec = _require_view_policy(_authorize(ctx, "iam:ListPolicyVersions", params["PolicyArn"]))
    created = versions_of(rec)
    page = paginate(list(created), lambda v: f"{10**9 - version_number(v):010d}", params.get("Marker"), params.get("MaxItems"))
    return page.output("Versions", lambda v: version_shape(rec, v, created[v]))


@operation("iam", "SetDefaultPolicyVersion")
def set_default_policy_version(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, version_id = account_of(ctx), params["VersionId"]
    ref = _authorize(ctx, "iam:SetDefaultPolicyVersion", params["PolicyArn"])
    refuse_aws_policy_change(ref.arn, "change the default version of")
    with ctx.write(account) as tx:
        rec = require_customer_policy(tx, account, ref)
        if version_id not in rec["versions"]:
            raise _no_such_version(ref.arn, version_id)
        rec["default_version"] = version_id
        rec["updated"] = iso(ctx.now)
        _save(tx, account, rec)
    return {}


@operation("iam", "DeletePolicyVersion")
def delete_policy_version(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, version_id = account_of(ctx), params["VersionId"]
    ref = _authorize(ctx, "iam:DeletePolicyVersion", params["PolicyArn"])
    refuse_aws_policy_change(ref.arn, "delete a version of")
    with ctx.write(account) as tx:
        rec = require_customer_policy(tx, account, ref)
        if version_id not in rec["versions"]:
            raise _no_such_version(ref.arn, version_id)
        if version_id == rec["default_version"]:
            raise DeleteConflictException("Cannot delete the default version of a policy.")
        del rec["versions"][version_id]
        _save(tx, account, rec)
    return {}


# -- tags ---------------------------------------------------------------------------
@operation("iam", "TagPolicy")
def tag_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    tags = validate_request_tags(params["Tags"])
    ref = _authorize(ctx, "iam:TagPolicy", params["PolicyArn"], request_tag_context(tags))
    refuse_aws_policy_change(ref.arn, "tag")
    with ctx.write(account) as tx:
        rec = require_customer_policy(tx, account, ref)
        rec["tags"] = merge_tags(rec.get("tags", ()), tags, f"policy {rec['name']}")
        _save(tx, account, rec)
    return {}


@operation("iam", "UntagPolicy")
def untag_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    keys = list(params["TagKeys"])
    ref = _authorize(ctx, "iam:UntagPolicy", params["PolicyArn"], tag_keys_context(keys))
    refuse_aws_policy_change(ref.arn, "untag")
    with ctx.write(account) as tx:
        rec = require_customer_policy(tx, account, ref)
        rec["tags"] = remove_tags(rec.get("tags", ()), keys)
        _save(tx, account, rec)
    return {}


@operation("iam", "ListPolicyTags", read_only=True)
def list_policy_tags(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = _authorize(ctx, "iam:ListPolicyTags", params["PolicyArn"])
    rec = _require_view_policy(ref)
    tags = [] if ref.aws_managed else list(rec.get("tags", ()))
    page = paginate(tags, lambda t: t["Key"].lower(), params.get("Marker"), params.get("MaxItems"))
    return page.output("Tags")
