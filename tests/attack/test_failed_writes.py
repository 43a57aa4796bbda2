"""A refused IAM write answers with AWS's 4xx and leaves nothing behind.

Every IAM write validates everything first and then writes in one transaction, so a
request that fails — at validation, authorization or inside the transaction — changes
nothing, and a retry meets the same state. The published case: a virtual MFA device
with a 3 000-character name answered 500 and left a half-made device behind.
"""

from __future__ import annotations

import json
from typing import Any

from attackkit import RawClient, Response
from policies import unique
from serverproc import ACCOUNT_ID, TesseraServer

MFA_PREFIX = f"arn:aws:iam::{ACCOUNT_ID}:mfa/"
MAX_DEVICE_NAME = 256 - len(MFA_PREFIX)  # 226: the serial number must fit SerialNumber (256)
ANYTHING = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})


def iam(raw: RawClient, action: str, **params: str) -> Response:
    return raw.send(raw.signed("iam", {"Action": action, **params}))


def assert_client_error(reply: Response, code: str) -> None:
    assert 400 <= reply.status < 500, (reply.status, reply.text)
    assert reply.error_code() == code, reply.text


def devices(target: TesseraServer) -> list[str]:
    pages = target.client("iam").get_paginator("list_virtual_mfa_devices").paginate()
    return [d["SerialNumber"] for page in pages for d in page["VirtualMFADevices"]]


def snapshot(target: TesseraServer) -> dict[str, Any]:
    """What an IAM write could have left behind (as the root user sees it)."""
    details = target.client("iam").get_account_authorization_details()
    for key in ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"):
        for entry in details.get(key, ()):
            entry.pop("RoleLastUsed", None)
    details.pop("ResponseMetadata", None)
    return {"details": details, "devices": devices(target)}


# -- the published case ------------------------------------------------------------------
def test_overlong_mfa_device_name_is_a_validation_error_and_leaves_no_device(target: TesseraServer, raw: RawClient) -> None:
    before = devices(target)
    name = "d" * 3000
    for _ in range(2):  # a retry meets the same answer, not EntityAlreadyExists
        reply = iam(raw, "CreateVirtualMFADevice", VirtualMFADeviceName=name)
        assert_client_error(reply, "ValidationError")
        assert "at 'virtualMFADeviceName' failed to satisfy constraint: Member must have length less than or equal to 226" in reply.text
    assert devices(target) == before
    assert "Traceback" not in target.log()


def test_mfa_device_name_limit_is_the_serial_number_limit(target: TesseraServer, raw: RawClient) -> None:
    before = devices(target)
    assert_client_error(iam(raw, "CreateVirtualMFADevice", VirtualMFADeviceName="e" * (MAX_DEVICE_NAME + 1)), "ValidationError")
    long_path = "/" + "p" * 40 + "/"
    reply = iam(raw, "CreateVirtualMFADevice", VirtualMFADeviceName="f" * (MAX_DEVICE_NAME - 10), Path=long_path)
    assert_client_error(reply, "ValidationError")
    assert "at 'serialNumber'" in reply.text
    assert devices(target) == before
    created = target.client("iam").create_virtual_mfa_device(VirtualMFADeviceName="g" * MAX_DEVICE_NAME)["VirtualMFADevice"]
    assert created["SerialNumber"] == MFA_PREFIX + "g" * MAX_DEVICE_NAME and len(created["SerialNumber"]) == 256
    assert created["QRCodePNG"].startswith(b"\x89PNG")
    target.client("iam").delete_virtual_mfa_device(SerialNumber=created["SerialNumber"])


# -- siblings: writes refused at any step leave the account as it was ------------------------
def test_refused_writes_leave_nothing(target: TesseraServer, raw: RawClient) -> None:
    client = target.client("iam")
    user, other, group, role, policy = (unique(p) for p in ("keeper", "other", "crew", "runner", "rules"))
    client.create_user(UserName=user)
    client.create_user(UserName=other)
    client.create_access_key(UserName=user)
    client.create_group(GroupName=group)
    policy_arn = client.create_policy(PolicyName=policy, PolicyDocument=ANYTHING)["Policy"]["Arn"]
    before = snapshot(target)
    missing = f"arn:aws:iam::{ACCOUNT_ID}:policy/{unique('missing')}"
    bad_trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:user/nobody"}}],
        }
    )
    refused: list[tuple[str, dict[str, str], str]] = [
        ("CreateUser", {"UserName": unique("new"), "PermissionsBoundary": missing}, "NoSuchEntity"),
        ("CreateUser", {"UserName": unique("new"), "PermissionsBoundary": policy_arn.replace("arn:aws:", "arn:AWS:")}, "InvalidInput"),
        ("CreateUser", {"UserName": user.upper()}, "EntityAlreadyExists"),
        ("CreateRole", {"RoleName": role, "AssumeRolePolicyDocument": bad_trust}, "MalformedPolicyDocument"),
        ("CreateRole", {"RoleName": role, "AssumeRolePolicyDocument": ANYTHING, "PermissionsBoundary": missing}, "MalformedPolicyDocument"),
        ("CreatePolicy", {"PolicyName": policy.upper(), "PolicyDocument": ANYTHING}, "EntityAlreadyExists"),
        (
            "CreatePolicy",
            {"PolicyName": unique("broken"), "PolicyDocument": '{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}'},
            "MalformedPolicyDocument",
        ),
        ("CreatePolicyVersion", {"PolicyArn": policy_arn, "PolicyDocument": '{"Statement":[]}'}, "MalformedPolicyDocument"),
        ("UpdateUser", {"UserName": user, "NewUserName": other.upper()}, "EntityAlreadyExists"),
        ("AttachUserPolicy", {"UserName": user, "PolicyArn": missing}, "NoSuchEntity"),
        ("AttachUserPolicy", {"UserName": user, "PolicyArn": policy_arn.replace(":policy/", ":Policy/")}, "InvalidInput"),
        ("PutUserPermissionsBoundary", {"UserName": user, "PermissionsBoundary": missing}, "NoSuchEntity"),
        (
            "PutUserPolicy",
            {
                "UserName": user,
                "PolicyName": "big",
                "PolicyDocument": json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::" + "x" * 2100}],
                    }
                ),
            },
            "LimitExceeded",
        ),
        ("AddUserToGroup", {"GroupName": group, "UserName": unique("ghost")}, "NoSuchEntity"),
        ("DeleteUser", {"UserName": user}, "DeleteConflict"),
        ("DeletePolicy", {"PolicyArn": policy_arn.upper()}, "InvalidInput"),
        ("TagUser", {"UserName": user, "Tags.member.1.Key": "aws:reserved", "Tags.member.1.Value": "v"}, "InvalidInput"),
        ("CreateVirtualMFADevice", {"VirtualMFADeviceName": "h" * 3000}, "ValidationError"),
    ]
    for action, params, code in refused:
        reply = iam(raw, action, **params)
        assert 400 <= reply.status < 500, (action, reply.status, reply.text)
        assert reply.error_code() == code, (action, reply.text)
    assert snapshot(target) == before
    assert "Traceback" not in target.log()
