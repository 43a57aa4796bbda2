"""Tags on roots, OUs, accounts and policies: TagResource, UntagResource,
ListTagsForResource, and the checks that Create* calls share.

Organizations tag keys are case-sensitive; re-tagging a key replaces its value; the
``aws:`` prefix is reserved; at most 50 tags per resource.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tessera.services import records as R
from tessera.services.organizations import access, quotas
from tessera.services.organizations import records as store
from tessera.services.organizations.errors import constraint, fault, invalid_input
from tessera.services.organizations.model import FULL_AWS_ACCESS_ID, Organization
from tessera.services.organizations.paging import page
from tessera.services.records import OrgAccountRecord, OrgOuRecord, OrgPolicyRecord, OrgRecord
from tessera.services.request import OperationContext, operation
from tessera.store.base import GLOBAL, Transaction

Tag = dict[str, str]


def checked_tags(tags: Iterable[Mapping[str, str]]) -> list[Tag]:
    """Tags passed to a Create*/TagResource call, validated as AWS does."""
    out = [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in tags]
    keys = [t["Key"] for t in out]
    if len(set(keys)) != len(keys):
        raise invalid_input("DUPLICATE_TAG_KEY", "You specified the same tag key more than once.")
    if any(key.lower().startswith("aws:") for key in keys):
        raise invalid_input("INVALID_SYSTEM_TAGS_PARAMETER", "You can't use the aws: prefix in tag keys; it is reserved for AWS use.")
    if len(out) > quotas.TAGS_PER_RESOURCE:
        raise constraint("MAX_TAG_LIMIT_EXCEEDED")
    return out


def merged(current: Iterable[Mapping[str, str]], new: Iterable[Tag]) -> list[Tag]:
    tags = {str(t["Key"]): str(t["Value"]) for t in current}
    for tag in new:
        tags[tag["Key"]] = tag["Value"]
    if len(tags) > quotas.TAGS_PER_RESOURCE:
        raise constraint("MAX_TAG_LIMIT_EXCEEDED")
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tags_of(org: Organization, resource_id: str) -> list[Tag]:
    """The resource's tags; TargetNotFoundException when the org has no such resource."""
    data = _located(org, resource_id)[2]
    return list(data["root_tags"] if "root_tags" in data else data["tags"])  # the root's tags are on the org


def _located(org: Organization, resource_id: str) -> tuple[str, str, OrgRecord | OrgOuRecord | OrgAccountRecord | OrgPolicyRecord]:
    """(record kind, record key, record data) of a taggable resource."""
    if resource_id == FULL_AWS_ACCESS_ID:
        raise invalid_input("IMMUTABLE_POLICY", "You can't tag an AWS managed policy.")
    if resource_id == org.root_id:
        return R.ORG, org.id, org.record
    if resource_id in org.ous:
        return R.ORG_OU, store.ou_key(org.id, resource_id), org.ous[resource_id]
    if resource_id in org.accounts:
        return R.ORG_ACCOUNT, resource_id, org.accounts[resource_id]
    if resource_id in org.policies:
        return R.ORG_POLICY, store.policy_key(org.id, resource_id), org.policies[resource_id]
    raise fault("TargetNotFoundException")


def _write_tags(tx: Transaction, org: Organization, resource_id: str, tags: list[Tag]) -> None:
    kind, key, _ = _located(org, resource_id)
    if resource_id == org.root_id:  # the root's tags are on the organization's record
        root: OrgRecord = {**org.record, "root_tags": tags}
        store.replace(tx, kind, key, root)
    elif resource_id in org.ous:
        ou: OrgOuRecord = {**org.ous[resource_id], "tags": tags}
        store.replace(tx, kind, key, ou)
    elif resource_id in org.accounts:
        account: OrgAccountRecord = {**org.accounts[resource_id], "tags": tags}
        store.replace(tx, kind, key, account)
    else:
        policy: OrgPolicyRecord = {**org.policies[resource_id], "tags": tags}
        store.replace(tx, kind, key, policy)


@operation("organizations", "TagResource")
def tag_resource(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    resource_id = params["ResourceId"]
    org = access.management_org(ctx, "organizations:TagResource", resource_id)
    new = checked_tags(params["Tags"])
    with ctx.write(GLOBAL) as tx:
        org = access.reload(tx, org.id)
        _write_tags(tx, org, resource_id, merged(tags_of(org, resource_id), new))
    return {}


@operation("organizations", "UntagResource")
def untag_resource(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    resource_id = params["ResourceId"]
    org = access.management_org(ctx, "organizations:UntagResource", resource_id)
    dropped = set(params["TagKeys"])
    with ctx.write(GLOBAL) as tx:
        org = access.reload(tx, org.id)
        kept = [t for t in tags_of(org, resource_id) if t["Key"] not in dropped]
        _write_tags(tx, org, resource_id, kept)
    return {}


@operation("organizations", "ListTagsForResource", read_only=True)
def list_tags_for_resource(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    resource_id = params["ResourceId"]
    org = access.management_org(ctx, "organizations:ListTagsForResource", resource_id)
    return page("ListTagsForResource", tags_of(org, resource_id), params, "Tags", size=quotas.TAGS_PER_RESOURCE)
