"""GetMFADevice and the MFA device tag operations, through the registered handlers."""

from __future__ import annotations

import json
from collections.abc import Callable

import pyotp
import pytest
from iamhandlers import ACCOUNT, NOW, Call

from tessera.auth.caller import Caller
from tessera.errors import AccessDenied, LimitExceededException, NoSuchEntityException
from tessera.services.iam import quotas
from tessera.services.runtime import Runtime

SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/phone"
MakeUser = Callable[[str, str | None], Caller]


def _enable(call: Call, user: str = "u") -> None:
    call("CreateUser", UserName=user)
    seed = call("CreateVirtualMFADevice", VirtualMFADeviceName="phone")["VirtualMFADevice"]["Base32StringSeed"].decode()
    counter = int(NOW.timestamp()) // 30
    totp = pyotp.TOTP(seed)
    call(
        "EnableMFADevice",
        UserName=user,
        SerialNumber=SERIAL,
        AuthenticationCode1=totp.generate_otp(counter - 1),
        AuthenticationCode2=totp.generate_otp(counter),
    )


def test_get_mfa_device(call: Call, runtime: Runtime, user_with_policy: MakeUser) -> None:
    _enable(call)
    got = call("GetMFADevice", SerialNumber=SERIAL, UserName="U")
    assert got == {"UserName": "u", "SerialNumber": SERIAL, "EnableDate": NOW}
    call("CreateUser", UserName="v")
    with pytest.raises(NoSuchEntityException):
        call("GetMFADevice", SerialNumber=SERIAL, UserName="v")
    with pytest.raises(NoSuchEntityException):
        call("GetMFADevice", SerialNumber=f"arn:aws:iam::{ACCOUNT}:mfa/other", UserName="u")
    self_reader = user_with_policy(
        "w",
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iam:GetMFADevice", "Resource": "arn:aws:iam::*:user/${aws:username}"}],
            }
        ),
    )
    with pytest.raises(NoSuchEntityException):  # its own user, which has no device
        call("GetMFADevice", caller=self_reader, SerialNumber=SERIAL)
    with pytest.raises(AccessDenied, match="iam:GetMFADevice"):
        call("GetMFADevice", caller=self_reader, SerialNumber=SERIAL, UserName="u")


def test_mfa_device_tags(call: Call, runtime: Runtime, user_with_policy: MakeUser) -> None:
    call("CreateVirtualMFADevice", VirtualMFADeviceName="phone", Tags=[{"Key": "a", "Value": "1"}])
    call("TagMFADevice", SerialNumber=SERIAL, Tags=[{"Key": "B", "Value": "2"}, {"Key": "A", "Value": "3"}])
    assert call("ListMFADeviceTags", SerialNumber=SERIAL)["Tags"] == [{"Key": "A", "Value": "3"}, {"Key": "B", "Value": "2"}]
    call("UntagMFADevice", SerialNumber=SERIAL, TagKeys=["a"])
    assert call("ListVirtualMFADevices")["VirtualMFADevices"][0]["Tags"] == [{"Key": "B", "Value": "2"}]
    with pytest.raises(LimitExceededException):
        call("TagMFADevice", SerialNumber=SERIAL, Tags=[{"Key": f"k{i}", "Value": ""} for i in range(quotas.TAGS_PER_ENTITY)])
    missing = f"arn:aws:iam::{ACCOUNT}:mfa/none"
    for op, extra in (
        ("TagMFADevice", {"Tags": [{"Key": "x", "Value": "y"}]}),
        ("UntagMFADevice", {"TagKeys": ["x"]}),
        ("ListMFADeviceTags", {}),
    ):
        with pytest.raises(NoSuchEntityException):
            call(op, SerialNumber=missing, **extra)
    dev_only = user_with_policy(
        "t",
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "iam:*MFADevice*",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:ResourceTag/B": "dev"}},
                    }
                ],
            }
        ),
    )
    with pytest.raises(AccessDenied, match="iam:TagMFADevice"):
        call("TagMFADevice", caller=dev_only, SerialNumber=SERIAL, Tags=[{"Key": "c", "Value": "1"}])
    assert runtime.view.account(ACCOUNT).mfa_devices[SERIAL]["tags"] == [{"Key": "B", "Value": "2"}]  # type: ignore[union-attr]
    call("TagMFADevice", SerialNumber=SERIAL, Tags=[{"Key": "B", "Value": "dev"}])
    call("TagMFADevice", caller=dev_only, SerialNumber=SERIAL, Tags=[{"Key": "c", "Value": "1"}])
    assert call("ListMFADeviceTags", caller=dev_only, SerialNumber=SERIAL)["Tags"] == [
        {"Key": "B", "Value": "dev"},
        {"Key": "c", "Value": "1"},
    ]
