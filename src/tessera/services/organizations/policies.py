"""Service control policies: Create/Update/Delete/Describe/ListPolicies, Attach/Detach,
ListPoliciesForTarget and ListTargetsForPolicy.

Policy content is validated by the policy engine as ``PolicyType.SCP`` (the IAM
grammar without ``Principal``), after AWS's 5,120-character size check. Only
``SERVICE_CONTROL_POLICY`` is implemented; other types are refused as unavailable.
FullAWSAccess (``p-FullAWSAccess``) can be attached and detached but never changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tessera.clock import iso_seconds
from tessera.errors import OrganizationsError
from tessera.policy import PolicyError, PolicyType
from tessera.services import records as R
from tessera.services.organizations import access, ids, quotas, shapes
from tessera.services.organizations import records as store
from tessera.services.organizations.errors import constraint, fault, invalid_input, malformed_policy
from tessera.services.organizations.model import ALL_FEATURES, FULL_AWS_ACCESS_ID, SCP, AwsManagedScp, Organization
from tessera.services.organizations.paging import page
from tessera.services.organizations.tags import checked_tags
from tessera.services.records import OrgPolicyRecord
from tessera.services.request import OperationContext, operation
from tessera.services.runtime import Runtime
from tessera.store.base import GLOBAL

MALFORMED = "The provided policy document doesn't meet the requirements of the specified policy type."


@contextmanager
def policy_errors() -> Iterator[None]:
    """The engine's refusal of a document → MalformedPolicyDocumentException."""
    try:
        yield
    except PolicyError as error:
        raise malformed_policy(f"{MALFORMED} {error.message}") from error


def check_content(runtime: Runtime, content: str, policy_id: str) -> None:
    if len(content) > quotas.SCP_SIZE:
        raise constraint("POLICY_CONTENT_LIMIT_EXCEEDED")
    with policy_errors():
        runtime.view.policies.get(content, PolicyType.SCP, policy_id)


def check_type_available(org: Organization, policy_type: str) -> None:
    if org.feature_set != ALL_FEATURES:
        raise fault("PolicyTypeNotAvailableForOrganizationException")
    if policy_type != SCP:
        raise OrganizationsError(
            "PolicyTypeNotAvailableForOrganizationException",
            f"The policy type {policy_type} is not available in Tessera; only SERVICE_CONTROL_POLICY is supported.",
        )


def require_policy(org: Organization, policy_id: str) -> OrgPolicyRecord | AwsManagedScp:
    rec = org.policy(policy_id)
    if rec is None:
        raise fault("PolicyNotFoundException")
    return rec


def require_customer_policy(org: Organization, policy_id: str) -> OrgPolicyRecord:
    if policy_id == FULL_AWS_ACCESS_ID and org.policy(policy_id) is not None:
        raise invalid_input("IMMUTABLE_POLICY", "You can't modify or delete an AWS managed policy.")
    rec = require_policy(org, policy_id)
    assert "aws_managed" not in rec  # INVARIANT: FullAWSAccess is the only AWS managed policy, refused above
    return rec


def check_name_free(org: Organization, name: str, policy_id: str = "") -> None:
    twin = org.policy_named(name)
    if twin is not None and twin["id"] != policy_id:
        raise fault("DuplicatePolicyException")


@operation("organizations", "CreatePolicy")
def create_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    org = access.management_org(ctx, "organizations:CreatePolicy")
    check_type_available(org, params["Type"])
    tags = checked_tags(params.get("Tags") or ())
    policy_id = ids.new_policy_id()
    check_content(ctx.runtime, params["Content"], policy_id)
    with ctx.write(GLOBAL) as tx:
        org = access.reload(tx, org.id)
        check_name_free(org, params["Name"])
        if len(org.policies) >= quotas.POLICIES:
            raise constraint("POLICY_NUMBER_LIMIT_EXCEEDED")
        rec: OrgPolicyRecord = {
            "id": policy_id,
            "org": org.id,
            "type": params["Type"],
            "name": params["Name"],
            "description": params["Description"],
            "content": params["Content"],
            "created": iso_seconds(ctx.now),
            "tags": tags,
        }
        tx.insert(GLOBAL, R.ORG_POLICY, store.policy_key(org.id, policy_id), rec)
    return {"Policy": shapes.policy(org, rec)}


@operation("organizations", "UpdatePolicy")
def update_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    policy_id = params["PolicyId"]
    org = access.management_org(ctx, "organizations:UpdatePolicy", policy_id)
    if params.get("Content") is not None:
        check_content(ctx.runtime, params["Content"], policy_id)
    with ctx.write(GLOBAL) as tx:
        org = access.reload(tx, org.id)
        rec = require_customer_policy(org, policy_id)
        changed: OrgPolicyRecord = {
            **rec,
            "name": rec["name"] if params.get("Name") is None else params["Name"],
            "description": rec["description"] if params.get("Description") is None else params["Description"],
            "content": rec["content"] if params.get("Content") is None else params["Content"],
        }
        check_name_free(org, changed["name"], policy_id)
        rec = store.replace(tx, R.ORG_POLICY, store.policy_key(org.id, policy_id), changed)
    return {"Policy": shapes.policy(org, rec)}


@operation("organizations", "DeletePolicy")
def delete_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    policy_id = params["PolicyId"]
    org = access.management_org(ctx, "organizations:DeletePolicy", policy_id)
    with ctx.write(GLOBAL) as tx:
        org = access.reload(tx, org.id)
        require_customer_policy(org, policy_id)
        if org.targets_of(policy_id):
            raise fault("PolicyInUseException")
        tx.delete(GLOBAL, R.ORG_POLICY, store.policy_key(org.id, policy_id))
    return {}


@operation("organizations", "DescribePolicy", read_only=True)
def describe_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    policy_id = params["PolicyId"]
    org = access.management_org(ctx, "organizations:DescribePolicy", policy_id)
    return {"Policy": shapes.policy(org, require_policy(org, policy_id))}


@operation("organizations", "ListPolicies", read_only=True)
def list_policies(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    org = access.management_org(ctx, "organizations:ListPolicies")
    found = [shapes.policy_summary(org, rec) for rec in org.all_policies() if rec["type"] == params["Filter"]]
    return page("ListPolicies", found, params, "Policies")


@operation("organizations", "AttachPolicy")
def attach_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    policy_id, target_id = params["PolicyId"], params["TargetId"]
    org = access.management_org(ctx, "organizations:AttachPolicy", policy_id, target_id)
    with ctx.write(GLOBAL) as tx:
        org = access.reload(tx, org.id)
        require_policy(org, policy_id)
        if org.kind_of(target_id) is None:
            raise fault("TargetNotFoundException")
        if not org.scps_enabled:
            raise fault("PolicyTypeNotEnabledException")
        attached = org.policies_on(target_id)
        if policy_id in attached:
            raise fault("DuplicatePolicyAttachmentException")
        if len(attached) >= quotas.SCPS_PER_TARGET:
            raise constraint("MAX_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED")
        store.attach(tx, org.id, target_id, policy_id, iso_seconds(ctx.now))
    return {}


@operation("organizations", "DetachPolicy")
def detach_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """Every root, OU and account keeps at least one SCP (AWS's minimum)."""
    policy_id, target_id = params["PolicyId"], params["TargetId"]
    org = access.management_org(ctx, "organizations:DetachPolicy", policy_id, target_id)
    with ctx.write(GLOBAL) as tx:
        org = access.reload(tx, org.id)
        require_policy(org, policy_id)
        if org.kind_of(target_id) is None:
            raise fault("TargetNotFoundException")
        attached = org.policies_on(target_id)
        if policy_id not in attached:
            raise fault("PolicyNotAttachedException")
        if len(attached) <= 1:
            raise constraint("MIN_POLICY_TYPE_ATTACHMENT_LIMIT_EXCEEDED")
        store.detach(tx, org.id, target_id, policy_id)
    return {}


@operation("organizations", "ListPoliciesForTarget", read_only=True)
def list_policies_for_target(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    target_id = params["TargetId"]
    org = access.management_org(ctx, "organizations:ListPoliciesForTarget", target_id)
    if org.kind_of(target_id) is None:
        raise fault("TargetNotFoundException")
    recs = [org.policy(pid) for pid in org.policies_on(target_id)]
    found = [shapes.policy_summary(org, rec) for rec in recs if rec is not None and rec["type"] == params["Filter"]]
    return page("ListPoliciesForTarget", found, params, "Policies")


@operation("organizations", "ListTargetsForPolicy", read_only=True)
def list_targets_for_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    policy_id = params["PolicyId"]
    org = access.management_org(ctx, "organizations:ListTargetsForPolicy", policy_id)
    require_policy(org, policy_id)
    targets = [shapes.target_summary(org, target) for target in org.targets_of(policy_id)]
    return page("ListTargetsForPolicy", targets, params, "Targets")
