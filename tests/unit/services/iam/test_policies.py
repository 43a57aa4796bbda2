"""Managed policies, versions, attachments, boundaries and inline policies."""

from __future__ import annotations

import json

import pytest
from iamhandlers import ACCOUNT, Call

from tessera.errors import (
    DeleteConflictException,
    EntityAlreadyExistsException,
    InvalidInputException,
    LimitExceededException,
    MalformedPolicyDocumentException,
    NoSuchEntityException,
)
from tessera.services.iam import quotas


def doc(action: str = "s3:GetObject", *, padding: int = 0) -> str:
    resource = "arn:aws:s3:::" + "x" * padding if padding else "*"
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]})


ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/team/p"


def test_create_and_get_policy(call: Call) -> None:
    policy = call("CreatePolicy", PolicyName="p", Path="/team/", PolicyDocument=doc(), Description="d")["Policy"]
    assert policy["Arn"] == POLICY_ARN and policy["PolicyId"].startswith("ANPA")
    assert policy["DefaultVersionId"] == "v1" and policy["AttachmentCount"] == 0 and policy["IsAttachable"]
    assert call("GetPolicy", PolicyArn=POLICY_ARN)["Policy"]["Description"] == "d"
    version = call("GetPolicyVersion", PolicyArn=POLICY_ARN, VersionId="v1")["PolicyVersion"]
    assert version["Document"] == doc() and version["IsDefaultVersion"]


def test_policy_names_are_unique_across_paths(call: Call) -> None:
    call("CreatePolicy", PolicyName="p", PolicyDocument=doc())
    with pytest.raises(EntityAlreadyExistsException, match="A policy called P already exists"):
        call("CreatePolicy", PolicyName="P", Path="/other/", PolicyDocument=doc())


def test_managed_policy_size_limit(call: Call) -> None:
    call("CreatePolicy", PolicyName="ok", PolicyDocument=doc(padding=6144 - len(doc(padding=1)) + 1))
    with pytest.raises(LimitExceededException, match="PolicySize: 6144"):
        call("CreatePolicy", PolicyName="big", PolicyDocument=doc(padding=6144))


def test_malformed_policy_is_refused(call: Call) -> None:
    with pytest.raises(MalformedPolicyDocumentException):
        call("CreatePolicy", PolicyName="p", PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}')


def test_versions_lifecycle(call: Call) -> None:
    call("CreatePolicy", PolicyName="p", Path="/team/", PolicyDocument=doc())
    for i in range(2, 6):
        version = call("CreatePolicyVersion", PolicyArn=POLICY_ARN, PolicyDocument=doc(f"s3:Op{i}"))["PolicyVersion"]
        assert version["VersionId"] == f"v{i}" and not version["IsDefaultVersion"]
    with pytest.raises(LimitExceededException, match="up to 5 versions"):
        call("CreatePolicyVersion", PolicyArn=POLICY_ARN, PolicyDocument=doc())
    with pytest.raises(DeleteConflictException, match="default version"):
        call("DeletePolicyVersion", PolicyArn=POLICY_ARN, VersionId="v1")
    call("SetDefaultPolicyVersion", PolicyArn=POLICY_ARN, VersionId="v3")
    call("DeletePolicyVersion", PolicyArn=POLICY_ARN, VersionId="v1")
    made = call("CreatePolicyVersion", PolicyArn=POLICY_ARN, PolicyDocument=doc(), SetAsDefault=True)["PolicyVersion"]
    assert made["VersionId"] == "v6" and made["IsDefaultVersion"]
    listed = call("ListPolicyVersions", PolicyArn=POLICY_ARN)["Versions"]
    assert [v["VersionId"] for v in listed] == ["v6", "v5", "v4", "v3", "v2"] and "Document" not in listed[0]
    with pytest.raises(NoSuchEntityException):
        call("GetPolicyVersion", PolicyArn=POLICY_ARN, VersionId="v1")


def test_delete_policy_refuses_extra_versions_and_attachments(call: Call) -> None:
    call("CreatePolicy", PolicyName="p", Path="/team/", PolicyDocument=doc())
    call("CreatePolicyVersion", PolicyArn=POLICY_ARN, PolicyDocument=doc())
    with pytest.raises(DeleteConflictException, match="more than one version"):
        call("DeletePolicy", PolicyArn=POLICY_ARN)
    call("DeletePolicyVersion", PolicyArn=POLICY_ARN, VersionId="v2")
    call("CreateUser", UserName="u")
    call("AttachUserPolicy", UserName="u", PolicyArn=POLICY_ARN)
    assert call("GetPolicy", PolicyArn=POLICY_ARN)["Policy"]["AttachmentCount"] == 1
    with pytest.raises(DeleteConflictException, match="attached"):
        call("DeletePolicy", PolicyArn=POLICY_ARN)
    call("DetachUserPolicy", UserName="u", PolicyArn=POLICY_ARN)
    call("DeletePolicy", PolicyArn=POLICY_ARN)
    with pytest.raises(NoSuchEntityException, match="was not found"):
        call("GetPolicy", PolicyArn=POLICY_ARN)


def test_aws_managed_policies_are_readable_attachable_and_immutable(call: Call) -> None:
    policy = call("GetPolicy", PolicyArn=ADMIN)["Policy"]
    assert policy["PolicyId"] == "ANPAIWMBCKSKIEE64ZLYK" and policy["Path"] == "/"
    version = call("GetPolicyVersion", PolicyArn=ADMIN, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    assert json.loads(version["Document"])["Statement"][0]["Action"] == "*"
    for name in ("AdministratorAccess", "IAMFullAccess", "IAMReadOnlyAccess"):
        assert call("GetPolicy", PolicyArn=f"arn:aws:iam::aws:policy/{name}")["Policy"]["PolicyName"] == name
    with pytest.raises(InvalidInputException):
        call("DeletePolicy", PolicyArn=ADMIN)
    with pytest.raises(InvalidInputException):
        call("CreatePolicyVersion", PolicyArn=ADMIN, PolicyDocument=doc())


def test_list_policies_scope_only_attached_and_path(call: Call) -> None:
    call("CreatePolicy", PolicyName="a", Path="/x/", PolicyDocument=doc())
    call("CreatePolicy", PolicyName="b", PolicyDocument=doc())
    call("CreateUser", UserName="u")
    call("AttachUserPolicy", UserName="u", PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/b")
    call("AttachUserPolicy", UserName="u", PolicyArn=ADMIN)

    def names(**params: object) -> list[str]:
        return [p["PolicyName"] for p in call("ListPolicies", **params)["Policies"]]

    assert names(Scope="Local") == ["a", "b"]
    assert names(Scope="Local", PathPrefix="/x/") == ["a"]
    assert names(OnlyAttached=True) == ["AdministratorAccess", "b"]
    assert names(Scope="AWS", OnlyAttached=True) == ["AdministratorAccess"]


def test_policy_tags(call: Call) -> None:
    call("CreatePolicy", PolicyName="p", Path="/team/", PolicyDocument=doc(), Tags=[{"Key": "a", "Value": "1"}])
    call("TagPolicy", PolicyArn=POLICY_ARN, Tags=[{"Key": "b", "Value": "2"}])
    call("UntagPolicy", PolicyArn=POLICY_ARN, TagKeys=["a"])
    assert call("ListPolicyTags", PolicyArn=POLICY_ARN)["Tags"] == [{"Key": "b", "Value": "2"}]
    assert call("GetPolicy", PolicyArn=POLICY_ARN)["Policy"]["Tags"] == [{"Key": "b", "Value": "2"}]


@pytest.mark.parametrize("arn", ["not-an-arn", "arn:aws:iam::111122223333:user/bob"], ids=["garbage", "user-arn"])
def test_malformed_policy_arn_is_invalid_input(call: Call, arn: str) -> None:
    with pytest.raises(InvalidInputException):
        call("GetPolicy", PolicyArn=arn)


# -- attachments ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["User", "Group", "Role"])
def test_attach_is_idempotent_listed_and_detachable(call: Call, kind: str) -> None:
    _make(call, kind, "e")
    name_param = {f"{kind}Name": "e"}
    call(f"Attach{kind}Policy", PolicyArn=ADMIN, **name_param)
    call(f"Attach{kind}Policy", PolicyArn=ADMIN, **name_param)
    attached = call(f"ListAttached{kind}Policies", **name_param)["AttachedPolicies"]
    assert attached == [{"PolicyName": "AdministratorAccess", "PolicyArn": ADMIN}]
    entities = call("ListEntitiesForPolicy", PolicyArn=ADMIN)
    assert [e[f"{kind}Name"] for e in entities[f"Policy{kind}s"]] == ["e"]
    call(f"Detach{kind}Policy", PolicyArn=ADMIN, **name_param)
    with pytest.raises(NoSuchEntityException):
        call(f"Detach{kind}Policy", PolicyArn=ADMIN, **name_param)


def test_attach_missing_policy_or_entity(call: Call) -> None:
    call("CreateUser", UserName="u")
    with pytest.raises(NoSuchEntityException, match="does not exist or is not attachable"):
        call("AttachUserPolicy", UserName="u", PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/none")
    with pytest.raises(NoSuchEntityException, match="user with name ghost"):
        call("AttachUserPolicy", UserName="ghost", PolicyArn=ADMIN)


def test_attached_policies_quota(call: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quotas, "ATTACHED_POLICIES_PER_USER", 1)
    call("CreateUser", UserName="u")
    call("AttachUserPolicy", UserName="u", PolicyArn=ADMIN)
    with pytest.raises(LimitExceededException, match="PoliciesPerUser: 1"):
        call("AttachUserPolicy", UserName="u", PolicyArn="arn:aws:iam::aws:policy/IAMFullAccess")


def test_permissions_boundary_put_count_and_delete(call: Call) -> None:
    call("CreatePolicy", PolicyName="p", Path="/team/", PolicyDocument=doc())
    call("CreateUser", UserName="u", PermissionsBoundary=POLICY_ARN)
    assert call("GetUser", UserName="u")["User"]["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
        "PermissionsBoundaryArn": POLICY_ARN,
    }
    policy = call("GetPolicy", PolicyArn=POLICY_ARN)["Policy"]
    assert policy["PermissionsBoundaryUsageCount"] == 1 and policy["AttachmentCount"] == 0
    with pytest.raises(DeleteConflictException):
        call("DeletePolicy", PolicyArn=POLICY_ARN)
    call("DeleteUserPermissionsBoundary", UserName="u")
    assert "PermissionsBoundary" not in call("GetUser", UserName="u")["User"]
    call("CreateRole", RoleName="r", AssumeRolePolicyDocument=_trust())
    call("PutRolePermissionsBoundary", RoleName="r", PermissionsBoundary=ADMIN)
    assert call("GetRole", RoleName="r")["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == ADMIN
    boundary_users = call("ListEntitiesForPolicy", PolicyArn=ADMIN, PolicyUsageFilter="PermissionsBoundary")
    assert [r["RoleName"] for r in boundary_users["PolicyRoles"]] == ["r"]


# -- inline policies ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["User", "Group", "Role"])
def test_inline_policy_round_trip(call: Call, kind: str) -> None:
    _make(call, kind, "e")
    text = '{ "Version": "2012-10-17",\n  "Statement": [{"Effect":"Allow","Action":"s3:*","Resource":"*"}] }'
    call(f"Put{kind}Policy", PolicyName="p", PolicyDocument=text, **{f"{kind}Name": "e"})
    got = call(f"Get{kind}Policy", PolicyName="p", **{f"{kind}Name": "E"})
    assert got == {f"{kind}Name": "e", "PolicyName": "p", "PolicyDocument": text}
    assert call(f"List{kind}Policies", **{f"{kind}Name": "e"})["PolicyNames"] == ["p"]
    call(f"Delete{kind}Policy", PolicyName="p", **{f"{kind}Name": "e"})
    with pytest.raises(NoSuchEntityException, match=f"The {kind.lower()} policy with name p cannot be found."):
        call(f"Get{kind}Policy", PolicyName="p", **{f"{kind}Name": "e"})


@pytest.mark.parametrize(("kind", "limit"), [("User", 2048), ("Group", 5120), ("Role", 10240)])
def test_inline_size_limit_counts_all_policies_of_the_entity(call: Call, kind: str, limit: int) -> None:
    _make(call, kind, "e")
    half = doc(padding=limit // 2 - len(doc(padding=1)) + 1)
    call(f"Put{kind}Policy", PolicyName="a", PolicyDocument=half, **{f"{kind}Name": "e"})
    call(f"Put{kind}Policy", PolicyName="a", PolicyDocument=half, **{f"{kind}Name": "e"})  # replacing: not counted twice
    call(f"Put{kind}Policy", PolicyName="b", PolicyDocument=half, **{f"{kind}Name": "e"})
    with pytest.raises(LimitExceededException, match=f"Maximum policy size of {limit} bytes exceeded for {kind.lower()} e"):
        call(f"Put{kind}Policy", PolicyName="c", PolicyDocument=doc(), **{f"{kind}Name": "e"})


def test_inline_policy_with_principal_is_malformed(call: Call) -> None:
    call("CreateUser", UserName="u")
    bad = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}'
    with pytest.raises(MalformedPolicyDocumentException):
        call("PutUserPolicy", UserName="u", PolicyName="p", PolicyDocument=bad)


def _trust() -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}
    )


def _make(call: Call, kind: str, name: str) -> None:
    if kind == "Role":
        call("CreateRole", RoleName=name, AssumeRolePolicyDocument=_trust())
    else:
        call(f"Create{kind}", **{f"{kind}Name": name})


def test_quota_constants_match_aws_defaults() -> None:
    assert (quotas.USER_INLINE_POLICY_SIZE, quotas.GROUP_INLINE_POLICY_SIZE, quotas.ROLE_INLINE_POLICY_SIZE) == (
        2048,
        5120,
        10240,
    )
    assert (quotas.MANAGED_POLICY_SIZE, quotas.TRUST_POLICY_SIZE, quotas.VERSIONS_PER_POLICY) == (6144, 2048, 5)
