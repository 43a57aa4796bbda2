"""Virtual MFA devices, the STS-facing verify_mfa_code, and the account-wide views."""

from __future__ import annotations

import datetime as dt
import io
import json
import struct

import pyotp
import pytest
import segno
from iamhandlers import ACCOUNT, NOW, Call

from tessera.clock import FixedClock
from tessera.errors import (
    DeleteConflictException,
    EntityAlreadyExistsException,
    InvalidAuthenticationCodeException,
    NoSuchEntityException,
)
from tessera.services.iam.mfa import otpauth_uri, verify_mfa_code
from tessera.services.runtime import Runtime

SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/phone"


def _codes(seed: str, when: dt.datetime, steps_back: int = 1) -> tuple[str, str]:
    totp = pyotp.TOTP(seed)
    counter = int(when.timestamp()) // 30
    return totp.generate_otp(counter - steps_back), totp.generate_otp(counter - steps_back + 1)


def _enabled_device(call: Call) -> str:
    call("CreateUser", UserName="u")
    seed = call("CreateVirtualMFADevice", VirtualMFADeviceName="phone")["VirtualMFADevice"]["Base32StringSeed"].decode()
    code1, code2 = _codes(seed, NOW)
    call("EnableMFADevice", UserName="u", SerialNumber=SERIAL, AuthenticationCode1=code1, AuthenticationCode2=code2)
    return seed


def test_create_virtual_device_returns_seed_once_and_seals_it(call: Call, runtime: Runtime) -> None:
    device = call("CreateVirtualMFADevice", VirtualMFADeviceName="phone")["VirtualMFADevice"]
    seed = device["Base32StringSeed"].decode()
    assert device["SerialNumber"] == SERIAL and len(seed) == 32
    stored = runtime.view.account(ACCOUNT).mfa_devices[SERIAL]  # type: ignore[union-attr]
    assert seed not in stored["seed_sealed"]
    listed = call("ListVirtualMFADevices")["VirtualMFADevices"]
    assert listed == [{"SerialNumber": SERIAL}]
    with pytest.raises(EntityAlreadyExistsException):
        call("CreateVirtualMFADevice", VirtualMFADeviceName="Phone")


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which a PNG must start with."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_create_virtual_device_returns_qr_code_of_the_documented_otpauth_uri(call: Call) -> None:
    device = call("CreateVirtualMFADevice", VirtualMFADeviceName="phone")["VirtualMFADevice"]
    seed = device["Base32StringSeed"].decode()
    expected = io.BytesIO()
    segno.make_qr(f"otpauth://totp/phone@{ACCOUNT}?secret={seed}").save(expected, kind="png", scale=4)
    assert device["QRCodePNG"] == expected.getvalue()
    width, height = _png_size(device["QRCodePNG"])
    assert width == height and width % 4 == 0 and width >= 4 * (21 + 8)  # smallest QR plus quiet zone


@pytest.mark.parametrize(
    ("name", "uri"),
    [
        ("phone", f"otpauth://totp/phone@{ACCOUNT}?secret=SEED"),
        ("a@b+c=d", f"otpauth://totp/a%40b%2Bc%3Dd@{ACCOUNT}?secret=SEED"),
    ],
    ids=["plain", "reserved-characters-encoded"],
)
def test_otpauth_uri_labels_device_at_account(name: str, uri: str) -> None:
    assert otpauth_uri(name, ACCOUNT, "SEED") == uri


def test_enable_requires_two_consecutive_codes(call: Call) -> None:
    call("CreateUser", UserName="u")
    seed = call("CreateVirtualMFADevice", VirtualMFADeviceName="phone")["VirtualMFADevice"]["Base32StringSeed"].decode()
    code1, code2 = _codes(seed, NOW)
    with pytest.raises(InvalidAuthenticationCodeException, match="not valid"):
        call("EnableMFADevice", UserName="u", SerialNumber=SERIAL, AuthenticationCode1=code2, AuthenticationCode2=code1)
    call("EnableMFADevice", UserName="u", SerialNumber=SERIAL, AuthenticationCode1=code1, AuthenticationCode2=code2)
    assert call("ListMFADevices", UserName="u")["MFADevices"] == [{"UserName": "u", "SerialNumber": SERIAL, "EnableDate": NOW}]
    assigned = call("ListVirtualMFADevices", AssignmentStatus="Assigned")["VirtualMFADevices"]
    assert assigned[0]["User"]["UserName"] == "u"
    assert call("ListVirtualMFADevices", AssignmentStatus="Unassigned")["VirtualMFADevices"] == []


def test_device_in_use_blocks_reuse_and_deletion(call: Call) -> None:
    seed = _enabled_device(call)
    call("CreateUser", UserName="v")
    code1, code2 = _codes(seed, NOW)
    with pytest.raises(EntityAlreadyExistsException):
        call("EnableMFADevice", UserName="v", SerialNumber=SERIAL, AuthenticationCode1=code1, AuthenticationCode2=code2)
    with pytest.raises(DeleteConflictException):
        call("DeleteVirtualMFADevice", SerialNumber=SERIAL)
    with pytest.raises(DeleteConflictException, match="MFA device"):
        call("DeleteUser", UserName="u")
    call("DeactivateMFADevice", UserName="u", SerialNumber=SERIAL)
    call("DeleteVirtualMFADevice", SerialNumber=SERIAL)
    with pytest.raises(NoSuchEntityException):
        call("DeleteVirtualMFADevice", SerialNumber=SERIAL)


def test_verify_mfa_code_accepts_a_fresh_code_once(call: Call, runtime: Runtime) -> None:
    seed = _enabled_device(call)
    later = NOW + dt.timedelta(seconds=60)
    code = pyotp.TOTP(seed).at(later)
    assert verify_mfa_code(runtime, ACCOUNT, SERIAL, code, later)
    assert not verify_mfa_code(runtime, ACCOUNT, SERIAL, code, later), "a code must not be replayed"
    even_later = later + dt.timedelta(seconds=30)
    assert verify_mfa_code(runtime, ACCOUNT, SERIAL, pyotp.TOTP(seed).at(even_later), even_later)


def test_verify_mfa_code_refuses_codes_used_for_enabling_and_stale_codes(call: Call, runtime: Runtime) -> None:
    seed = _enabled_device(call)
    _, enabling_code = _codes(seed, NOW)
    assert not verify_mfa_code(runtime, ACCOUNT, SERIAL, enabling_code, NOW)
    old = NOW + dt.timedelta(seconds=300)
    assert not verify_mfa_code(runtime, ACCOUNT, SERIAL, pyotp.TOTP(seed).at(NOW + dt.timedelta(seconds=60)), old)


def test_verify_mfa_code_refuses_unknown_and_unassigned_devices(call: Call, runtime: Runtime) -> None:
    assert not verify_mfa_code(runtime, ACCOUNT, SERIAL, "123456", NOW)
    seed = call("CreateVirtualMFADevice", VirtualMFADeviceName="phone")["VirtualMFADevice"]["Base32StringSeed"].decode()
    assert not verify_mfa_code(runtime, ACCOUNT, SERIAL, pyotp.TOTP(seed).at(NOW), NOW)


def test_resync_moves_the_counter_forward(call: Call, clock: FixedClock) -> None:
    seed = _enabled_device(call)
    clock.advance(120)
    later = clock.now()
    code1, code2 = _codes(seed, later)
    call("ResyncMFADevice", UserName="u", SerialNumber=SERIAL, AuthenticationCode1=code1, AuthenticationCode2=code2)
    with pytest.raises(InvalidAuthenticationCodeException):
        call("ResyncMFADevice", UserName="u", SerialNumber=SERIAL, AuthenticationCode1=code1, AuthenticationCode2=code2)


# -- account views -----------------------------------------------------------------------------
def test_account_summary_counts_and_quotas(call: Call) -> None:
    call("CreateUser", UserName="u")
    call("CreateGroup", GroupName="g")
    call("CreatePolicy", PolicyName="p", PolicyDocument=_allow())
    summary = call("GetAccountSummary")["SummaryMap"]
    assert (summary["Users"], summary["Groups"], summary["Roles"], summary["Policies"]) == (1, 1, 0, 1)
    assert summary["UserPolicySizeQuota"] == 2048 and summary["AccessKeysPerUserQuota"] == 2
    assert summary["AccountAccessKeysPresent"] == 1


def test_authorization_details_filter_and_pagination(call: Call) -> None:
    call("CreateUser", UserName="u")
    call("PutUserPolicy", UserName="u", PolicyName="inline", PolicyDocument=_allow())
    call("AttachUserPolicy", UserName="u", PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    call("CreateGroup", GroupName="g")
    call("AddUserToGroup", GroupName="g", UserName="u")
    call("CreatePolicy", PolicyName="p", PolicyDocument=_allow())
    everything = call("GetAccountAuthorizationDetails")
    user = everything["UserDetailList"][0]
    assert user["UserPolicyList"] == [{"PolicyName": "inline", "PolicyDocument": _allow()}]
    assert user["GroupList"] == ["g"]
    assert [p["PolicyName"] for p in everything["Policies"]] == ["p", "IAMReadOnlyAccess"]
    assert everything["Policies"][0]["PolicyVersionList"][0]["IsDefaultVersion"]
    only_groups = call("GetAccountAuthorizationDetails", Filter=["Group"])
    assert [g["GroupName"] for g in only_groups["GroupDetailList"]] == ["g"] and only_groups["UserDetailList"] == []
    first = call("GetAccountAuthorizationDetails", MaxItems=1)
    assert first["IsTruncated"] and len(first["UserDetailList"]) == 1
    rest = call("GetAccountAuthorizationDetails", MaxItems=10, Marker=first["Marker"])
    assert rest["UserDetailList"] == [] and len(rest["GroupDetailList"]) == 1 and not rest["IsTruncated"]


def _allow() -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
