"""IAM decides on the entity a request names, never on how the request spelled it.

IAM finds users, groups, roles and customer managed policies whatever the ASCII case of
their name, so the decision must be made on the ARN as stored: a Deny written against
``policy/PermissionsBoundary`` also stops a request for ``policy/permissionsboundary``,
and ``iam:PolicyARN`` carries the stored ARN. Spellings IAM refuses (``arn:AWS:``,
``Policy/``, a region, Unicode look-alikes such as KELVIN SIGN or LONG S) are refused
with the 4xx AWS gives, and nothing is changed.
"""

from __future__ import annotations

import json

import pytest
from attackkit import RawClient, Response
from policies import policy as doc
from policies import unique
from serverproc import ACCOUNT_ID, Credentials, TesseraServer
from spellings import case_variants, refused_spellings

KELVIN = "\u212a"  # str.lower() folds it to "k"
LONG_S = "\u017f"  # str.casefold() folds it to "s"
ALLOW_IAM = {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}
ANYTHING = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
ESCAPE = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def policy_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:policy/{name}"


def unicode_spellings(arn: str) -> list[str]:
    return [arn.replace("k", KELVIN).replace("K", KELVIN), arn.replace("s", LONG_S)]


def iam(raw: RawClient, creds: Credentials, action: str, **params: str) -> Response:
    return raw.send(raw.signed("iam", {"Action": action, **params}, creds=creds))


def assert_refused(reply: Response, *codes: str) -> None:
    assert reply.status in (400, 403, 404), (reply.status, reply.text)
    assert reply.error_code() in codes, reply.text


def boundary_world(target: TesseraServer) -> tuple[str, str, Credentials]:
    """A boundary policy (whose name has a ``k`` and an ``s``), and a user bound by it
    who may do anything in IAM except touch that policy."""
    client = target.client("iam")
    name = unique("PermissionsBoundaryKit")
    arn = client.create_policy(PolicyName=name, PolicyDocument=doc(ALLOW_IAM))["Policy"]["Arn"]
    deny = {"Effect": "Deny", "Action": "iam:*", "Resource": arn}
    user = unique("dev")
    client.create_user(UserName=user, PermissionsBoundary=arn)
    client.put_user_policy(UserName=user, PolicyName="inline", PolicyDocument=doc(ALLOW_IAM, deny))
    key = client.create_access_key(UserName=user)["AccessKey"]
    return arn, user, Credentials(key["AccessKeyId"], key["SecretAccessKey"])


def versions(target: TesseraServer, arn: str) -> list[str]:
    return [v["VersionId"] for v in target.client("iam").list_policy_versions(PolicyArn=arn)["Versions"]]


# -- the published attack: rewrite one's own permissions boundary, then escape it ----------
def test_boundary_cannot_be_rewritten_through_another_spelling(target: TesseraServer, raw: RawClient) -> None:
    arn, _, creds = boundary_world(target)
    for variant in case_variants(arn):
        reply = iam(raw, creds, "CreatePolicyVersion", PolicyArn=variant, PolicyDocument=ESCAPE, SetAsDefault="true")
        assert_refused(reply, "AccessDenied")
        assert reply.status == 403 and f"on resource: {arn}" in reply.text, reply.text
    for variant in refused_spellings_of(arn):
        assert_refused(
            iam(raw, creds, "CreatePolicyVersion", PolicyArn=variant, PolicyDocument=ESCAPE, SetAsDefault="true"), "InvalidInput"
        )
    for variant in unicode_spellings(arn):
        assert_refused(
            iam(raw, creds, "CreatePolicyVersion", PolicyArn=variant, PolicyDocument=ESCAPE, SetAsDefault="true"), "ValidationError"
        )
    assert versions(target, arn) == ["v1"]
    # and the boundary still holds: nothing outside IAM is allowed
    reply = raw.send(raw.signed("sts", {"Action": "GetFederationToken", "Name": "escape"}, creds=creds))
    assert reply.status == 403, reply.text


def test_boundary_cannot_be_swapped_through_another_spelling(target: TesseraServer, raw: RawClient) -> None:
    """Replacing the user's own boundary (or removing it) is denied on the user's ARN
    whatever the spelling of the user name."""
    arn, user, creds = boundary_world(target)
    client = target.client("iam")
    deny_self = {
        "Effect": "Deny",
        "Action": ["iam:PutUserPermissionsBoundary", "iam:DeleteUserPermissionsBoundary"],
        "Resource": f"arn:aws:iam::{ACCOUNT_ID}:user/{user}",
    }
    client.put_user_policy(UserName=user, PolicyName="self", PolicyDocument=doc(deny_self))
    for spelling in (user.upper(), user.swapcase()):
        assert_refused(iam(raw, creds, "DeleteUserPermissionsBoundary", UserName=spelling), "AccessDenied")
        assert_refused(
            iam(
                raw,
                creds,
                "PutUserPermissionsBoundary",
                UserName=spelling,
                PermissionsBoundary="arn:aws:iam::aws:policy/AdministratorAccess",
            ),
            "AccessDenied",
        )
    assert_refused(iam(raw, creds, "DeleteUserPermissionsBoundary", UserName=user.replace("d", "\u0256")), "ValidationError")
    assert client.get_user(UserName=user)["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == arn


# -- the published attack: a Deny on DetachUserPolicy conditioned on iam:PolicyARN ---------
def test_detach_deny_on_policy_arn_holds_for_every_spelling(target: TesseraServer, raw: RawClient) -> None:
    client = target.client("iam")
    name = unique("AuditKeep")
    arn = client.create_policy(PolicyName=name, PolicyDocument=ANYTHING)["Policy"]["Arn"]
    victim = unique("victim")
    client.create_user(UserName=victim)
    client.attach_user_policy(UserName=victim, PolicyArn=arn)
    deny = {"Effect": "Deny", "Action": "iam:DetachUserPolicy", "Resource": "*", "Condition": {"ArnEquals": {"iam:PolicyARN": arn}}}
    creds = target.make_user(unique("mallory"), doc(ALLOW_IAM, deny))
    for variant in case_variants(arn):
        reply = iam(raw, creds, "DetachUserPolicy", UserName=victim, PolicyArn=variant)
        assert reply.status == 403 and reply.error_code() == "AccessDenied", reply.text
    for variant in refused_spellings_of(arn):
        assert_refused(iam(raw, creds, "DetachUserPolicy", UserName=victim, PolicyArn=variant), "InvalidInput")
    for variant in unicode_spellings(arn):
        assert_refused(iam(raw, creds, "DetachUserPolicy", UserName=victim, PolicyArn=variant), "ValidationError")
    attached = client.list_attached_user_policies(UserName=victim)["AttachedPolicies"]
    assert [a["PolicyArn"] for a in attached] == [arn]


def test_attach_and_boundary_conditions_see_the_stored_arn(target: TesseraServer, raw: RawClient) -> None:
    """A Deny on attaching (or bounding with) a policy holds for every spelling of it."""
    client = target.client("iam")
    arn = client.create_policy(PolicyName=unique("WeakBoundary"), PolicyDocument=ESCAPE)["Policy"]["Arn"]
    victim = unique("victim")
    client.create_user(UserName=victim)
    deny = [
        {"Effect": "Deny", "Action": "iam:Attach*", "Resource": "*", "Condition": {"ArnEquals": {"iam:PolicyARN": arn}}},
        {
            "Effect": "Deny",
            "Action": ["iam:CreateUser", "iam:CreateRole", "iam:Put*PermissionsBoundary"],
            "Resource": "*",
            "Condition": {"ArnEquals": {"iam:PermissionsBoundary": arn}},
        },
    ]
    creds = target.make_user(unique("mallory"), doc(ALLOW_IAM, *deny))
    newcomer = unique("newcomer")
    for variant in case_variants(arn):
        assert_refused(iam(raw, creds, "AttachUserPolicy", UserName=victim, PolicyArn=variant), "AccessDenied")
        assert_refused(iam(raw, creds, "PutUserPermissionsBoundary", UserName=victim, PermissionsBoundary=variant), "AccessDenied")
        assert_refused(iam(raw, creds, "CreateUser", UserName=newcomer, PermissionsBoundary=variant), "AccessDenied")
    assert client.list_attached_user_policies(UserName=victim)["AttachedPolicies"] == []
    assert "PermissionsBoundary" not in client.get_user(UserName=victim)["User"]
    assert not any(u["UserName"] == newcomer for u in client.list_users()["Users"])


# -- every policy operation × every spelling ----------------------------------------------
POLICY_OPERATIONS: list[tuple[str, dict[str, str]]] = [
    ("GetPolicy", {}),
    ("DeletePolicy", {}),
    ("CreatePolicyVersion", {"PolicyDocument": ESCAPE, "SetAsDefault": "true"}),
    ("GetPolicyVersion", {"VersionId": "v1"}),
    ("ListPolicyVersions", {}),
    ("SetDefaultPolicyVersion", {"VersionId": "v1"}),
    ("DeletePolicyVersion", {"VersionId": "v1"}),
    ("TagPolicy", {"Tags.member.1.Key": "k", "Tags.member.1.Value": "v"}),
    ("UntagPolicy", {"TagKeys.member.1": "k"}),
    ("ListPolicyTags", {}),
    ("ListEntitiesForPolicy", {}),
]


@pytest.mark.parametrize(("operation", "params"), POLICY_OPERATIONS, ids=[op for op, _ in POLICY_OPERATIONS])
def test_policy_operations_decide_on_the_stored_arn(target: TesseraServer, raw: RawClient, operation: str, params: dict[str, str]) -> None:
    arn, _, creds = boundary_world(target)
    for variant in case_variants(arn):
        reply = iam(raw, creds, operation, PolicyArn=variant, **params)
        assert reply.status == 403 and f"iam:{operation} on resource: {arn}" in reply.text, reply.text
    for variant in refused_spellings_of(arn):
        assert_refused(iam(raw, creds, operation, PolicyArn=variant, **params), "InvalidInput")
    for variant in unicode_spellings(arn):
        assert_refused(iam(raw, creds, operation, PolicyArn=variant, **params), "ValidationError")
    assert versions(target, arn) == ["v1"]


# -- users, groups and roles by name -------------------------------------------------------
ENTITY_OPERATIONS: list[tuple[str, str, dict[str, str]]] = [
    ("user", "GetUser", {}),
    ("user", "UpdateUser", {"NewPath": "/moved/"}),
    ("user", "DeleteUser", {}),
    ("user", "PutUserPolicy", {"PolicyName": "p", "PolicyDocument": ESCAPE}),
    ("user", "AttachUserPolicy", {"PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
    ("user", "DeleteUserPermissionsBoundary", {}),
    ("user", "CreateAccessKey", {}),
    ("user", "TagUser", {"Tags.member.1.Key": "k", "Tags.member.1.Value": "v"}),
    ("group", "PutGroupPolicy", {"PolicyName": "p", "PolicyDocument": ESCAPE}),
    ("group", "AttachGroupPolicy", {"PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
    ("group", "AddUserToGroup", {"UserName": "placeholder"}),
    ("group", "DeleteGroup", {}),
    ("role", "PutRolePolicy", {"PolicyName": "p", "PolicyDocument": ESCAPE}),
    ("role", "AttachRolePolicy", {"PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
    ("role", "UpdateAssumeRolePolicy", {"PolicyDocument": ANYTHING}),
    ("role", "DeleteRole", {}),
]
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "sts:AssumeRole"}],
    }
)


@pytest.mark.parametrize(("kind", "operation", "params"), ENTITY_OPERATIONS, ids=[op for _, op, _ in ENTITY_OPERATIONS])
def test_entity_operations_decide_on_the_stored_arn(
    target: TesseraServer, raw: RawClient, kind: str, operation: str, params: dict[str, str]
) -> None:
    client = target.client("iam")
    name = unique(f"Protected{kind.title()}")
    if kind == "user":
        client.create_user(UserName=name, Path="/ops/")
    elif kind == "group":
        client.create_group(GroupName=name, Path="/ops/")
    else:
        client.create_role(RoleName=name, Path="/ops/", AssumeRolePolicyDocument=TRUST)
    arn = f"arn:aws:iam::{ACCOUNT_ID}:{kind}/ops/{name}"
    creds = target.make_user(unique("mallory"), doc(ALLOW_IAM, {"Effect": "Deny", "Action": "iam:*", "Resource": arn}))
    member = f"{kind.title()}Name"
    for spelling in (name.lower(), name.upper(), name.swapcase()):
        reply = iam(raw, creds, operation, **{member: spelling, **params})
        assert reply.status == 403 and f"on resource: {arn}" in reply.text, reply.text
    assert_refused(iam(raw, creds, operation, **{member: name.replace("t", "\u0442"), **params}), "ValidationError")
    # the entity is untouched
    if kind == "user":
        user = client.get_user(UserName=name)["User"]
        assert user["Path"] == "/ops/" and "Tags" not in user
        assert client.list_user_policies(UserName=name)["PolicyNames"] == []
        assert client.list_access_keys(UserName=name)["AccessKeyMetadata"] == []
    elif kind == "group":
        assert client.list_group_policies(GroupName=name)["PolicyNames"] == []
        assert client.list_attached_group_policies(GroupName=name)["AttachedPolicies"] == []
    else:
        role = client.get_role(RoleName=name)["Role"]
        assert client.list_role_policies(RoleName=name)["PolicyNames"] == []
        assert client.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Action"] == "sts:AssumeRole"


def test_assume_role_decides_on_the_role_named_exactly(target: TesseraServer, raw: RawClient) -> None:
    """RoleArn is resolved exactly: another case or ``arn:AWS:`` names no role."""
    client = target.client("iam")
    name = unique("DeployKit")
    arn = client.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    creds = target.make_user(
        unique("mallory"),
        doc(
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"},
            {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": arn},
        ),
    )
    for variant in [*case_variants(arn), arn.replace("arn:aws:", "arn:AWS:"), *unicode_spellings(arn)]:
        reply = raw.send(raw.signed("sts", {"Action": "AssumeRole", "RoleArn": variant, "RoleSessionName": "s"}, creds=creds))
        assert reply.status in (400, 403), reply.text
        assert "<Credentials>" not in reply.text


def refused_spellings_of(arn: str) -> list[str]:
    return refused_spellings(arn, ACCOUNT_ID)
