"""Organizational units and the tree: Create/Describe/Update/DeleteOrganizationalUnit,
ListOrganizationalUnitsForParent, ListChildren, ListParents."""

from __future__ import annotations

from typing import Any

from tessera.clock import iso_seconds
from tessera.services import records as R
from tessera.services.organizations import access, ids, quotas, shapes
from tessera.services.organizations import records as store
from tessera.services.organizations.errors import constraint, fault
from tessera.services.organizations.model import FULL_AWS_ACCESS_ID, Organization
from tessera.services.organizations.paging import page
from tessera.services.organizations.tags import checked_tags
from tessera.services.records import OrgOuRecord
from tessera.services.request import OperationContext, operation
from tessera.store.base import GLOBAL


def check_new_ou(org: Organization, parent_id: str, name: str) -> None:
    if not org.is_parent(parent_id):
        raise fault("ParentNotFoundException")
    if org.ou_named(parent_id, name) is not None:
        raise fault("DuplicateOrganizationalUnitException")
    if len(org.ous) >= quotas.OUS:
        raise constraint("OU_NUMBER_LIMIT_EXCEEDED")
    depth = 1 + (org.ou_depth(parent_id) if parent_id in org.ous else 0)
    if depth > quotas.OU_DEPTH:
        raise constraint("OU_DEPTH_LIMIT_EXCEEDED")


@operation("organizations", "CreateOrganizationalUnit")
def create_organizational_unit(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    parent_id, name = params["ParentId"], params["Name"]
    org = access.management_org(ctx, "organizations:CreateOrganizationalUnit", parent_id)
    tags = checked_tags(params.get("Tags") or ())
    with ctx.write(GLOBAL) as tx:
        org = access.reload(tx, org.id)
        check_new_ou(org, parent_id, name)
        ou_id, when = ids.new_ou_id(org.root_id), iso_seconds(ctx.now)
        rec: OrgOuRecord = {"id": ou_id, "org": org.id, "name": name, "parent": parent_id, "created": when, "tags": tags}
        tx.insert(GLOBAL, R.ORG_OU, store.ou_key(org.id, ou_id), rec)
        if org.scps_enabled:
            store.attach(tx, org.id, ou_id, FULL_AWS_ACCESS_ID, when)
        org = access.reload(tx, org.id)
    return {"OrganizationalUnit": shapes.organizational_unit(org, rec)}


@operation("organizations", "DescribeOrganizationalUnit", read_only=True)
def describe_organizational_unit(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    ou_id = params["OrganizationalUnitId"]
    org = access.management_org(ctx, "organizations:DescribeOrganizationalUnit", ou_id)
    rec = org.ous.get(ou_id)
    if rec is None:
        raise fault("OrganizationalUnitNotFoundException")
    return {"OrganizationalUnit": shapes.organizational_unit(org, rec)}


@operation("organizations", "UpdateOrganizationalUnit")
def update_organizational_unit(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    ou_id = params["OrganizationalUnitId"]
    org = access.management_org(ctx, "organizations:UpdateOrganizationalUnit", ou_id)
    with ctx.write(GLOBAL) as tx:
        org = access.reload(tx, org.id)
        rec = org.ous.get(ou_id)
        if rec is None:
            raise fault("OrganizationalUnitNotFoundException")
        name = params.get("Name") or rec["name"]
        twin = org.ou_named(rec["parent"], name)
        if twin is not None and twin["id"] != ou_id:
            raise fault("DuplicateOrganizationalUnitException")
        renamed: OrgOuRecord = {**rec, "name": name}
        rec = store.replace(tx, R.ORG_OU, store.ou_key(org.id, ou_id), renamed)
    return {"OrganizationalUnit": shapes.organizational_unit(org, rec)}


@operation("organizations", "DeleteOrganizationalUnit")
def delete_organizational_unit(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    ou_id = params["OrganizationalUnitId"]
    org = access.management_org(ctx, "organizations:DeleteOrganizationalUnit", ou_id)
    with ctx.write(GLOBAL) as tx:
        org = access.reload(tx, org.id)
        if ou_id not in org.ous:
            raise fault("OrganizationalUnitNotFoundException")
        if org.children(ou_id, ids.ACCOUNT) or org.children(ou_id, ids.ORGANIZATIONAL_UNIT):
            raise fault("OrganizationalUnitNotEmptyException")
        store.detach_all_from(tx, org.id, ou_id, org.policies_on(ou_id))
        tx.delete(GLOBAL, R.ORG_OU, store.ou_key(org.id, ou_id))
    return {}


@operation("organizations", "ListOrganizationalUnitsForParent", read_only=True)
def list_organizational_units_for_parent(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    parent_id = params["ParentId"]
    org = access.management_org(ctx, "organizations:ListOrganizationalUnitsForParent", parent_id)
    if not org.is_parent(parent_id):
        raise fault("ParentNotFoundException")
    units = [shapes.organizational_unit(org, rec) for rec in org.child_ous(parent_id)]
    return page("ListOrganizationalUnitsForParent", units, params, "OrganizationalUnits")


@operation("organizations", "ListChildren", read_only=True)
def list_children(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    parent_id, child_type = params["ParentId"], params["ChildType"]
    org = access.management_org(ctx, "organizations:ListChildren", parent_id)
    if not org.is_parent(parent_id):
        raise fault("ParentNotFoundException")
    children = [{"Id": rec["id"], "Type": child_type} for rec in org.children(parent_id, child_type)]
    return page("ListChildren", children, params, "Children")


@operation("organizations", "ListParents", read_only=True)
def list_parents(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    child_id = params["ChildId"]
    org = access.management_org(ctx, "organizations:ListParents", child_id)
    parent_id = org.parent_of(child_id)
    if parent_id is None:
        raise fault("ChildNotFoundException")
    parents = [{"Id": parent_id, "Type": org.kind_of(parent_id)}]
    return page("ListParents", parents, params, "Parents")
