"""EnableMFADevice and ResyncMFADevice under online guessing: failed code pairs are
limited per caller and per device, and a lock-out refuses right codes too (nothing is
written by a refused call)."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest

from conftest import ACCOUNT, NOW, Call
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
