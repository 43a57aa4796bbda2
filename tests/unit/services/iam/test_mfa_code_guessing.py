"""EnableMFADevice and ResyncMFADevice under online guessing: failed code pairs are
limited per caller and per device, and a lock-out refuses right codes too (nothing is
written by a refused call)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pyotp
import pytest
from iamhandlers import ACCOUNT, NOW, Call

from tessera.auth.caller import Caller
from tessera.clock import FixedClock
from tessera.errors import InvalidAuthenticationCodeException, Throttling
from tessera.services.runtime import Runtime
from tessera.services.throttle import MFA_LOCKOUT_SECONDS, MFA_MAX_FAILURES

SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/phone"


def _pair(seed: str, when: dt.datetime) -> tuple[str, str]:
    counter = int(when.timestamp()) // 30
    totp = pyotp.TOTP(seed)
    return totp.generate_otp(counter - 1), totp.generate_otp(counter)


def _device(call: Call) -> str:
    call("CreateUser", UserName="u")
    return str(call("CreateVirtualMFADevice", VirtualMFADeviceName="phone")["VirtualMFADevice"]["Base32StringSeed"].decode())


def test_enable_locks_out_after_failed_pairs_and_refuses_the_right_pair(call: Call, runtime: Runtime, clock: FixedClock) -> None:
    seed = _device(call)
    for _ in range(MFA_MAX_FAILURES):
        with pytest.raises(InvalidAuthenticationCodeException):
            call("EnableMFADevice", UserName="u", SerialNumber=SERIAL, AuthenticationCode1="000000", AuthenticationCode2="000001")
    code1, code2 = _pair(seed, clock.now())
    with pytest.raises(Throttling):
        call("EnableMFADevice", UserName="u", SerialNumber=SERIAL, AuthenticationCode1=code1, AuthenticationCode2=code2)
    assert not runtime.view.account(ACCOUNT).mfa_devices[SERIAL]["user"]  # type: ignore[union-attr]
    clock.advance(MFA_LOCKOUT_SECONDS)
    code1, code2 = _pair(seed, clock.now())
    call("EnableMFADevice", UserName="u", SerialNumber=SERIAL, AuthenticationCode1=code1, AuthenticationCode2=code2)


def test_resync_counts_replayed_pairs_as_failures(call: Call, clock: FixedClock) -> None:
    seed = _device(call)
    code1, code2 = _pair(seed, NOW)
    call("EnableMFADevice", UserName="u", SerialNumber=SERIAL, AuthenticationCode1=code1, AuthenticationCode2=code2)
    for _ in range(MFA_MAX_FAILURES):  # the pair that enabled the device is no longer fresh
        with pytest.raises(InvalidAuthenticationCodeException):
            call("ResyncMFADevice", UserName="u", SerialNumber=SERIAL, AuthenticationCode1=code1, AuthenticationCode2=code2)
    clock.advance(60)
    code1, code2 = _pair(seed, clock.now())
    with pytest.raises(Throttling):
        call("ResyncMFADevice", UserName="u", SerialNumber=SERIAL, AuthenticationCode1=code1, AuthenticationCode2=code2)


SELF_MANAGE = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
    '"Action": ["iam:EnableMFADevice", "iam:ResyncMFADevice"], "Resource": "arn:aws:iam::*:user/${aws:username}"}, '
    '{"Effect": "Allow", "Action": "iam:UpdateUser", "Resource": "*"}]}'
)


def _self_managing_user(call: Call, name: str) -> Caller:
    user = call("CreateUser", UserName=name)["User"]
    call("PutUserPolicy", UserName=name, PolicyName="self-mfa", PolicyDocument=SELF_MANAGE)
    return Caller("user", ACCOUNT, user["Arn"], user["UserId"], name, f"AKIA{name.upper():0<16}")


def test_another_users_failures_do_not_lock_out_a_victims_enrolment(call: Call, clock: FixedClock) -> None:
    victim = _self_managing_user(call, "victim")
    mallory = _self_managing_user(call, "mallory")
    seed = str(call("CreateVirtualMFADevice", VirtualMFADeviceName="phone")["VirtualMFADevice"]["Base32StringSeed"].decode())
    for _ in range(MFA_MAX_FAILURES):  # mallory tries to enable the victim's new device to herself
        with pytest.raises(InvalidAuthenticationCodeException):
            call(
                "EnableMFADevice",
                caller=mallory,
                UserName="mallory",
                SerialNumber=SERIAL,
                AuthenticationCode1="000000",
                AuthenticationCode2="000001",
            )
    with pytest.raises(Throttling):  # she is locked out herself
        call(
            "EnableMFADevice",
            caller=mallory,
            UserName="mallory",
            SerialNumber=SERIAL,
            AuthenticationCode1="000000",
            AuthenticationCode2="000001",
        )
    code1, code2 = _pair(seed, clock.now())
    call("EnableMFADevice", caller=victim, UserName="victim", SerialNumber=SERIAL, AuthenticationCode1=code1, AuthenticationCode2=code2)


def test_renaming_oneself_does_not_reset_the_failure_budget(call: Call, clock: FixedClock) -> None:
    user = _self_managing_user(call, "u")
    call("CreateVirtualMFADevice", VirtualMFADeviceName="phone")
    for _ in range(MFA_MAX_FAILURES):
        with pytest.raises(InvalidAuthenticationCodeException):
            call(
                "EnableMFADevice",
                caller=user,
                UserName="u",
                SerialNumber=SERIAL,
                AuthenticationCode1="000000",
                AuthenticationCode2="000001",
            )
    call("UpdateUser", caller=user, UserName="u", NewUserName="u2")
    renamed = dataclasses.replace(user, arn=f"arn:aws:iam::{ACCOUNT}:user/u2", name="u2")
    with pytest.raises(Throttling):
        call(
            "EnableMFADevice",
            caller=renamed,
            UserName="u2",
            SerialNumber=SERIAL,
            AuthenticationCode1="000000",
            AuthenticationCode2="000001",
        )


def test_resync_by_another_principal_does_not_lock_the_owners_device(call: Call, clock: FixedClock) -> None:
    seed = _device(call)
    code1, code2 = _pair(seed, NOW)
    call("EnableMFADevice", UserName="u", SerialNumber=SERIAL, AuthenticationCode1=code1, AuthenticationCode2=code2)
    for _ in range(MFA_MAX_FAILURES):  # root (an administrator) fumbles the owner's device
        with pytest.raises(InvalidAuthenticationCodeException):
            call("ResyncMFADevice", UserName="u", SerialNumber=SERIAL, AuthenticationCode1="000000", AuthenticationCode2="000001")
    owner = call("GetUser", UserName="u")["User"]
    call("PutUserPolicy", UserName="u", PolicyName="self-mfa", PolicyDocument=SELF_MANAGE)
    u = Caller("user", ACCOUNT, owner["Arn"], owner["UserId"], "u", "AKIAUUUUUUUUUUUUUUUU")
    clock.advance(60)
    code1, code2 = _pair(seed, clock.now())
    call("ResyncMFADevice", caller=u, UserName="u", SerialNumber=SERIAL, AuthenticationCode1=code1, AuthenticationCode2=code2)
