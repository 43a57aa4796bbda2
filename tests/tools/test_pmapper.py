"""principalmapper: ``pmapper graph create`` reads the account (GetAccountAuthorizationDetails,
access keys, login profiles, MFA devices) through botocore's ``AWS_ENDPOINT_URL``; then
``pmapper query`` must answer what Tessera's policies say: a direct grant, a grant through a
group, a grant reached by assuming a role whose trust policy names the user, and no grant."""

from __future__ import annotations

import json
from pathlib import Path

from serverproc import ACCOUNT_ID, TesseraServer
from toolrun import failed_calls, run_tool, tool_bin, tool_env


def _allow(action: str, resource: str = "*") -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]})


def _populate(server: TesseraServer) -> None:
    iam = server.client("iam")
    iam.create_user(UserName="pm-direct")
    iam.put_user_policy(UserName="pm-direct", PolicyName="create-users", PolicyDocument=_allow("iam:CreateUser"))
    iam.create_user(UserName="pm-member")
    iam.create_group(GroupName="pm-creators")
    iam.put_group_policy(GroupName="pm-creators", PolicyName="create-users", PolicyDocument=_allow("iam:CreateUser"))
    iam.add_user_to_group(GroupName="pm-creators", UserName="pm-member")
    iam.create_user(UserName="pm-hopper")
    role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/pm-creator"
    iam.put_user_policy(UserName="pm-hopper", PolicyName="assume", PolicyDocument=_allow("sts:AssumeRole", role_arn))
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:user/pm-hopper"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName="pm-creator", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName="pm-creator", PolicyName="create-users", PolicyDocument=_allow("iam:CreateUser"))
    iam.create_user(UserName="pm-reader")
    iam.put_user_policy(UserName="pm-reader", PolicyName="read", PolicyDocument=_allow("s3:GetObject"))
    iam.create_access_key(UserName="pm-reader")


def test_graph_and_queries(server: TesseraServer, tmp_path: Path) -> None:
    _populate(server)
    pmapper = tool_bin("principalmapper", "pmapper")
    env = tool_env(server, tmp_path / "home")
    # Edges only from IAM and STS: Tessera serves no EC2, Lambda, CloudFormation...
    create = run_tool(
        [pmapper, "graph", "create", "--ignore-orgs", "--include-regions", "us-east-1", "--include-services", "iam", "sts"],
        env,
        tmp_path,
    )
    output = create.stdout + create.stderr
    assert create.returncode == 0, f"failed calls: {sorted(failed_calls(output))}\n{output}"
    assert failed_calls(output) == set(), output

    def query(text: str) -> str:
        done = run_tool([pmapper, "--account", ACCOUNT_ID, "query", "-u", text], env, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout.strip()

    assert (
        query("can user/pm-direct do iam:CreateUser with *") == "user/pm-direct IS authorized to call action iam:CreateUser for resource *"
    )
    assert (
        query("can user/pm-member do iam:CreateUser with *") == "user/pm-member IS authorized to call action iam:CreateUser for resource *"
    )
    assert query("can user/pm-hopper do iam:CreateUser with *").splitlines() == [
        "user/pm-hopper CAN call action iam:CreateUser for resource * THRU role/pm-creator",
        "   user/pm-hopper can access via sts:AssumeRole role/pm-creator",
        "   role/pm-creator IS authorized to call action iam:CreateUser for resource *",
    ]
    assert query("can user/pm-reader do iam:CreateUser with *") == "user/pm-reader CANNOT call action iam:CreateUser for resource *"
    assert query("can user/pm-reader do s3:GetObject with arn:aws:s3:::any-bucket/key") == (
        "user/pm-reader IS authorized to call action s3:GetObject for resource arn:aws:s3:::any-bucket/key"
    )
    assert query("can role/pm-creator do iam:DeleteUser with *") == "role/pm-creator CANNOT call action iam:DeleteUser for resource *"
