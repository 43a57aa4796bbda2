"""Console passwords, the account password policy, account aliases and the credential
report against a real ``tessera serve``, with boto3 on SQLite and PostgreSQL and with the
AWS CLI; the audit trail never holds a password."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from serverproc import CLIENT_CONFIG, TesseraServer
from test_iam_cli import aws_json, run_aws

FIRST = "First-Password-1"
SECOND = "Second-Password-2"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_of(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def self_service(user_arn: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["iam:ChangePassword", "iam:GetUser"], "Resource": user_arn}],
    }


def test_login_profile_and_change_password(iam: Any, server: TesseraServer) -> None:
    name = unique("pw")
    creds = server.make_user(name)
    arn = iam.get_user(UserName=name)["User"]["Arn"]
    assert error_of(lambda: iam.get_login_profile(UserName=name))[:2] == ("NoSuchEntity", 404)
    profile = iam.create_login_profile(UserName=name, Password=FIRST, PasswordResetRequired=True)["LoginProfile"]
    assert profile["UserName"] == name and profile["PasswordResetRequired"] is True
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is True
    assert error_of(lambda: iam.create_login_profile(UserName=name, Password=FIRST))[:2] == ("EntityAlreadyExists", 409)
    assert error_of(lambda: iam.delete_user(UserName=name))[:2] == ("DeleteConflict", 409)

    user_iam = server.client("iam", creds)
    code, status, _ = error_of(lambda: user_iam.change_password(OldPassword=FIRST, NewPassword=SECOND))
    assert (code, status) == ("AccessDenied", 403)
    iam.put_user_policy(UserName=name, PolicyName="self", PolicyDocument=json.dumps(self_service(arn)))
    code, status, message = error_of(lambda: user_iam.change_password(OldPassword="Not-The-Password-1", NewPassword=SECOND))
    assert (code, status) == ("AccessDenied", 403) and "old password" in message
    code, status, message = error_of(lambda: user_iam.change_password(OldPassword=FIRST, NewPassword="short"))
    assert (code, status) == ("PasswordPolicyViolation", 400) and "minimum length" in message
    user_iam.change_password(OldPassword=FIRST, NewPassword=SECOND)
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is False
    assert "PasswordLastUsed" not in iam.get_user(UserName=name)["User"]
    iam.update_login_profile(UserName=name, Password=FIRST, PasswordResetRequired=True)
    assert error_of(lambda: iam.change_password(OldPassword=FIRST, NewPassword=SECOND))[:2] == ("InvalidUserType", 400)

    iam.delete_login_profile(UserName=name)
    assert error_of(lambda: iam.get_login_profile(UserName=name))[:2] == ("NoSuchEntity", 404)


def test_password_policy_round_trip_and_enforcement(iam: Any, server: TesseraServer) -> None:
    with contextlib.suppress(ClientError):
        iam.delete_account_password_policy()
    code, status, message = error_of(iam.get_account_password_policy)
    assert (code, status) == ("NoSuchEntity", 404) and "The Password Policy with domain name" in message
    iam.update_account_password_policy(
        MinimumPasswordLength=14,
        RequireSymbols=True,
        RequireNumbers=True,
        RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True,
        AllowUsersToChangePassword=True,
        MaxPasswordAge=90,
        PasswordReusePrevention=24,
        HardExpiry=False,
    )
    policy = iam.get_account_password_policy()["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] == 14 and policy["ExpirePasswords"] is True
    assert policy["MaxPasswordAge"] == 90 and policy["PasswordReusePrevention"] == 24 and policy["HardExpiry"] is False
    unchecked = server.client("iam", config=CLIENT_CONFIG.merge(Config(parameter_validation=False)))
    code, status, _ = error_of(lambda: unchecked.update_account_password_policy(MinimumPasswordLength=5))
    assert (code, status) == ("ValidationError", 400)

    name = unique("pol")
    creds = server.make_user(name)
    assert error_of(lambda: iam.create_login_profile(UserName=name, Password="Short-Pass-1"))[0] == "PasswordPolicyViolation"
    iam.create_login_profile(UserName=name, Password="Long-Password-14!")
    user_iam = server.client("iam", creds)
    # AllowUsersToChangePassword: no identity policy needed to change one's own password
    assert user_iam.get_account_password_policy()["PasswordPolicy"]["AllowUsersToChangePassword"] is True
    user_iam.change_password(OldPassword="Long-Password-14!", NewPassword="Other-Password-14!")
    code, _, _ = error_of(lambda: user_iam.change_password(OldPassword="Other-Password-14!", NewPassword="Long-Password-14!"))
    assert code == "PasswordPolicyViolation"
    assert error_of(lambda: user_iam.update_account_password_policy())[:2] == ("AccessDenied", 403)
    iam.delete_account_password_policy()
    assert error_of(iam.delete_account_password_policy)[:2] == ("NoSuchEntity", 404)


def test_account_alias(iam: Any, server: TesseraServer) -> None:
    alias = unique("corp")
    iam.create_account_alias(AccountAlias=alias)
    assert iam.list_account_aliases()["AccountAliases"] == [alias]
    second = unique("corp2")
    iam.create_account_alias(AccountAlias=second)
    assert iam.list_account_aliases() | {"ResponseMetadata": None} == {
        "AccountAliases": [second],
        "IsTruncated": False,
        "ResponseMetadata": None,
    }
    assert error_of(lambda: iam.create_account_alias(AccountAlias="Bad--Alias"))[:2] == ("ValidationError", 400)
    outsider = server.client("iam", server.make_user(unique("noalias")))
    assert error_of(lambda: outsider.delete_account_alias(AccountAlias=second))[:2] == ("AccessDenied", 403)
    iam.delete_account_alias(AccountAlias=second)
    assert error_of(lambda: iam.delete_account_alias(AccountAlias=second))[:2] == ("NoSuchEntity", 404)
    assert iam.list_account_aliases()["AccountAliases"] == []


def test_credential_report(iam: Any, server: TesseraServer) -> None:
    name = unique("report")
    server.make_user(name)
    iam.create_login_profile(UserName=name, Password=FIRST)
    first = iam.generate_credential_report()
    if first["State"] == "STARTED":  # a report of this server younger than 4 hours is reused
        assert iam.generate_credential_report()["State"] == "COMPLETE"
    report = iam.get_credential_report()
    assert report["ReportFormat"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(report["Content"].decode("utf-8"))))
    assert rows[0]["user"] == "<root_account>" and rows[0]["password_enabled"] == "not_supported"
    mine = next(r for r in rows if r["user"] == name)
    assert mine["password_enabled"] == "true" and mine["access_key_1_active"] == "true"
    assert mine["access_key_1_last_used_date"] == "N/A" or mine["access_key_1_last_used_date"].endswith("+00:00")
    outsider = server.client("iam", server.make_user(unique("noreport")))
    assert error_of(outsider.get_credential_report)[:2] == ("AccessDenied", 403)


def test_password_flow_with_the_cli_and_no_password_in_the_audit_trail(fresh_server: Any) -> None:
    server = fresh_server()
    root = server.root
    name = unique("cli-pw")
    aws_json(server, root, "iam", "create-user", "--user-name", name)
    created = aws_json(server, root, "iam", "create-login-profile", "--user-name", name, "--password", FIRST)
    assert created["LoginProfile"]["UserName"] == name
    assert aws_json(server, root, "iam", "get-login-profile", "--user-name", name)["LoginProfile"]["UserName"] == name
    aws_json(server, root, "iam", "update-account-password-policy", "--minimum-password-length", "12", "--require-numbers")
    refused = run_aws(server, root, "iam", "update-login-profile", "--user-name", name, "--password", "no-digits-here")
    assert refused.returncode != 0 and "PasswordPolicyViolation" in refused.stderr
    aws_json(server, root, "iam", "update-login-profile", "--user-name", name, "--password", SECOND)
    aws_json(server, root, "iam", "create-account-alias", "--account-alias", unique("cli"))
    assert aws_json(server, root, "iam", "generate-credential-report")["State"] == "STARTED"
    server.stop()
    out = subprocess.run(
        [sys.executable, "-m", "tessera", "audit", "--data-dir", server.data_dir, "--json"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "CreateLoginProfile" in out.stdout and "HIDDEN_DUE_TO_SECURITY_REASONS" in out.stdout
    for password in (FIRST, SECOND, "no-digits-here"):
        assert password not in out.stdout
        assert password not in server.log()
        for entry in os.listdir(server.data_dir):
            path = os.path.join(server.data_dir, entry)
            if os.path.isfile(path):
                with open(path, "rb") as handle:
                    assert password.encode() not in handle.read()
