"""IAM instance profiles and MFA device reads and tags end to end: real boto3 (and the
AWS CLI) against ``tessera serve`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from typing import Any

import pyotp
import pytest
from botocore.exceptions import ClientError
from policies import unique
from serverproc import TesseraServer
from test_iam_cli import aws_json, run_aws

EC2_TRUST = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
)


def error(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = info.value.response
    return str(response["Error"]["Code"]), int(response["ResponseMetadata"]["HTTPStatusCode"])


def allow(*statements: dict[str, object]) -> dict[str, object]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **s} for s in statements]}


def test_ansible_iam_role_sequence(iam: Any, server: TesseraServer) -> None:
    """What amazon.aws.iam_role does to create, describe and delete a role that has an
    instance profile."""
    name, path = unique("ansible"), "/ansible/"
    role = iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=EC2_TRUST, Description="made by ansible")["Role"]
    iam.get_role(RoleName=name)
    assert iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"] == []
    profile = iam.create_instance_profile(InstanceProfileName=name, Path=path)["InstanceProfile"]
    assert profile["Arn"] == f"arn:aws:iam::{server.account_id}:instance-profile{path}{name}"
    assert profile["InstanceProfileId"].startswith("AIPA") and profile["Roles"] == []
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    listed = iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]
    assert [(p["InstanceProfileName"], p["InstanceProfileId"]) for p in listed] == [(name, profile["InstanceProfileId"])]
    assert [(r["RoleName"], r["RoleId"], r["Arn"]) for r in listed[0]["Roles"]] == [(name, role["RoleId"], role["Arn"])]
    assert listed[0]["Roles"][0]["AssumeRolePolicyDocument"] == json.loads(EC2_TRUST)  # boto3 decodes it
    assert iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"] == []
    assert iam.list_role_tags(RoleName=name)["Tags"] == []
    with pytest.raises(ClientError) as conflict:
        iam.delete_role(RoleName=name)
    assert error(conflict) == ("DeleteConflict", 409)
    assert "must remove roles from instance profile first" in str(conflict.value)
    for held in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(InstanceProfileName=held["InstanceProfileName"], RoleName=name)
        iam.delete_instance_profile(InstanceProfileName=held["InstanceProfileName"])
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == []
    iam.delete_role(RoleName=name)
    with pytest.raises(ClientError) as gone:
        iam.get_instance_profile(InstanceProfileName=name)
    assert error(gone) == ("NoSuchEntity", 404)


def test_profile_rules_paging_tags_and_account_views(iam: Any, server: TesseraServer) -> None:
    path = f"/{unique('ip')}/"
    names = sorted(unique("p") for _ in range(3))
    for name in names:
        iam.create_instance_profile(InstanceProfileName=name, Path=path, Tags=[{"Key": "team", "Value": "a"}])
    pages = list(iam.get_paginator("list_instance_profiles").paginate(PathPrefix=path, PaginationConfig={"PageSize": 2}))
    assert [[p["InstanceProfileName"] for p in page["InstanceProfiles"]] for page in pages] == [names[:2], names[2:]]
    assert not any("Tags" in p for page in pages for p in page["InstanceProfiles"])  # listings omit tags, as in AWS
    with pytest.raises(ClientError) as dup:
        iam.create_instance_profile(InstanceProfileName=names[0].upper())
    assert error(dup) == ("EntityAlreadyExists", 409)
    role, other = unique("r"), unique("r")
    for r in (role, other):
        iam.create_role(RoleName=r, AssumeRolePolicyDocument=EC2_TRUST)
    iam.add_role_to_instance_profile(InstanceProfileName=names[0], RoleName=role)
    with pytest.raises(ClientError) as full:
        iam.add_role_to_instance_profile(InstanceProfileName=names[0], RoleName=other)
    assert error(full) == ("LimitExceeded", 409)
    with pytest.raises(ClientError) as busy:
        iam.delete_instance_profile(InstanceProfileName=names[0])
    assert error(busy) == ("DeleteConflict", 409)
    with pytest.raises(ClientError) as absent:
        iam.remove_role_from_instance_profile(InstanceProfileName=names[1], RoleName=role)
    assert error(absent) == ("NoSuchEntity", 404)
    iam.tag_instance_profile(InstanceProfileName=names[0], Tags=[{"Key": "env", "Value": "prod"}])
    iam.untag_instance_profile(InstanceProfileName=names[0], TagKeys=["team"])
    assert iam.list_instance_profile_tags(InstanceProfileName=names[0])["Tags"] == [{"Key": "env", "Value": "prod"}]
    assert iam.get_instance_profile(InstanceProfileName=names[0])["InstanceProfile"]["Tags"] == [{"Key": "env", "Value": "prod"}]
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["InstanceProfiles"] >= 3 and summary["InstanceProfilesQuota"] == 1000
    details = [d for p in iam.get_paginator("get_account_authorization_details").paginate(Filter=["Role"]) for d in p["RoleDetailList"]]
    by_name = {d["RoleName"]: d for d in details}
    assert [p["InstanceProfileName"] for p in by_name[role]["InstanceProfileList"]] == [names[0]]
    assert by_name[other]["InstanceProfileList"] == []
    iam.remove_role_from_instance_profile(InstanceProfileName=names[0], RoleName=role)
    for name in names:
        iam.delete_instance_profile(InstanceProfileName=name)
    assert iam.list_instance_profiles(PathPrefix=path)["InstanceProfiles"] == []


def test_add_role_needs_pass_role_and_denials_write_nothing(iam: Any, server: TesseraServer) -> None:
    profile, role = unique("p"), unique("r")
    iam.create_instance_profile(InstanceProfileName=profile)
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=EC2_TRUST)
    profile_arn = f"arn:aws:iam::{server.account_id}:instance-profile/{profile}"
    role_arn = f"arn:aws:iam::{server.account_id}:role/{role}"
    without = server.client(
        "iam", server.make_user(unique("nopass"), allow({"Action": "iam:AddRoleToInstanceProfile", "Resource": profile_arn}))
    )
    with pytest.raises(ClientError) as denied:
        without.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    assert error(denied) == ("AccessDenied", 403) and "iam:PassRole" in str(denied.value)
    with pytest.raises(ClientError) as create_denied:
        without.create_instance_profile(InstanceProfileName=unique("p"))
    assert error(create_denied) == ("AccessDenied", 403)
    assert iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"] == []
    passer = server.client(
        "iam",
        server.make_user(
            unique("passer"),
            allow(
                {"Action": "iam:AddRoleToInstanceProfile", "Resource": profile_arn},
                {
                    "Action": "iam:PassRole",
                    "Resource": role_arn,
                    "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
                },
            ),
        ),
    )
    passer.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    with pytest.raises(ClientError) as remove_denied:
        passer.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=role)
    assert error(remove_denied) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as delete_denied:
        passer.delete_instance_profile(InstanceProfileName=profile)
    assert error(delete_denied) == ("AccessDenied", 403)
    assert [r["RoleName"] for r in iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]] == [role]
    iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=role)
    iam.delete_instance_profile(InstanceProfileName=profile)
    iam.delete_role(RoleName=role)


def test_get_mfa_device_and_device_tags(iam: Any, server: TesseraServer) -> None:
    user, device_name = unique("mfa"), unique("dev")
    iam.create_user(UserName=user)
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=device_name, Tags=[{"Key": "kind", "Value": "phone"}])["VirtualMFADevice"]
    serial, totp = device["SerialNumber"], pyotp.TOTP(device["Base32StringSeed"].decode())
    counter = int(time.time()) // 30  # the server runs on this machine's clock
    iam.enable_mfa_device(
        UserName=user,
        SerialNumber=serial,
        AuthenticationCode1=totp.generate_otp(counter - 1),
        AuthenticationCode2=totp.generate_otp(counter),
    )
    got = iam.get_mfa_device(SerialNumber=serial, UserName=user)
    assert got["UserName"] == user and got["SerialNumber"] == serial and "EnableDate" in got and "Certifications" not in got
    iam.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "owner", "Value": user}])
    iam.untag_mfa_device(SerialNumber=serial, TagKeys=["kind"])
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == [{"Key": "owner", "Value": user}]
    reader = server.client("iam", server.make_user(unique("reader")))
    with pytest.raises(ClientError) as denied:
        reader.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "x", "Value": "y"}])
    assert error(denied) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as get_denied:
        reader.get_mfa_device(SerialNumber=serial, UserName=user)
    assert error(get_denied) == ("AccessDenied", 403)
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == [{"Key": "owner", "Value": user}]
    with pytest.raises(ClientError) as missing:
        iam.list_mfa_device_tags(SerialNumber=serial + "x")
    assert error(missing) == ("NoSuchEntity", 404)
    iam.deactivate_mfa_device(UserName=user, SerialNumber=serial)
    iam.delete_virtual_mfa_device(SerialNumber=serial)


def test_instance_profiles_through_the_cli(sqlite_server: TesseraServer) -> None:
    server, root = sqlite_server, sqlite_server.root
    name = unique("cliprof")
    aws_json(server, root, "iam", "create-role", "--role-name", name, "--assume-role-policy-document", EC2_TRUST)
    made = aws_json(server, root, "iam", "create-instance-profile", "--instance-profile-name", name, "--tags", "Key=team,Value=a")
    assert made["InstanceProfile"]["Tags"] == [{"Key": "team", "Value": "a"}]
    assert aws_json(server, root, "iam", "add-role-to-instance-profile", "--instance-profile-name", name, "--role-name", name) == {}
    got = aws_json(server, root, "iam", "get-instance-profile", "--instance-profile-name", name)["InstanceProfile"]
    assert got["InstanceProfileName"] == name and [r["RoleName"] for r in got["Roles"]] == [name]
    assert got["Roles"][0]["AssumeRolePolicyDocument"] == json.loads(EC2_TRUST)  # the CLI decodes it
    listed = aws_json(server, root, "iam", "list-instance-profiles-for-role", "--role-name", name)["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in listed] == [name]
    refused = run_aws(server, root, "iam", "delete-instance-profile", "--instance-profile-name", name)
    assert refused.returncode != 0 and "(DeleteConflict)" in refused.stderr
    aws_json(server, root, "iam", "remove-role-from-instance-profile", "--instance-profile-name", name, "--role-name", name)
    aws_json(server, root, "iam", "delete-instance-profile", "--instance-profile-name", name)
    aws_json(server, root, "iam", "delete-role", "--role-name", name)
