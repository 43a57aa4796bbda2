"""Online guessing of a console password through ChangePassword.

An attacker holding a user's access key (but not its password) tries old passwords.
Each user gets a handful of failures per window, then every attempt — the right
password included — is answered ``LimitExceeded`` and nothing changes; no attempt ever
reaches the audit trail in clear.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from serverproc import TesseraServer

from tessera.services.throttle import MFA_MAX_FAILURES

PASSWORD = "Guarded-Password-1"


def _error(call: Callable[[], Any]) -> tuple[str, int]:
    with pytest.raises(ClientError) as refused:
        call()
    response = refused.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_wrong_old_passwords_lock_the_user_out_even_for_the_right_one(target: TesseraServer) -> None:
    iam = target.client("iam")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ChangePassword", "Resource": "*"}]}
    creds = target.make_user("guessed", policy)
    iam.create_login_profile(UserName="guessed", Password=PASSWORD)
    attacker = target.client("iam", creds)
    guesses = [f"Guess-Number-{n}" for n in range(MFA_MAX_FAILURES)]
    for guess in guesses:
        assert _error(lambda g=guess: attacker.change_password(OldPassword=g, NewPassword="Taken-Over-99")) == ("AccessDenied", 403)
    assert _error(lambda: attacker.change_password(OldPassword=PASSWORD, NewPassword="Taken-Over-99")) == ("LimitExceeded", 409)
    # another user is not locked out by this one's failures
    other_creds = target.make_user("bystander", policy)
    iam.create_login_profile(UserName="bystander", Password=PASSWORD)
    target.client("iam", other_creds).change_password(OldPassword=PASSWORD, NewPassword="Bystander-Pass-2")
    target.stop()
    trail = subprocess.run(
        [sys.executable, "-m", "tessera", "audit", "--data-dir", target.data_dir, "--json"], capture_output=True, text=True, timeout=60
    )
    target.start()
    assert trail.returncode == 0, trail.stderr
    codes = [r.get("errorCode") for r in [json.loads(line) for line in trail.stdout.splitlines()] if r["eventName"] == "ChangePassword"]
    assert sorted(codes, key=str) == sorted(["AccessDenied"] * MFA_MAX_FAILURES + ["LimitExceeded", None], key=str)
    for secret in (PASSWORD, "Taken-Over-99", "Bystander-Pass-2", *guesses):
        assert secret not in trail.stdout
