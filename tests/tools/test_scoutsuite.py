"""ScoutSuite's IAM rule set (``scout aws --services iam``, endpoint through botocore's
``AWS_ENDPOINT_URL``): the run must complete without a single handled error (exit 0, an
empty errors file), and its findings must describe the account Tessera holds: the user with
a console password and no MFA device, the password policy's weak points and strong points,
the root account (no MFA, active access keys) from the credential report."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyotp
from serverproc import ACCOUNT_ID, TesseraServer
from toolrun import failed_calls, run_tool, tool_bin, tool_env


def _populate(server: TesseraServer) -> None:
    iam = server.client("iam")
    # https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateAccountPasswordPolicy.html
    iam.update_account_password_policy(
        MinimumPasswordLength=8,
        RequireSymbols=True,
        RequireNumbers=True,
        RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True,
        MaxPasswordAge=60,
        PasswordReusePrevention=24,
    )
    iam.create_user(UserName="sc-console")
    iam.create_login_profile(UserName="sc-console", Password="Console-Passw0rd!")
    iam.create_access_key(UserName="sc-console")
    iam.put_user_policy(
        UserName="sc-console",
        PolicyName="read",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}),
    )
    iam.create_user(UserName="sc-secure")
    iam.create_login_profile(UserName="sc-secure", Password="Secure-Passw0rd!")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="sc-secure-mfa")["VirtualMFADevice"]
    totp = pyotp.TOTP(device["Base32StringSeed"].decode())
    now = int(time.time())
    iam.enable_mfa_device(
        UserName="sc-secure",
        SerialNumber=device["SerialNumber"],
        AuthenticationCode1=totp.at(now - 60),
        AuthenticationCode2=totp.at(now - 30),
    )
    iam.create_user(UserName="sc-service")
    iam.create_access_key(UserName="sc-service")


def _load_js(path: Path) -> Any:
    """ScoutSuite's results file is ``scoutsuite_results = {json}``."""
    return json.loads(path.read_text().split("\n", 1)[1])


def test_iam_rules(server: TesseraServer, tmp_path: Path) -> None:
    _populate(server)
    scout = tool_bin("scoutsuite", "scout")
    env = tool_env(server, tmp_path / "home")
    report = tmp_path / "report"
    done = run_tool(
        [scout, "aws", "--services", "iam", "--regions", "us-east-1", "--no-browser", "--report-dir", str(report), "--max-workers", "2"],
        env,
        tmp_path,
    )
    output = done.stdout + done.stderr
    # ScoutSuite writes this file only when it handled errors along the way, and then exits 200
    errors_file = report / "scoutsuite-results" / f"scoutsuite_errors_aws-{ACCOUNT_ID}.json"
    errors = errors_file.read_text() if errors_file.exists() else ""
    assert done.returncode == 0, f"failed calls: {sorted(failed_calls(output, errors))}\n{output[-5000:]}"
    assert errors == ""

    results = _load_js(report / "scoutsuite-results" / f"scoutsuite_results_aws-{ACCOUNT_ID}.js")
    iam = results["services"]["iam"]
    names = {user_id: user["name"] for user_id, user in iam["users"].items()}
    assert sorted(names.values()) == ["sc-console", "sc-secure", "sc-service"]
    assert iam["password_policy"]["MinimumPasswordLength"] == 8
    # ScoutSuite turns PasswordReusePrevention into a flag and keeps the count aside
    assert iam["password_policy"]["PasswordReusePrevention"] is True
    assert iam["password_policy"]["PreviousPasswordPrevented"] == 24
    assert iam["password_policy"]["MaxPasswordAge"] == 60

    findings = iam["findings"]

    def flagged_users(rule: str) -> list[str]:
        return sorted(names[item.split(".")[2]] for item in findings[rule]["items"])

    assert flagged_users("iam-user-without-mfa") == ["sc-console"]
    assert flagged_users("iam-user-with-password-and-key") == ["sc-console"]
    assert flagged_users("iam-user-with-inline-policies") == ["sc-console"]
    assert findings["iam-password-policy-minimum-length"]["flagged_items"] == 1
    assert findings["iam-password-policy-reuse-enabled"]["flagged_items"] == 0
    assert findings["iam-password-policy-no-expiration"]["flagged_items"] == 0
    assert findings["iam-password-policy-expiration-threshold"]["flagged_items"] == 0

    # The credential report has a row per user and one for the account's root user
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_getting-report.html).
    report_users = {row["name"]: row for row in iam["credential_reports"].values()}
    assert set(report_users) == {"<root_account>", "sc-console", "sc-secure", "sc-service"}
    assert report_users["sc-console"]["password_enabled"] == "true"
    assert report_users["sc-console"]["mfa_active"] == "false"
    assert report_users["sc-secure"]["mfa_active"] == "true"
    assert report_users["sc-service"]["password_enabled"] == "false"
    assert report_users["sc-service"]["access_key_1_active"] == "true"
    assert findings["iam-root-account-no-mfa"]["flagged_items"] == 1
    assert findings["iam-root-account-with-active-keys"]["flagged_items"] == 1
