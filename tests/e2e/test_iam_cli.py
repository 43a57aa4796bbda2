"""IAM through the AWS CLI (``aws``, installed in the virtualenv) against ``tessera serve``:
the flows an operator types by hand, including a refusal and a decoded trust policy.

The CLI runs as a subprocess with only the AWS_* variables set here, so nothing from the
developer's own AWS configuration leaks in. The SQLite server suffices: these tests are
about the CLI's view of the wire, which the backend does not change.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest
from policies import unique
from serverproc import REGION, Credentials, TesseraServer


def aws_cli() -> str:
    """The ``aws`` next to this interpreter (the virtualenv's), else one on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "aws")
    found = beside if os.path.exists(beside) else shutil.which("aws")
    if found is None:  # pragma: no cover - the dev environment installs awscli
        pytest.fail("the AWS CLI is not installed in the virtualenv")
    return found


def run_aws(server: TesseraServer, creds: Credentials, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=creds.access_key_id,
        AWS_SECRET_ACCESS_KEY=creds.secret_access_key,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_MAX_ATTEMPTS="1",
        AWS_PAGER="",
    )
    command = [aws_cli(), *args, "--endpoint-url", server.endpoint, "--output", "json"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def aws_json(server: TesseraServer, creds: Credentials, *args: str) -> dict[str, Any]:
    done = run_aws(server, creds, *args)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout)) if done.stdout.strip() else {}


def test_create_user_key_policy_and_list(sqlite_server: TesseraServer) -> None:
    server, root = sqlite_server, sqlite_server.root
    name, path = unique("cli"), f"/{unique('clip')}/"
    user = aws_json(server, root, "iam", "create-user", "--user-name", name, "--path", path)["User"]
    assert user["Arn"] == f"arn:aws:iam::{server.account_id}:user{path}{name}"
    key = aws_json(server, root, "iam", "create-access-key", "--user-name", name)["AccessKey"]
    assert key["UserName"] == name and key["Status"] == "Active"
    document = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]})
    assert (
        aws_json(server, root, "iam", "put-user-policy", "--user-name", name, "--policy-name", "lister", "--policy-document", document)
        == {}
    )
    creds = Credentials(key["AccessKeyId"], key["SecretAccessKey"])  # the new user lists with its new key
    listed = aws_json(server, creds, "iam", "list-users", "--path-prefix", path)["Users"]
    assert [(u["UserName"], u["UserId"], u["Arn"]) for u in listed] == [(name, user["UserId"], user["Arn"])]


def test_denied_call_exits_non_zero_with_access_denied(sqlite_server: TesseraServer) -> None:
    server = sqlite_server
    name = unique("clinone")
    creds = server.make_user(name)
    done = run_aws(server, creds, "iam", "list-roles")
    assert done.returncode != 0 and done.stdout == ""
    assert "(AccessDenied)" in done.stderr and "when calling the ListRoles operation" in done.stderr
    assert f"User: arn:aws:iam::{server.account_id}:user/{name} is not authorized to perform: iam:ListRoles" in done.stderr


def test_get_role_decodes_the_trust_policy(sqlite_server: TesseraServer) -> None:
    server, root = sqlite_server, sqlite_server.root
    name = unique("clirole")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringLike": {"aws:PrincipalTag/team": "a&b %20 + ü"}},
            }
        ],
    }
    aws_json(
        server,
        root,
        "iam",
        "create-role",
        "--role-name",
        name,
        "--assume-role-policy-document",
        json.dumps(trust),
        "--description",
        "made by the CLI",
        "--max-session-duration",
        "7200",
    )
    role = aws_json(server, root, "iam", "get-role", "--role-name", name)["Role"]
    assert role["AssumeRolePolicyDocument"] == trust
    assert (role["Description"], role["MaxSessionDuration"]) == ("made by the CLI", 7200)


def test_simulator_and_context_keys_from_the_cli(sqlite_server: TesseraServer) -> None:
    """The AWS CLI's own shorthand for ContextEntries reaches the simulator typed."""
    server, root = sqlite_server, sqlite_server.root
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::home/${aws:username}/*",
                    "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
                }
            ],
        }
    )
    keys = aws_json(server, root, "iam", "get-context-keys-for-custom-policy", "--policy-input-list", policy)
    assert keys["ContextKeyNames"] == ["aws:SourceIp", "aws:username"]
    caller = f"arn:aws:iam::{server.account_id}:user/erin"
    args = ["iam", "simulate-custom-policy", "--policy-input-list", policy, "--action-names", "s3:GetObject"]
    args += ["--resource-arns", "arn:aws:s3:::home/erin/a", "arn:aws:s3:::home/frank/a", "--caller-arn", caller]
    entry = "ContextKeyName=aws:SourceIp,ContextKeyValues=203.0.113.7,ContextKeyType=ip"
    result = aws_json(server, root, *args, "--context-entries", entry)["EvaluationResults"][0]
    assert [r["EvalResourceDecision"] for r in result["ResourceSpecificResults"]] == ["allowed", "implicitDeny"]
    bad = run_aws(server, root, *args, "--context-entries", "ContextKeyName=aws:SourceIp,ContextKeyValues=nowhere,ContextKeyType=ip")
    assert bad.returncode != 0 and "InvalidInput" in bad.stderr
