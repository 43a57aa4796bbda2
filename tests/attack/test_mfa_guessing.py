"""Online guessing of MFA codes against a real server.

An attacker holding a user's access key (but not the MFA device) tries TokenCodes
through GetSessionToken/AssumeRole, or code pairs through EnableMFADevice and
ResyncMFADevice. Each principal and each device gets a handful of failures per window,
then every attempt — right code included — is answered ``Throttling`` until the
lock-out ends; the failures are in the audit trail with the serial, never the code.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from botocore.exceptions import ClientError
from serverproc import Credentials, TesseraServer

from tessera.services.throttle import MFA_MAX_FAILURES, FailureLimiter, Limits, Locked


def _error(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as refused:
        call()
    response = refused.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def _user_with_device(server: TesseraServer, name: str, policy: dict[str, Any] | None = None) -> tuple[Credentials, str, pyotp.TOTP]:
    creds = server.make_user(name, policy)
    iam = server.client("iam")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{name}-mfa")["VirtualMFADevice"]
    totp = pyotp.TOTP(device["Base32StringSeed"].decode())
    now = int(time.time())
    iam.enable_mfa_device(
        UserName=name, SerialNumber=device["SerialNumber"], AuthenticationCode1=totp.at(now - 60), AuthenticationCode2=totp.at(now - 30)
    )
    return creds, str(device["SerialNumber"]), totp


def _wrong(totp: pyotp.TOTP) -> str:
    now = int(time.time())
    valid = {totp.at(now + delta) for delta in (-60, -30, 0, 30, 60)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in valid)


def test_guessing_token_codes_is_locked_out_and_a_right_code_is_then_refused_alike(target: TesseraServer) -> None:
    creds, serial, totp = _user_with_device(target, "guessed")
    sts = target.client("sts", creds)
    for _ in range(MFA_MAX_FAILURES):
        code, status, _ = _error(lambda: sts.get_session_token(SerialNumber=serial, TokenCode=_wrong(totp)))
        assert (code, status) == ("AccessDenied", 403)
    right = _error(lambda: sts.get_session_token(SerialNumber=serial, TokenCode=totp.now()))
    wrong = _error(lambda: sts.get_session_token(SerialNumber=serial, TokenCode=_wrong(totp)))
    assert right == wrong == ("Throttling", 400, "Rate exceeded")
    # calls without MFA are not affected by the lock-out
    assert target.client("sts", creds).get_caller_identity()["Arn"].endswith(":user/guessed")


def test_spreading_guesses_over_access_keys_and_operations_does_not_help(target: TesseraServer) -> None:
    creds, serial, totp = _user_with_device(
        target,
        "spreader",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "iam:CreateAccessKey"], "Resource": "*"}],
        },
    )
    role_arn = target.client("iam").create_role(
        RoleName="spreader-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{target.account_id}:user/spreader"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    keys = [creds, Credentials.from_response(target.client("iam").create_access_key(UserName="spreader")["AccessKey"])]
    for i in range(MFA_MAX_FAILURES):
        sts = target.client("sts", keys[i % 2])
        if i % 2:
            call: Callable[[], Any] = lambda sts=sts: sts.assume_role(  # noqa: E731
                RoleArn=role_arn, RoleSessionName="s1", SerialNumber=serial, TokenCode=_wrong(totp)
            )
        else:
            call = lambda sts=sts: sts.get_session_token(SerialNumber=serial, TokenCode=_wrong(totp))  # noqa: E731
        assert _error(call)[0] == "AccessDenied"
    for key in keys:
        sts = target.client("sts", key)
        assert (
            _error(lambda sts=sts: sts.assume_role(RoleArn=role_arn, RoleSessionName="s1", SerialNumber=serial, TokenCode=totp.now()))[0]
            == "Throttling"
        )


def test_guessing_enable_codes_is_locked_out(target: TesseraServer) -> None:
    """The caller (an administrator with a stolen key, here) is limited; the device, not
    yet anyone's, is not (see the enrolment test below)."""
    admin = target.make_user(
        "enroll-admin",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}],
        },
    )
    iam = target.client("iam", admin)
    iam.create_user(UserName="enroller")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="enroller-mfa")["VirtualMFADevice"]
    serial, totp = device["SerialNumber"], pyotp.TOTP(device["Base32StringSeed"].decode())
    for n in range(MFA_MAX_FAILURES):
        assert (
            _error(
                lambda n=n: iam.enable_mfa_device(
                    UserName="enroller", SerialNumber=serial, AuthenticationCode1=f"{n:06d}", AuthenticationCode2=f"{n:06d}"
                )
            )[0]
            == "InvalidAuthenticationCode"
        )
    now = int(time.time())
    refused = _error(
        lambda: iam.enable_mfa_device(
            UserName="enroller", SerialNumber=serial, AuthenticationCode1=totp.at(now - 30), AuthenticationCode2=totp.at(now)
        )
    )
    assert refused[:2] == ("Throttling", 400)
    assert iam.list_mfa_devices(UserName="enroller")["MFADevices"] == []  # nothing written


def test_a_used_code_cannot_be_replayed(target: TesseraServer) -> None:
    creds, serial, totp = _user_with_device(target, "replayed")
    sts = target.client("sts", creds)
    code = totp.now()
    sts.get_session_token(SerialNumber=serial, TokenCode=code)
    assert _error(lambda: sts.get_session_token(SerialNumber=serial, TokenCode=code))[0] == "AccessDenied"


def test_failed_and_throttled_attempts_are_audited_with_the_serial_never_the_code(
    fresh_target: Callable[..., TesseraServer],
) -> None:
    server = fresh_target()
    creds, serial, totp = _user_with_device(server, "audited")
    sts = server.client("sts", creds)
    guesses = [_wrong(totp)] * MFA_MAX_FAILURES + [totp.now()]
    for guess in guesses:
        with pytest.raises(ClientError):
            sts.get_session_token(SerialNumber=serial, TokenCode=guess)
    assert server.stop() == 0  # graceful shutdown flushes the trail
    out = subprocess.run(
        [sys.executable, "-m", "tessera", "audit", "--data-dir", server.data_dir, "--json", "--event-name", "GetSessionToken"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    codes = [r.get("errorCode") for r in records]
    assert codes.count("AccessDenied") == MFA_MAX_FAILURES
    assert codes.count("Throttling") >= 1 and set(codes) == {"AccessDenied", "Throttling"}  # botocore may retry
    for record in records:
        assert record["requestParameters"]["serialNumber"] == serial
        assert record["requestParameters"]["tokenCode"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
        assert record["userIdentity"]["userName"] == "audited"
    for guess in set(guesses):
        assert f'"{guess}"' not in out.stdout


SELF_MANAGE_MFA = {
    "Version": "2012-10-17",
    "Statement": [
        # AWS's example policy for users who manage their own MFA device
        # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_iam_mfa-selfmanage.html)
        {"Effect": "Allow", "Action": "iam:CreateVirtualMFADevice", "Resource": "arn:aws:iam::*:mfa/*"},
        {
            "Effect": "Allow",
            "Action": ["iam:EnableMFADevice", "iam:ResyncMFADevice", "iam:ListMFADevices"],
            "Resource": "arn:aws:iam::*:user/${aws:username}",
        },
        {"Effect": "Allow", "Action": ["iam:UpdateUser"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["sts:GetSessionToken"], "Resource": "*"},
    ],
}


def test_another_user_cannot_lock_a_victim_out_of_enrolling_a_device(target: TesseraServer) -> None:
    """mallory, allowed to manage only her own MFA, sends wrong pairs for the victim's
    new (not yet enabled) device: she locks herself out, the victim still enrols."""
    victim = target.make_user("enrol-victim", SELF_MANAGE_MFA)
    mallory = target.make_user("enrol-mallory", SELF_MANAGE_MFA)
    viam, miam = target.client("iam", victim), target.client("iam", mallory)
    device = viam.create_virtual_mfa_device(VirtualMFADeviceName="enrol-victim")["VirtualMFADevice"]
    serial, totp = device["SerialNumber"], pyotp.TOTP(device["Base32StringSeed"].decode())
    for n in range(MFA_MAX_FAILURES):
        assert (
            _error(
                lambda n=n: miam.enable_mfa_device(
                    UserName="enrol-mallory", SerialNumber=serial, AuthenticationCode1=f"{n:06d}", AuthenticationCode2=f"{n + 1:06d}"
                )
            )[0]
            == "InvalidAuthenticationCode"
        )
    assert _error(
        lambda: miam.enable_mfa_device(
            UserName="enrol-mallory", SerialNumber=serial, AuthenticationCode1="000000", AuthenticationCode2="000001"
        )
    )[:2] == ("Throttling", 400)
    now = int(time.time())
    viam.enable_mfa_device(
        UserName="enrol-victim", SerialNumber=serial, AuthenticationCode1=totp.at(now - 30), AuthenticationCode2=totp.at(now)
    )
    assert [d["SerialNumber"] for d in viam.list_mfa_devices(UserName="enrol-victim")["MFADevices"]] == [serial]


def test_renaming_oneself_does_not_reset_the_mfa_budget(target: TesseraServer) -> None:
    creds = target.make_user("renamer", SELF_MANAGE_MFA)
    sts, iam = target.client("sts", creds), target.client("iam", creds)
    bogus = f"arn:aws:iam::{target.account_id}:mfa/nothing"
    for _ in range(MFA_MAX_FAILURES):
        assert _error(lambda: sts.get_session_token(SerialNumber=bogus, TokenCode="123456"))[0] == "AccessDenied"
    iam.update_user(UserName="renamer", NewUserName="renamer-2", NewPath="/elsewhere/")
    assert _error(lambda: sts.get_session_token(SerialNumber=bogus, TokenCode="123456"))[:2] == ("Throttling", 400)


def test_flooding_the_limiter_with_fresh_keys_forgets_no_failure() -> None:
    """The eviction attack, in process on a small table (the server's holds 32 768
    entries): a device holding failures is not pushed out by many fresh keys that each
    fail once — say one principal key per rename — so its next failures still lock it."""
    limits = Limits(max_entries=16)
    limiter = FailureLimiter(limits)
    start = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    device = "mfa-device:arn:aws:iam::111122223333:mfa/victim"

    def fail(keys: list[str], at: dt.datetime) -> None:
        with limiter.attempt(keys, at) as attempt:
            attempt.fail()

    for _ in range(limits.max_failures - 1):
        fail(["principal:AIDAATTACKER", device], start)
    for i in range(1000):
        fail([f"principal:AIDAFILLER{i}"], start + dt.timedelta(seconds=1))
    fail(["principal:AIDAACCOMPLICE", device], start + dt.timedelta(seconds=2))
    with pytest.raises(Locked), limiter.attempt(["principal:AIDAOTHER", device], start + dt.timedelta(seconds=2)):
        pass


def test_retrying_a_used_code_does_not_lock_its_user_out(target: TesseraServer) -> None:
    """A script that sends one code several times (parallel calls, retries) gets it
    accepted once and refused afterwards, and can go on with the next code."""
    creds, serial, totp = _user_with_device(target, "retrier")
    sts = target.client("sts", creds)
    now = int(time.time())
    sts.get_session_token(SerialNumber=serial, TokenCode=totp.at(now))
    for _ in range(MFA_MAX_FAILURES + 1):
        assert _error(lambda: sts.get_session_token(SerialNumber=serial, TokenCode=totp.at(now)))[0] == "AccessDenied"
    sts.get_session_token(SerialNumber=serial, TokenCode=totp.at(now + 30))
