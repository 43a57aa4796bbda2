"""What the IAM handlers share about entities: kinds, ARNs, look-ups, times and shapes.

Users, groups and roles are stored as records keyed by ``state.name_key(name)`` (the
name lower-cased in ASCII only; ``services.records``); this module turns the three into
one ``EntityKind`` table so inline policies, attachments and boundaries are written
once, and keeps AWS's NoSuchEntity / EntityAlreadyExists wording in one place.

A handler never authorizes a name as the request spelled it: ``resolve`` turns the name
into a ``Target`` (the stored record and its stored ARN), ``authorize_target`` decides
on that ARN with the target's own condition keys, and ``require_target`` reads the
record inside the write transaction and refuses to go on if it is no longer the entity
that was authorized.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, overload

from tessera.arn import ARN_TYPE_PATTERN, ArnError, iam_arn, parse_iam_arn
from tessera.clock import iso_seconds
from tessera.errors import (
    ConcurrentModificationException,
    DeleteConflictException,
    EntityAlreadyExistsException,
    InvalidInputException,
    LimitExceededException,
    NoSuchEntityException,
    ValidationError,
)
from tessera.services import records as R
from tessera.services.iam import quotas
from tessera.services.iam.tags import resource_tag_context
from tessera.services.request import OperationContext
from tessera.services.view import AccountState, name_key
from tessera.store.base import Conflict, NotFound, Transaction

#: A user, group or role record: the three IAM entities that hold policies.
EntityRecord = R.UserRecord | R.GroupRecord | R.RoleRecord
#: One of them, the same throughout a generic function (checked for each by mypy).
P = TypeVar("P", R.UserRecord, R.GroupRecord, R.RoleRecord)
#: A user or a role: the entities with tags and a permissions boundary.
Tagged = TypeVar("Tagged", R.UserRecord, R.RoleRecord)

AWS_POLICY_PREFIX = "arn:aws:iam::aws:policy"


@dataclass(frozen=True, slots=True)
class EntityKind(Generic[P]):
    """One of the three IAM entities that hold policies."""

    kind: Literal["user", "group", "role"]  # record kind and ARN resource type
    title: str  # "User", as in botocore member names (UserName, UserPolicyList…)
    load: Callable[[Mapping[str, Any]], P]  # stored data as this kind's record (records.load)

    @property
    def name_param(self) -> str:
        return f"{self.title}Name"

    @property
    def inline_size(self) -> int:
        """The limit on the sum of the entity's inline policies (read at call time)."""
        return int(getattr(quotas, f"{self.kind.upper()}_INLINE_POLICY_SIZE"))

    @property
    def attached_quota(self) -> int:
        return int(getattr(quotas, f"ATTACHED_POLICIES_PER_{self.kind.upper()}"))

    @property
    def attached_quota_name(self) -> str:
        return f"PoliciesPer{self.title}"


def _load_user(data: Mapping[str, Any]) -> R.UserRecord:
    return R.load(R.USER, data)


def _load_group(data: Mapping[str, Any]) -> R.GroupRecord:
    return R.load(R.GROUP, data)


def _load_role(data: Mapping[str, Any]) -> R.RoleRecord:
    return R.load(R.ROLE, data)


USER = EntityKind(R.USER, "User", _load_user)
GROUP = EntityKind(R.GROUP, "Group", _load_group)
ROLE = EntityKind(R.ROLE, "Role", _load_role)


def principal_tags(rec: EntityRecord) -> list[R.Tag]:
    """The tags of a user or role; a group has none."""
    if "tags" in rec:  # narrows the union (``rec.get`` would type as object)
        return rec["tags"]
    return []


def principal_boundary(rec: EntityRecord) -> str | None:
    """The permissions boundary ARN of a user or role; a group has none."""
    if "boundary" in rec:
        return rec["boundary"]
    return None


# -- time ---------------------------------------------------------------------------
iso = iso_seconds  # the handlers' name for IAM's date format


def parse_time(text: str) -> dt.datetime:
    """A stored ISO-8601 UTC time as a timezone-aware datetime (what the protocol serialises)."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(dt.UTC)


# -- names and ARNs -----------------------------------------------------------------
def account_of(ctx: OperationContext) -> str:
    return ctx.caller.account


def entity_arn(account: str, kind: str, path: str, name: str) -> str:
    return iam_arn(account, kind, path, name)


@dataclass(frozen=True, slots=True)
class Target(Generic[P]):
    """A user, group or role a request names by ``name``, resolved once before
    authorization. ``arn`` is the only ARN the request may be authorized against: the
    entity's ARN as stored (its path and its name's stored case) when it exists, else the
    ARN it would have at path ``/``; ``record`` is the view's record (None when absent)."""

    kind: EntityKind[P]
    name: str  # the stored name, or the name as sent when there is no such entity
    arn: str
    record: P | None

    @property
    def exists(self) -> bool:
        return self.record is not None

    def context(self, *, boundary: bool = False) -> dict[str, object]:
        """The target's condition keys: its tags (users and roles) and, when asked, its
        current permissions boundary as ``iam:PermissionsBoundary``."""
        rec = self.record
        if rec is None:
            return {}
        context = resource_tag_context(principal_tags(rec)) if self.kind is not GROUP else {}
        arn = principal_boundary(rec)
        if boundary and arn:
            context["iam:PermissionsBoundary"] = arn
        return context


def resolve(ctx: OperationContext, kind: EntityKind[P], name: str) -> Target[P]:
    """The entity ``name`` refers to (looked up by ``name_key``), as a ``Target``."""
    rec = view_record(ctx, kind, name)
    if rec is not None:
        return Target(kind, rec["name"], rec["arn"], rec)
    return Target(kind, name, entity_arn(account_of(ctx), kind.kind, "/", name), None)


def authorize_target(
    ctx: OperationContext,
    action: str,
    target: Target[P],
    *,
    boundary: bool = False,
    extra: Mapping[str, object] | None = None,
) -> None:
    """Authorize ``action`` on the resolved entity with its own condition keys (+ ``extra``)."""
    ctx.authorize(action, target.arn, context={**target.context(boundary=boundary), **(extra or {})})


def require_target(tx: Transaction, account: str, target: Target[P]) -> P:
    """A mutable copy of the record ``target`` resolved to, read inside ``tx``.

    NoSuchEntity when absent; ConcurrentModification when the entity found now is not the
    one that was authorized: renamed, moved, deleted and recreated, created since (an
    absent target was authorized without any entity's condition keys), or with other
    tags or boundary than the ones its authorization saw."""
    rec = require(tx, account, target.kind, target.name)
    authorized = target.record
    if (
        authorized is None
        or rec["arn"] != target.arn
        or rec["id"] != authorized["id"]
        or principal_tags(rec) != principal_tags(authorized)
        or principal_boundary(rec) != principal_boundary(authorized)
    ):
        raise ConcurrentModificationException(
            f"The {target.kind.kind} {target.name} changed while the request was processed. Please retry."
        )
    return rec


def require_resolved(target: Target[P]) -> P:
    """The view's record of ``target`` (read-only operations); NoSuchEntity when absent."""
    if target.record is None:
        raise no_such_entity(target.kind, target.name)
    return target.record


def caller_user_name(ctx: OperationContext, params: Mapping[str, Any]) -> str:
    """``UserName`` or, when omitted, the calling IAM user's own name."""
    name = params.get("UserName")
    if name:
        return str(name)
    if ctx.caller.kind == "user":
        return ctx.caller.name
    raise ValidationError("Must specify userName when calling with non-User credentials")


# -- reading the in-memory view -----------------------------------------------------
def account_state(ctx: OperationContext) -> AccountState | None:
    return ctx.runtime.view.account(account_of(ctx))


def view_record(ctx: OperationContext, kind: EntityKind[P], name: str) -> P | None:
    state = account_state(ctx)
    if state is None:
        return None
    tables: dict[str, Mapping[str, EntityRecord]] = {R.USER: state.users, R.GROUP: state.groups, R.ROLE: state.roles}
    table = tables[kind.kind]
    rec = table.get(name_key(name))
    return kind.load(rec) if rec is not None else None


@overload
def view_records(ctx: OperationContext, kind: Literal["user"]) -> list[R.UserRecord]: ...
@overload
def view_records(ctx: OperationContext, kind: Literal["group"]) -> list[R.GroupRecord]: ...
@overload
def view_records(ctx: OperationContext, kind: Literal["role"]) -> list[R.RoleRecord]: ...
@overload
def view_records(ctx: OperationContext, kind: Literal["policy"]) -> list[R.PolicyRecord]: ...
@overload
def view_records(ctx: OperationContext, kind: Literal["access_key"]) -> list[R.AccessKeyRecord]: ...
@overload
def view_records(ctx: OperationContext, kind: Literal["mfa_device"]) -> list[R.MfaDeviceRecord]: ...
@overload
def view_records(ctx: OperationContext, kind: Literal["login_profile"]) -> list[R.LoginProfileRecord]: ...
@overload
def view_records(ctx: OperationContext, kind: Literal["signing_certificate"]) -> list[R.SigningCertificateRecord]: ...
@overload
def view_records(ctx: OperationContext, kind: Literal["ssh_public_key"]) -> list[R.SshPublicKeyRecord]: ...
@overload
def view_records(ctx: OperationContext, kind: Literal["service_credential"]) -> list[R.ServiceCredentialRecord]: ...
def view_records(ctx: OperationContext, kind: str) -> list[Any]:
    """Every record of ``kind`` in the caller's account, as the in-memory view holds it."""
    state = account_state(ctx)
    if state is None:
        return []
    tables: dict[str, Mapping[str, Mapping[str, Any]]] = {
        R.USER: state.users,
        R.GROUP: state.groups,
        R.ROLE: state.roles,
        R.POLICY: state.policies,
        R.ACCESS_KEY: state.access_keys,
        R.MFA_DEVICE: state.mfa_devices,
        R.LOGIN_PROFILE: state.login_profiles,
        R.SIGNING_CERTIFICATE: state.signing_certificates,
        R.SSH_PUBLIC_KEY: state.ssh_public_keys,
        R.SERVICE_CREDENTIAL: state.service_credentials,
    }
    return list(tables[kind].values())


def no_such_entity(kind: EntityKind[P], name: str) -> NoSuchEntityException:
    return NoSuchEntityException(f"The {kind.kind} with name {name} cannot be found.")


def require(tx: Transaction, account: str, kind: EntityKind[P], name: str) -> P:
    """A mutable copy of the entity's record; NoSuchEntity when absent."""
    rec = tx.get(account, kind.kind, name_key(name))
    if rec is None:
        raise no_such_entity(kind, name)
    return kind.load(copy.deepcopy(dict(rec.data)))


@contextmanager
def store_errors(kind: EntityKind[Any] | str, name: str) -> Iterator[None]:
    """Translate the store's Conflict/NotFound for one named entity."""
    title = kind.title if isinstance(kind, EntityKind) else kind
    try:
        yield
    except Conflict as e:
        raise EntityAlreadyExistsException(f"{title} with name {name} already exists.") from e
    except NotFound as e:
        raise NoSuchEntityException(f"The {title.lower()} with name {name} cannot be found.") from e


def move_entity(
    ctx: OperationContext, tx: Transaction, kind: EntityKind[P], action: str, rec: P, new_name: str | None, new_path: str | None
) -> str:
    """Rename and/or move the stored entity ``rec`` (Update{User,Group}): a new ARN is
    authorized too, a new name is a new key (EntityAlreadyExists when taken). Returns
    the old name, for the records that refer to it."""
    account = account_of(ctx)
    old_name = rec["name"]
    final_name = new_name or old_name
    rec["path"] = new_path or rec["path"]
    new_arn = entity_arn(account, kind.kind, rec["path"], final_name)
    if new_arn != rec["arn"]:
        ctx.authorize(action, new_arn)
    rec["name"], rec["arn"] = final_name, new_arn
    if name_key(final_name) != name_key(old_name):
        with store_errors(kind, final_name):
            tx.insert(account, kind.kind, name_key(final_name), rec)
        tx.delete(account, kind.kind, name_key(old_name))
    else:
        tx.update(account, kind.kind, name_key(old_name), rec)
    return old_name


def refuse_delete_with_policies(rec: R.UserRecord | R.GroupRecord | R.RoleRecord) -> None:
    """AWS refuses to delete a user, group or role that still has inline or attached policies."""
    if rec.get("inline_policies"):
        raise DeleteConflictException("Cannot delete entity, must delete policies first.")
    if rec.get("attached"):
        raise DeleteConflictException("Cannot delete entity, must detach all policies first.")


def ensure_quota(count: int, quota: int, name: str) -> None:
    """LimitExceeded in AWS's words when ``count`` entities already fill ``quota``."""
    if count >= quota:
        raise LimitExceededException(f"Cannot exceed quota for {name}: {quota}")


def path_matches(path: str, prefix: str | None) -> bool:
    return not prefix or path.startswith(prefix)


# -- output shapes ------------------------------------------------------------------
def boundary_shape(arn: str | None) -> dict[str, str] | None:
    if not arn:
        return None
    return {"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": arn}


def user_shape(rec: R.UserRecord, *, full: bool = True) -> dict[str, Any]:
    """``User``: ListUsers omits Tags and PermissionsBoundary."""
    out: dict[str, Any] = {
        "Path": rec["path"],
        "UserName": rec["name"],
        "UserId": rec["id"],
        "Arn": rec["arn"],
        "CreateDate": parse_time(rec["created"]),
    }
    if full:
        boundary = boundary_shape(rec.get("boundary"))
        if boundary:
            out["PermissionsBoundary"] = boundary
        if rec.get("tags"):
            out["Tags"] = list(rec["tags"])
    return out


def group_shape(rec: R.GroupRecord) -> dict[str, Any]:
    return {
        "Path": rec["path"],
        "GroupName": rec["name"],
        "GroupId": rec["id"],
        "Arn": rec["arn"],
        "CreateDate": parse_time(rec["created"]),
    }


def role_last_used(used: Mapping[str, Any] | None) -> dict[str, Any]:
    """``RoleLastUsed`` from a last-use note (services/usage.py); empty when never used."""
    used = used or {}
    out: dict[str, Any] = {}
    if used.get("date"):
        out["LastUsedDate"] = parse_time(used["date"])
    if used.get("region"):
        out["Region"] = used["region"]
    return out


def role_shape(rec: R.RoleRecord, *, full: bool = True, last_used: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``Role``: ListRoles omits Tags, PermissionsBoundary and RoleLastUsed."""
    out: dict[str, Any] = {
        "Path": rec["path"],
        "RoleName": rec["name"],
        "RoleId": rec["id"],
        "Arn": rec["arn"],
        "CreateDate": parse_time(rec["created"]),
        "AssumeRolePolicyDocument": rec["trust_policy"],
        "MaxSessionDuration": rec["max_session_duration"],
    }
    if rec.get("description"):
        out["Description"] = rec["description"]
    if full:
        boundary = boundary_shape(rec.get("boundary"))
        if boundary:
            out["PermissionsBoundary"] = boundary
        if rec.get("tags"):
            out["Tags"] = list(rec["tags"])
        out["RoleLastUsed"] = role_last_used(last_used)
    return out


def arn_refused(arn: str, member: str, error: ArnError) -> ValidationError | InvalidInputException:
    """How IAM refuses ``arn`` (request member ``member``) that ``parse_iam_arn`` did not
    accept: ValidationError for characters outside the model's ``arnType`` pattern,
    InvalidInput for anything else."""
    if error.pattern:
        return ValidationError(
            f"1 validation error detected: Value '{arn}' at '{member}' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {ARN_TYPE_PATTERN}"
        )
    return InvalidInputException(f"ARN {arn} is not valid.")


def parse_policy_arn(arn: str, member: str = "policyArn") -> tuple[str, str, str]:
    """(account or "aws", path, name) of a managed-policy ARN, read as strictly as IAM
    reads it (``tessera.arn.parse_iam_arn``): ValidationError for characters outside the
    model's ``arnType`` pattern, InvalidInput for anything else that is not a policy ARN."""
    try:
        parsed, _, path, name = parse_iam_arn(arn, ("policy",), aws_account=True)
    except ArnError as e:
        raise arn_refused(arn, member, e) from e
    if parsed.account == "aws" and not arn.startswith(AWS_POLICY_PREFIX + "/"):
        raise InvalidInputException(f"ARN {arn} is not valid.")
    return parsed.account, path, name


def last_use(ctx: OperationContext, kind: str, key: str) -> Mapping[str, Any] | None:
    """When the access key or role (by id) was last used, if this server noted it."""
    usage = ctx.runtime.usage
    return usage.last_use(account_of(ctx), kind, key) if usage is not None else None
