"""Account-wide IAM views: GetAccountSummary and GetAccountAuthorizationDetails."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from tessera.arn import is_aws_managed_policy
from tessera.services import records as R
from tessera.services.iam import quotas
from tessera.services.iam.entities import (
    EntityRecord,
    account_state,
    boundary_shape,
    group_shape,
    last_use,
    parse_time,
    role_last_used,
    view_records,
)
from tessera.services.iam.instance_profiles import member_ids, profile_shape, view_profiles
from tessera.services.iam.managed import view_policy
from tessera.services.iam.paging import paginate
from tessera.services.iam.policies import Usage, policy_shape, version_document, version_number, version_shape, versions_of
from tessera.services.request import OperationContext, operation
from tessera.services.trust import effective_trust_policy
from tessera.services.view import name_key

_FILTERS = ("User", "Group", "Role", "LocalManagedPolicy", "AWSManagedPolicy")


@operation("iam", "GetAccountSummary", read_only=True)
def get_account_summary(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:GetAccountSummary", "*")
    users, groups, roles = view_records(ctx, R.USER), view_records(ctx, R.GROUP), view_records(ctx, R.ROLE)
    policies, devices = view_records(ctx, R.POLICY), view_records(ctx, R.MFA_DEVICE)
    keys = view_records(ctx, R.ACCESS_KEY)
    state = account_state(ctx)
    summary = {
        "Users": len(users),
        "UsersQuota": quotas.USERS_PER_ACCOUNT,
        "Groups": len(groups),
        "GroupsQuota": quotas.GROUPS_PER_ACCOUNT,
        "Roles": len(roles),
        "RolesQuota": quotas.ROLES_PER_ACCOUNT,
        "Policies": len(policies),
        "PoliciesQuota": quotas.POLICIES_PER_ACCOUNT,
        "PolicyVersionsInUse": sum(len(h.get("attached", ())) for h in (*users, *groups, *roles)),
        "PolicyVersionsInUseQuota": quotas.POLICY_VERSIONS_IN_USE_PER_ACCOUNT,
        "VersionsPerPolicyQuota": quotas.VERSIONS_PER_POLICY,
        "AccessKeysPerUserQuota": quotas.ACCESS_KEYS_PER_USER,
        "AttachedPoliciesPerUserQuota": quotas.ATTACHED_POLICIES_PER_USER,
        "AttachedPoliciesPerGroupQuota": quotas.ATTACHED_POLICIES_PER_GROUP,
        "AttachedPoliciesPerRoleQuota": quotas.ATTACHED_POLICIES_PER_ROLE,
        "GroupsPerUserQuota": quotas.GROUPS_PER_USER,
        "PolicySizeQuota": quotas.MANAGED_POLICY_SIZE,
        "UserPolicySizeQuota": quotas.USER_INLINE_POLICY_SIZE,
        "GroupPolicySizeQuota": quotas.GROUP_INLINE_POLICY_SIZE,
        "RolePolicySizeQuota": quotas.ROLE_INLINE_POLICY_SIZE,
        "AssumeRolePolicySizeQuota": quotas.TRUST_POLICY_SIZE,
        "MFADevices": len(devices),
        "MFADevicesInUse": sum(1 for d in devices if d.get("user")),
        "AccountMFAEnabled": 0,
        "AccountAccessKeysPresent": int(any(k["user"] == "" for k in keys)),
        "AccountPasswordPresent": 0,
        "AccountSigningCertificatesPresent": int(any(c["user"] == "" for c in view_records(ctx, R.SIGNING_CERTIFICATE))),
        "SigningCertificatesPerUserQuota": quotas.SIGNING_CERTIFICATES_PER_USER,
        "InstanceProfiles": len(view_profiles(ctx)),
        "InstanceProfilesQuota": quotas.INSTANCE_PROFILES_PER_ACCOUNT,
        "Providers": len(state.saml_providers) if state is not None else 0,  # SAML providers
        "ServerCertificates": len(state.server_certificates) if state is not None else 0,
        "ServerCertificatesQuota": quotas.SERVER_CERTIFICATES_PER_ACCOUNT,
        "GlobalEndpointTokenVersion": 1,
    }
    return {"SummaryMap": summary}


# -- authorization details ------------------------------------------------------------
def _inline(rec: EntityRecord) -> list[dict[str, Any]]:
    return [{"PolicyName": n, "PolicyDocument": t} for n, t in sorted(rec["inline_policies"].items())]


def _attached(ctx: OperationContext, rec: EntityRecord) -> list[dict[str, str]]:
    out = []
    for arn in rec["attached"]:
        policy = view_policy(ctx, arn)
        if policy is not None:
            out.append({"PolicyName": policy["name"], "PolicyArn": policy["arn"]})
    return out


def _with_boundary_and_tags(out: dict[str, Any], rec: R.UserRecord | R.RoleRecord) -> dict[str, Any]:
    boundary = boundary_shape(rec["boundary"])
    if boundary:
        out["PermissionsBoundary"] = boundary
    out["Tags"] = list(rec["tags"])
    return out


def _user_detail(ctx: OperationContext, rec: R.UserRecord) -> dict[str, Any]:
    out = {
        "Path": rec["path"],
        "UserName": rec["name"],
        "UserId": rec["id"],
        "Arn": rec["arn"],
        "CreateDate": parse_time(rec["created"]),
        "UserPolicyList": _inline(rec),
        "GroupList": list(rec["groups"]),
        "AttachedManagedPolicies": _attached(ctx, rec),
    }
    return _with_boundary_and_tags(out, rec)


def _group_detail(ctx: OperationContext, rec: R.GroupRecord) -> dict[str, Any]:
    return {**group_shape(rec), "GroupPolicyList": _inline(rec), "AttachedManagedPolicies": _attached(ctx, rec)}


def _profiles_by_role(ctx: OperationContext) -> dict[str, list[R.InstanceProfileRecord]]:
    """Role id → the instance profiles holding it, by name."""
    out: dict[str, list[R.InstanceProfileRecord]] = {}
    for profile in sorted(view_profiles(ctx), key=lambda p: name_key(p["name"])):
        for role_id in member_ids(profile):
            out.setdefault(role_id, []).append(profile)
    return out


def _role_detail(ctx: OperationContext, rec: R.RoleRecord, profiles: Mapping[str, list[R.InstanceProfileRecord]]) -> dict[str, Any]:
    out = {
        "Path": rec["path"],
        "RoleName": rec["name"],
        "RoleId": rec["id"],
        "Arn": rec["arn"],
        "CreateDate": parse_time(rec["created"]),
        "AssumeRolePolicyDocument": effective_trust_policy(ctx.runtime.view, rec),
        "InstanceProfileList": [profile_shape(ctx, p, tags=False) for p in profiles.get(rec["id"], ())],
        "RolePolicyList": _inline(rec),
        "AttachedManagedPolicies": _attached(ctx, rec),
        "RoleLastUsed": role_last_used(last_use(ctx, "role", rec["id"])),
    }
    return _with_boundary_and_tags(out, rec)


def _policy_detail(ctx: OperationContext, rec: Mapping[str, Any], usage: Usage) -> dict[str, Any]:
    """A customer policy with every version; an AWS managed policy with its default
    version only (its history, up to ~190 versions of ~80 KB, is for GetPolicyVersion)."""
    out = policy_shape(rec, usage, tags=False)
    created = versions_of(rec)
    ids = [rec["default_version"]] if is_aws_managed_policy(str(rec["arn"])) else sorted(created, key=version_number, reverse=True)
    out["PolicyVersionList"] = [version_shape(rec, v, created[v], version_document(ctx, rec, v)) for v in ids]
    return out


#: (sort key, output list, the entry: computed for the page's items only)
_Item = tuple[str, str, Callable[[], dict[str, Any]]]


def _items(ctx: OperationContext, wanted: set[str], usage: Usage) -> list[_Item]:
    """Every entity the Filter selects, in the order pages list them."""
    items: list[_Item] = []
    if "User" in wanted:
        items += [(f"1|{r['name'].lower()}", "UserDetailList", partial(_user_detail, ctx, r)) for r in view_records(ctx, R.USER)]
    if "Group" in wanted:
        items += [(f"2|{r['name'].lower()}", "GroupDetailList", partial(_group_detail, ctx, r)) for r in view_records(ctx, R.GROUP)]
    if "Role" in wanted:
        profiles = _profiles_by_role(ctx)
        items += [(f"3|{r['name'].lower()}", "RoleDetailList", partial(_role_detail, ctx, r, profiles)) for r in view_records(ctx, R.ROLE)]
    if "LocalManagedPolicy" in wanted:
        items += [(f"4|{p['arn']}", "Policies", partial(_policy_detail, ctx, p, usage)) for p in view_records(ctx, R.POLICY)]
    if "AWSManagedPolicy" in wanted:
        managed = ctx.runtime.view.managed
        used = [managed.get(arn) for arn in usage.arns() if is_aws_managed_policy(arn)]
        items += [(f"5|{p['arn']}", "Policies", partial(_policy_detail, ctx, p, usage)) for p in used if p is not None]
    return items


@operation("iam", "GetAccountAuthorizationDetails", read_only=True)
def get_account_authorization_details(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """AWS managed policies are listed only when something in the account uses them."""
    ctx.authorize("iam:GetAccountAuthorizationDetails", "*")
    wanted = set(params.get("Filter") or _FILTERS)
    usage = Usage.of_view(ctx)
    page = paginate(_items(ctx, wanted, usage), lambda i: i[0], params.get("Marker"), params.get("MaxItems"))
    out: dict[str, Any] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
    for _, member, entry in page.items:
        out[member].append(entry())
    out["IsTruncated"] = page.is_truncated
    if page.next_marker:
        out["Marker"] = page.next_marker
    return out
