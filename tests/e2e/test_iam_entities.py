"""IAM users, access keys, groups and roles end to end: real boto3 against ``tessera serve``."""

from __future__ import annotations

import json
import time
from typing import Any

import pyotp
import pytest
from botocore.exceptions import ClientError
from policies import trust_account as trust
from policies import unique
from serverproc import Credentials, TesseraServer


def code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_user_lifecycle(iam: Any, server: TesseraServer) -> None:
    name = unique("user")
    created = iam.create_user(UserName=name, Path="/e2e/", Tags=[{"Key": "team", "Value": "blue"}])["User"]
    assert created["Arn"] == f"arn:aws:iam::{server.account_id}:user/e2e/{name}"
    assert created["UserId"].startswith("AIDA")
    got = iam.get_user(UserName=name.upper())["User"]
    assert got["UserName"] == name and got["Tags"] == [{"Key": "team", "Value": "blue"}]
    with pytest.raises(ClientError) as dup:
        iam.create_user(UserName=name.upper())
    assert code(dup) == "EntityAlreadyExists" and dup.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    renamed = unique("renamed")
    iam.update_user(UserName=name, NewUserName=renamed)
    assert iam.get_user(UserName=renamed)["User"]["UserId"] == created["UserId"]
    iam.delete_user(UserName=renamed)
    with pytest.raises(ClientError) as gone:
        iam.get_user(UserName=renamed)
    assert code(gone) == "NoSuchEntity" and gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_list_users_paginates_with_boto3_paginator(iam: Any) -> None:
    path = f"/{unique('page')}/"
    names = sorted(unique("pu") for _ in range(5))
    for name in names:
        iam.create_user(UserName=name, Path=path)
    pages = list(iam.get_paginator("list_users").paginate(PathPrefix=path, PaginationConfig={"PageSize": 2}))
    assert [len(p["Users"]) for p in pages] == [2, 2, 1]
    assert [u["UserName"] for p in pages for u in p["Users"]] == names


def test_access_keys_authenticate_and_respect_status(iam: Any, server: TesseraServer) -> None:
    name = unique("keys")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    creds = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    assert server.client("sts", creds).get_caller_identity()["Arn"].endswith(f":user/{name}")
    listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [key["AccessKeyId"]] and "SecretAccessKey" not in listed[0]
    iam.create_access_key(UserName=name)
    with pytest.raises(ClientError) as third:
        iam.create_access_key(UserName=name)
    assert code(third) == "LimitExceeded"
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as inactive:
        server.client("sts", creds).get_caller_identity()
    assert code(inactive) == "InvalidClientTokenId"
    last_used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert last_used["UserName"] == name
    with pytest.raises(ClientError) as conflict:
        iam.delete_user(UserName=name)
    assert code(conflict) == "DeleteConflict"


def test_groups_and_membership(iam: Any) -> None:
    group, user = unique("group"), unique("member")
    assert iam.create_group(GroupName=group)["Group"]["GroupId"].startswith("AGPA")
    iam.create_user(UserName=user)
    iam.add_user_to_group(GroupName=group, UserName=user)
    assert [u["UserName"] for u in iam.get_group(GroupName=group)["Users"]] == [user]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=user)["Groups"]] == [group]
    with pytest.raises(ClientError) as conflict:
        iam.delete_group(GroupName=group)
    assert code(conflict) == "DeleteConflict"
    iam.remove_user_from_group(GroupName=group, UserName=user)
    iam.delete_group(GroupName=group)
    assert group not in [g["GroupName"] for g in iam.list_groups()["Groups"]]


def test_role_lifecycle_and_trust_policy_round_trip(iam: Any, server: TesseraServer) -> None:
    name = unique("role")
    document = trust(server.account_id)
    role = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=document,
        Description="e2e",
        MaxSessionDuration=7200,
        Tags=[{"Key": "k", "Value": "v"}],
    )["Role"]
    assert role["RoleId"].startswith("AROA")
    got = iam.get_role(RoleName=name)["Role"]
    assert got["AssumeRolePolicyDocument"] == json.loads(document)
    assert got["MaxSessionDuration"] == 7200 and got["Description"] == "e2e"
    iam.update_role(RoleName=name, MaxSessionDuration=3600)
    assert iam.update_role_description(RoleName=name, Description="new")["Role"]["Description"] == "new"
    iam.tag_role(RoleName=name, Tags=[{"Key": "x", "Value": "y"}])
    iam.untag_role(RoleName=name, TagKeys=["k"])
    assert iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "x", "Value": "y"}]
    iam.delete_role(RoleName=name)


@pytest.mark.parametrize(
    "document",
    [
        "{not json",
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}),
    ],
    ids=["syntax", "no-principal"],
)
def test_malformed_trust_policy(iam: Any, document: str) -> None:
    with pytest.raises(ClientError) as error:
        iam.create_role(RoleName=unique("bad"), AssumeRolePolicyDocument=document)
    assert code(error) == "MalformedPolicyDocument"


def test_federated_principals_must_be_domain_names_or_provider_arns(iam: Any, server: TesseraServer) -> None:
    def trust_federated(principal: str) -> str:
        statement = {"Effect": "Allow", "Principal": {"Federated": principal}, "Action": "sts:AssumeRoleWithWebIdentity"}
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    with pytest.raises(ClientError) as error:
        iam.create_role(RoleName=unique("fed"), AssumeRolePolicyDocument=trust_federated("https://accounts.google.com"))
    assert code(error) == "MalformedPolicyDocument"
    assert error.value.response["Error"]["Message"].startswith("Federated principals must be valid domain names or SAML metadata ARNs")
    for good in ("accounts.google.com", f"arn:aws:iam::{server.account_id}:oidc-provider/tenant.auth0.com/"):
        name = unique("fed")
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_federated(good))
        iam.delete_role(RoleName=name)


def test_virtual_mfa_device_enable_and_list(iam: Any, server: TesseraServer) -> None:
    user, device_name = unique("mfauser"), unique("phone")
    iam.create_user(UserName=user)
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=device_name)["VirtualMFADevice"]
    assert device["QRCodePNG"].startswith(b"\x89PNG\r\n\x1a\n")  # boto3 has base64-decoded the blob
    seed = device["Base32StringSeed"].decode()
    totp = pyotp.TOTP(seed)
    counter = int(time.time()) // 30
    code1, code2 = totp.generate_otp(counter - 1), totp.generate_otp(counter)
    with pytest.raises(ClientError) as wrong:
        iam.enable_mfa_device(
            UserName=user, SerialNumber=device["SerialNumber"], AuthenticationCode1="000000", AuthenticationCode2="000000"
        )
    assert code(wrong) == "InvalidAuthenticationCode"
    iam.enable_mfa_device(UserName=user, SerialNumber=device["SerialNumber"], AuthenticationCode1=code1, AuthenticationCode2=code2)
    assert [d["SerialNumber"] for d in iam.list_mfa_devices(UserName=user)["MFADevices"]] == [device["SerialNumber"]]
    with pytest.raises(ClientError) as in_use:
        iam.delete_virtual_mfa_device(SerialNumber=device["SerialNumber"])
    assert code(in_use) == "DeleteConflict"
    iam.deactivate_mfa_device(UserName=user, SerialNumber=device["SerialNumber"])
    iam.delete_virtual_mfa_device(SerialNumber=device["SerialNumber"])
