"""The organization itself: Create/Describe/DeleteOrganization, ListRoots and the
policy types enabled in the root (Enable/DisablePolicyType)."""

from __future__ import annotations

from typing import Any

from tessera.clock import iso_seconds
from tessera.services import records as R
from tessera.services.organizations import access, shapes
from tessera.services.organizations import records as store
from tessera.services.organizations.errors import fault
from tessera.services.organizations.model import (
    ALL_FEATURES,
    FULL_AWS_ACCESS_ID,
    SCP,
    Organization,
)
from tessera.services.organizations.paging import page
from tessera.services.organizations.provision import create_organization as write_organization
from tessera.services.records import OrgRecord
from tessera.services.request import OperationContext, operation
from tessera.store.base import GLOBAL, Conflict, Transaction


@operation("organizations", "CreateOrganization")
def create_organization(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("organizations:CreateOrganization", "*")
    if access.caller_org(ctx) is not None:
        raise fault("AlreadyInOrganizationException")
    account = ctx.runtime.view.account(ctx.caller.account)
    info = account.info if account is not None else None
    try:
        with ctx.write(GLOBAL) as tx:
            org_id = write_organization(
                tx,
                account_id=ctx.caller.account,
                email=info["email"] if info else "",
                name=(info["name"] if info else "") or ctx.caller.account,
                feature_set=params.get("FeatureSet") or ALL_FEATURES,
                now=ctx.now,
            )
            org = access.reload(tx, org_id)
    except Conflict as error:  # another request made this account a member meanwhile
        raise fault("AlreadyInOrganizationException") from error
    return {"Organization": shapes.organization(org)}


@operation("organizations", "DescribeOrganization", read_only=True)
def describe_organization(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    org = access.member_org(ctx, "organizations:DescribeOrganization")
    return {"Organization": shapes.organization(org)}


@operation("organizations", "DeleteOrganization")
def delete_organization(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    org = access.management_org(ctx, "organizations:DeleteOrganization")
    with ctx.write(GLOBAL) as tx:
        org = access.reload(tx, org.id)
        if set(org.accounts) != {org.management_account}:
            raise fault("OrganizationNotEmptyException")
        delete_everything(tx, org)
    return {}


def delete_everything(tx: Transaction, org: Organization) -> None:
    """Remove every record of ``org`` (it holds only its management account)."""
    for target, policy_ids in org.attachments.items():
        store.detach_all_from(tx, org.id, target, policy_ids)
    for ou_id in org.ous:
        tx.delete(GLOBAL, R.ORG_OU, store.ou_key(org.id, ou_id))
    for policy_id in org.policies:
        tx.delete(GLOBAL, R.ORG_POLICY, store.policy_key(org.id, policy_id))
    for rec in tx.list(GLOBAL, R.ORG_CREATE_ACCOUNT_STATUS):
        if R.load(R.ORG_CREATE_ACCOUNT_STATUS, rec.data)["org"] == org.id:
            tx.delete(GLOBAL, R.ORG_CREATE_ACCOUNT_STATUS, rec.key)
    tx.delete(GLOBAL, R.ORG_ACCOUNT, org.management_account)
    tx.delete(GLOBAL, R.ORG, org.id)


@operation("organizations", "ListRoots", read_only=True)
def list_roots(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    org = access.management_org(ctx, "organizations:ListRoots")
    return page("ListRoots", [shapes.root(org)], params, "Roots")


@operation("organizations", "EnablePolicyType")
def enable_policy_type(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """Enabling SCPs attaches FullAWSAccess to the root, every OU and every account."""
    root_id, policy_type = params["RootId"], params["PolicyType"]
    org = access.management_org(ctx, "organizations:EnablePolicyType", root_id)
    with ctx.write(GLOBAL) as tx:
        org = access.reload(tx, org.id)
        check_policy_type(org, root_id, policy_type)
        if policy_type in org.policy_types:
            raise fault("PolicyTypeAlreadyEnabledException")
        enabled: OrgRecord = {**org.record, "policy_types": [*org.policy_types, policy_type]}
        record = store.replace(tx, R.ORG, org.id, enabled)
        when = iso_seconds(ctx.now)
        for target in [org.root_id, *org.ous, *org.accounts]:
            if FULL_AWS_ACCESS_ID not in org.policies_on(target):
                store.attach(tx, org.id, target, FULL_AWS_ACCESS_ID, when)
    return {"Root": shapes.root(Organization(record=record))}


@operation("organizations", "DisablePolicyType")
def disable_policy_type(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """Disabling SCPs detaches every SCP from every root, OU and account."""
    root_id, policy_type = params["RootId"], params["PolicyType"]
    org = access.management_org(ctx, "organizations:DisablePolicyType", root_id)
    with ctx.write(GLOBAL) as tx:
        org = access.reload(tx, org.id)
        check_policy_type(org, root_id, policy_type)
        if policy_type not in org.policy_types:
            raise fault("PolicyTypeNotEnabledException")
        remaining = [t for t in org.policy_types if t != policy_type]
        disabled: OrgRecord = {**org.record, "policy_types": remaining}
        record = store.replace(tx, R.ORG, org.id, disabled)
        for target, policy_ids in org.attachments.items():
            store.detach_all_from(tx, org.id, target, policy_ids)
    return {"Root": shapes.root(Organization(record=record))}


def check_policy_type(org: Organization, root_id: str, policy_type: str) -> None:
    if root_id != org.root_id:
        raise fault("RootNotFoundException")
    if org.feature_set != ALL_FEATURES or policy_type != SCP:
        raise fault("PolicyTypeNotAvailableForOrganizationException")
