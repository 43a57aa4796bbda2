"""IAM instance profiles: the container an EC2 instance receives, holding at most one role
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-ec2_instance-profiles.html).

A profile is stored under ``name_key(name)`` (``services.records``); it names its role and
keeps the role's unique id beside the name. The id is what counts: a role deleted and
created again under the same name is another role (AWS identifies roles by id), so a
profile never shows, counts or lists it as its own. DeleteRole refuses while the role is
in a profile (``roles.delete_role``), as AWS does, so this only matters for state written
otherwise.

AddRoleToInstanceProfile is authorized twice, as AWS documents: the action on the
profile's ARN, and ``iam:PassRole`` on the role's ARN
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_AddRoleToInstanceProfile.html:
"The caller of this operation must be granted the PassRole permission on the IAM role").
The role is passed to EC2, so the PassRole request carries ``iam:PassedToService``
``ec2.amazonaws.com`` (the value the Service Authorization Reference lists for this
operation:
https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html)
and ``iam:AssociatedResourceArn`` ``arn:aws:ec2:*:<account>:instance/*`` (the one value
AWS says a policy may use for this action).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tessera.errors import (
    ConcurrentModificationException,
    DeleteConflictException,
    EntityAlreadyExistsException,
    LimitExceededException,
    NoSuchEntityException,
)
from tessera.services import records as R
from tessera.services.iam import quotas
from tessera.services.iam.entities import (
    ROLE,
    account_of,
    account_state,
    authorize_target,
    ensure_quota,
    entity_arn,
    iso,
    parse_time,
    path_matches,
    require_resolved,
    require_target,
    resolve,
    role_shape,
)
from tessera.services.iam.entity_tags import TaggedResource, list_resource_tags, tag_resource, untag_resource
from tessera.services.iam.paging import paginate
from tessera.services.iam.tags import (
    authorize_creation,
    resource_tag_context,
    validate_request_tags,
)
from tessera.services.ids import INSTANCE_PROFILE_PREFIX, new_unique_id
from tessera.services.request import OperationContext, operation
from tessera.services.trust import effective_trust_policy
from tessera.services.view import name_key
from tessera.store.base import Conflict, Transaction

ARN_TYPE = "instance-profile"
#: An instance profile holds one role; AWS does not raise this quota.
ROLES_PER_INSTANCE_PROFILE = 1
DELETE_CONFLICT = "Cannot delete entity, must remove roles from instance profile first."
PASSED_TO_SERVICE = "ec2.amazonaws.com"


@dataclass(frozen=True, slots=True)
class Profile:
    """An instance profile a request names, resolved before authorization (as
    ``entities.Target`` for users and roles): ``arn`` is the stored ARN when the profile
    exists, else the ARN it would have at path ``/``."""

    name: str
    arn: str
    record: R.InstanceProfileRecord | None

    def context(self) -> dict[str, object]:
        return resource_tag_context(self.record["tags"] if self.record is not None else ())


def no_such_profile(name: str) -> NoSuchEntityException:
    return NoSuchEntityException(f"Instance Profile {name} cannot be found.")


def view_profiles(ctx: OperationContext) -> list[R.InstanceProfileRecord]:
    state = account_state(ctx)
    return list(state.instance_profiles.values()) if state is not None else []


def resolve_profile(ctx: OperationContext, name: str) -> Profile:
    state = account_state(ctx)
    rec = state.instance_profiles.get(name_key(name)) if state is not None else None
    if rec is not None:
        return Profile(str(rec["name"]), str(rec["arn"]), rec)
    return Profile(name, entity_arn(account_of(ctx), ARN_TYPE, "/", name), None)


def authorize_profile(ctx: OperationContext, action: str, profile: Profile, extra: Mapping[str, object] | None = None) -> None:
    ctx.authorize(action, profile.arn, context={**profile.context(), **(extra or {})})


def require_profile(tx: Transaction, account: str, profile: Profile) -> R.InstanceProfileRecord:
    """A mutable copy of the profile read inside ``tx``: NoSuchEntity when absent,
    ConcurrentModification when it is no longer the profile that was authorized."""
    rec = tx.get(account, R.INSTANCE_PROFILE, name_key(profile.name))
    if rec is None:
        raise no_such_profile(profile.name)
    data = R.load(R.INSTANCE_PROFILE, copy.deepcopy(dict(rec.data)))
    authorized = profile.record
    if authorized is None or data["id"] != authorized["id"] or data["tags"] != authorized["tags"]:
        raise ConcurrentModificationException(f"The instance profile {profile.name} changed while the request was processed. Please retry.")
    return data


def _live_role_ids(tx: Transaction, account: str, rec: R.InstanceProfileRecord) -> set[str]:
    """The ids of the profile's roles that still exist as ``tx`` reads them (a profile may
    still name a deleted role, or one deleted and created again under its name): each is
    read by its name, so the cost is the profile's, not the account's."""
    live: set[str] = set()
    for name, role_id in zip(rec["roles"], member_ids(rec), strict=False):
        role = tx.get(account, R.ROLE, name_key(name))
        if role is not None and R.load(R.ROLE, role.data)["id"] == role_id:
            live.add(role_id)
    return live


def require_resolved_profile(profile: Profile) -> R.InstanceProfileRecord:
    if profile.record is None:
        raise no_such_profile(profile.name)
    return profile.record


def member_ids(rec: R.InstanceProfileRecord) -> list[str]:
    """The ids of the roles the profile holds (the names are kept beside them)."""
    return list(rec["role_ids"])


def holds_role(rec: R.InstanceProfileRecord, role: R.RoleRecord) -> bool:
    return role["id"] in member_ids(rec)


def profiles_of_role(profiles: list[R.InstanceProfileRecord], role: R.RoleRecord) -> list[R.InstanceProfileRecord]:
    return [p for p in profiles if holds_role(p, role)]


def profile_shape(ctx: OperationContext, rec: R.InstanceProfileRecord, *, tags: bool = True) -> dict[str, Any]:
    """``InstanceProfile`` with its role as ``Role`` (as ListRoles shows roles). A role
    whose id is not the stored one (deleted, or deleted and recreated) is not shown.
    Listings leave out the tags, as AWS's resource-listing operations do
    (https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListInstanceProfiles.html)."""
    state = account_state(ctx)
    roles = []
    for role_id in member_ids(rec):
        role = state.roles_by_id.get(role_id) if state is not None else None
        if role is not None:
            roles.append(role_shape({**role, "trust_policy": effective_trust_policy(ctx.runtime.view, role)}, full=False))
    out: dict[str, Any] = {
        "Path": rec["path"],
        "InstanceProfileName": rec["name"],
        "InstanceProfileId": rec["id"],
        "Arn": rec["arn"],
        "CreateDate": parse_time(rec["created"]),
        "Roles": roles,
    }
    if tags and rec["tags"]:
        out["Tags"] = list(rec["tags"])
    return out


@operation("iam", "CreateInstanceProfile")
def create_instance_profile(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, name = account_of(ctx), params["InstanceProfileName"]
    path = params.get("Path") or "/"
    arn = entity_arn(account, ARN_TYPE, path, name)
    tags = validate_request_tags(params.get("Tags") or [])
    authorize_creation(ctx, "iam:CreateInstanceProfile", "iam:TagInstanceProfile", arn, tags)
    rec: R.InstanceProfileRecord = {
        "name": name,
        "id": new_unique_id(INSTANCE_PROFILE_PREFIX),
        "path": path,
        "arn": arn,
        "created": iso(ctx.now),
        "roles": [],
        "role_ids": [],
        "tags": tags,
    }
    with ctx.write(account) as tx:
        ensure_quota(tx.count(account, R.INSTANCE_PROFILE), quotas.INSTANCE_PROFILES_PER_ACCOUNT, "InstanceProfilesPerAccount")
        try:
            tx.insert(account, R.INSTANCE_PROFILE, name_key(name), rec)
        except Conflict as e:
            raise EntityAlreadyExistsException(f"Instance Profile {name} already exists.") from e
    return {"InstanceProfile": profile_shape(ctx, rec)}


@operation("iam", "GetInstanceProfile", read_only=True)
def get_instance_profile(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    profile = resolve_profile(ctx, params["InstanceProfileName"])
    authorize_profile(ctx, "iam:GetInstanceProfile", profile)
    return {"InstanceProfile": profile_shape(ctx, require_resolved_profile(profile))}


@operation("iam", "ListInstanceProfiles", read_only=True)
def list_instance_profiles(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    prefix = params.get("PathPrefix")
    ctx.authorize("iam:ListInstanceProfiles", entity_arn(account_of(ctx), ARN_TYPE, prefix or "/", ""))
    profiles = [p for p in view_profiles(ctx) if path_matches(p["path"], prefix)]
    page = paginate(profiles, lambda p: name_key(p["name"]), params.get("Marker"), params.get("MaxItems"))
    return page.output("InstanceProfiles", lambda p: profile_shape(ctx, p, tags=False))


@operation("iam", "ListInstanceProfilesForRole", read_only=True)
def list_instance_profiles_for_role(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    target = resolve(ctx, ROLE, params["RoleName"])
    authorize_target(ctx, "iam:ListInstanceProfilesForRole", target)
    role = require_resolved(target)
    profiles = profiles_of_role(view_profiles(ctx), role)
    page = paginate(profiles, lambda p: name_key(p["name"]), params.get("Marker"), params.get("MaxItems"))
    return page.output("InstanceProfiles", lambda p: profile_shape(ctx, p, tags=False))


@operation("iam", "DeleteInstanceProfile")
def delete_instance_profile(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    profile = resolve_profile(ctx, params["InstanceProfileName"])
    authorize_profile(ctx, "iam:DeleteInstanceProfile", profile)
    with ctx.write(account) as tx:
        rec = require_profile(tx, account, profile)
        live = _live_role_ids(tx, account, rec)
        if any(i in live for i in member_ids(rec)):
            raise DeleteConflictException(DELETE_CONFLICT)
        tx.delete(account, R.INSTANCE_PROFILE, name_key(rec["name"]))
    return {}


@operation("iam", "AddRoleToInstanceProfile")
def add_role_to_instance_profile(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    profile = resolve_profile(ctx, params["InstanceProfileName"])
    role = resolve(ctx, ROLE, params["RoleName"])
    authorize_profile(ctx, "iam:AddRoleToInstanceProfile", profile)
    pass_context = {"iam:PassedToService": PASSED_TO_SERVICE, "iam:AssociatedResourceArn": f"arn:aws:ec2:*:{account}:instance/*"}
    authorize_target(ctx, "iam:PassRole", role, extra=pass_context)
    with ctx.write(account) as tx:
        rec = require_profile(tx, account, profile)
        role_rec = require_target(tx, account, role)
        live = _live_role_ids(tx, account, rec)
        held = [i for i in member_ids(rec) if i in live]
        if len(held) >= ROLES_PER_INSTANCE_PROFILE:
            raise LimitExceededException(f"Cannot exceed quota for InstanceSessionsPerInstanceProfile: {ROLES_PER_INSTANCE_PROFILE}")
        # ids of roles that no longer exist are dropped with their names
        names = [n for n, i in zip(rec["roles"], member_ids(rec), strict=False) if i in live]
        rec["roles"] = [*names, role_rec["name"]]
        rec["role_ids"] = [*held, role_rec["id"]]
        tx.update(account, R.INSTANCE_PROFILE, name_key(rec["name"]), rec)
    return {}


@operation("iam", "RemoveRoleFromInstanceProfile")
def remove_role_from_instance_profile(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    profile = resolve_profile(ctx, params["InstanceProfileName"])
    role = resolve(ctx, ROLE, params["RoleName"])
    authorize_profile(ctx, "iam:RemoveRoleFromInstanceProfile", profile)
    with ctx.write(account) as tx:
        rec = require_profile(tx, account, profile)
        role_rec = require_target(tx, account, role)
        if not holds_role(rec, role_rec):
            raise NoSuchEntityException(f"The role with name {role_rec['name']} cannot be found.")
        keep = [(n, i) for n, i in zip(rec["roles"], member_ids(rec), strict=False) if i != role_rec["id"]]
        rec["roles"] = [n for n, _ in keep]
        rec["role_ids"] = [i for _, i in keep]
        tx.update(account, R.INSTANCE_PROFILE, name_key(rec["name"]), rec)
    return {}


TAGGED = TaggedResource(
    R.INSTANCE_PROFILE,
    "instance profile",
    "InstanceProfile",
    "InstanceProfileName",
    resolve_profile,
    authorize_profile,
    require_profile,
    require_resolved_profile,
)


@operation("iam", "TagInstanceProfile")
def tag_instance_profile(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return tag_resource(ctx, params, TAGGED)


@operation("iam", "UntagInstanceProfile")
def untag_instance_profile(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return untag_resource(ctx, params, TAGGED)


@operation("iam", "ListInstanceProfileTags", read_only=True)
def list_instance_profile_tags(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return list_resource_tags(ctx, params, TAGGED)
