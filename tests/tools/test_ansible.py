"""Ansible's amazon.aws collection: ``ansible-playbook`` on localhost runs
``ansible/iam.yml`` (iam_managed_policy, iam_role, iam_policy, iam_user with a password,
iam_password_policy, iam_instance_profile, and the iam_role_info, iam_user_info,
iam_instance_profile_info modules, whose answers the playbook asserts) against Tessera
with ``endpoint_url``. The resulting state is checked through boto3, and a second run of
the same playbook must change nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

from serverproc import ACCOUNT_ID, TesseraServer
from toolrun import failed_calls, run_tool, tool_bin, tool_env

PLAYBOOK = Path(__file__).parent / "ansible" / "iam.yml"
RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


def _play(server: TesseraServer, tmp_path: Path) -> tuple[int, int, str]:
    """Run the playbook; return (ok, changed) from its recap and its whole output."""
    program = tool_bin("ansible", "ansible-playbook")
    extra = {
        "endpoint": server.endpoint,
        "access_key": server.root.access_key_id,
        "secret_key": server.root.secret_access_key,
        "account": ACCOUNT_ID,
    }
    env = tool_env(
        server,
        tmp_path / "home",
        {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"), "ANSIBLE_RETRY_FILES_ENABLED": "0"},
    )
    done = run_tool([program, "-i", "localhost,", str(PLAYBOOK), "--extra-vars", json.dumps(extra)], env, tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"failed calls: {sorted(failed_calls(output))}\n{output[-8000:]}"
    recap = RECAP.search(done.stdout)
    assert recap is not None, output
    ok, changed, unreachable, failed = map(int, recap.groups())
    assert (unreachable, failed) == (0, 0), output
    return ok, changed, output


def test_playbook_converges_and_is_idempotent(server: TesseraServer, tmp_path: Path) -> None:
    ok, changed, first = _play(server, tmp_path)
    assert changed == 7, first  # every resource task created something

    iam = server.client("iam")
    role = iam.get_role(RoleName="ans-app")["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/apps/ans-app"
    assert role["Path"] == "/apps/"
    assert role["Description"] == "Reports application"
    assert role["MaxSessionDuration"] == 7200
    assert role["AssumeRolePolicyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    policy_arn = f"arn:aws:iam::{ACCOUNT_ID}:policy/ans-read-reports"
    assert iam.list_attached_role_policies(RoleName="ans-app")["AttachedPolicies"] == [
        {"PolicyName": "ans-read-reports", "PolicyArn": policy_arn}
    ]
    logs = iam.get_role_policy(RoleName="ans-app", PolicyName="write-logs")["PolicyDocument"]
    assert logs["Statement"][0]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]

    assert iam.get_user(UserName="ans-deployer")["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:user/ans-deployer"
    assert iam.list_attached_user_policies(UserName="ans-deployer")["AttachedPolicies"] == [
        {"PolicyName": "ans-read-reports", "PolicyArn": policy_arn}
    ]
    deploy = iam.get_user_policy(UserName="ans-deployer", PolicyName="deploy")["PolicyDocument"]
    assert deploy["Statement"][0]["Resource"] == f"arn:aws:iam::{ACCOUNT_ID}:role/apps/ans-app"
    assert iam.get_login_profile(UserName="ans-deployer")["LoginProfile"]["UserName"] == "ans-deployer"

    managed = iam.get_policy(PolicyArn=policy_arn)["Policy"]
    assert (managed["AttachmentCount"], managed["Description"]) == (2, "Read the reports bucket")

    password_policy = iam.get_account_password_policy()["PasswordPolicy"]
    assert password_policy["MinimumPasswordLength"] == 14
    assert password_policy["RequireSymbols"] and password_policy["RequireNumbers"]
    assert password_policy["RequireUppercaseCharacters"] and password_policy["RequireLowercaseCharacters"]
    assert password_policy["AllowUsersToChangePassword"] is True
    assert (password_policy["MaxPasswordAge"], password_policy["PasswordReusePrevention"]) == (90, 5)
    assert password_policy["ExpirePasswords"] is True  # follows from MaxPasswordAge
    assert password_policy.get("HardExpiry", False) is False

    profile = iam.get_instance_profile(InstanceProfileName="ans-app-profile")["InstanceProfile"]
    assert profile["Path"] == "/apps/"
    assert [r["RoleName"] for r in profile["Roles"]] == ["ans-app"]

    ok_again, changed_again, second = _play(server, tmp_path)
    assert changed_again == 0, second
    assert ok_again == ok
