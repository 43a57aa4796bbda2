"""cloudsplaining: ``download`` reads the account through GetAccountAuthorizationDetails,
``scan`` judges the policies it got. Its findings must be those of the account Tessera
holds: the inline ``iam:*`` policy is a privilege-escalation risk, the narrow managed
policy is not, the role's trust policy is what was stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from serverproc import TesseraServer
from toolrun import failed_calls, run_tool, tool_bin, tool_env

ACCOUNT = "111122223333"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}
READER = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports-bucket/*"}],
}


def _populate(server: TesseraServer) -> str:
    iam = server.client("iam")
    iam.create_user(UserName="cs-admin")
    iam.put_user_policy(UserName="cs-admin", PolicyName="everything-iam", PolicyDocument=json.dumps(ADMIN))
    iam.create_user(UserName="cs-reader")
    arn: str = iam.create_policy(PolicyName="cs-read-reports", PolicyDocument=json.dumps(READER))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="cs-reader", PolicyArn=arn)
    iam.create_group(GroupName="cs-readers")
    iam.add_user_to_group(GroupName="cs-readers", UserName="cs-reader")
    iam.create_role(RoleName="cs-instance", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.attach_role_policy(RoleName="cs-instance", PolicyArn=arn)
    return arn


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_download_and_scan(fresh_server: Callable[[str], TesseraServer], tmp_path: Path, backend: str) -> None:
    server = fresh_server(backend)
    policy_arn = _populate(server)
    program = tool_bin("cloudsplaining", "cloudsplaining")
    env = tool_env(server, tmp_path / "home")

    download = run_tool([program, "download", "--output", str(tmp_path)], env, tmp_path)
    assert download.returncode == 0, download.stdout + download.stderr
    assert failed_calls(download.stdout, download.stderr) == set()
    details = json.loads((tmp_path / "default.json").read_text())

    users = {u["UserName"]: u for u in details["UserDetailList"]}
    assert set(users) == {"cs-admin", "cs-reader"}
    assert users["cs-admin"]["UserPolicyList"][0]["PolicyName"] == "everything-iam"
    assert users["cs-admin"]["UserPolicyList"][0]["PolicyDocument"] == ADMIN
    assert users["cs-reader"]["AttachedManagedPolicies"] == [{"PolicyName": "cs-read-reports", "PolicyArn": policy_arn}]
    assert users["cs-reader"]["GroupList"] == ["cs-readers"]
    roles = {r["RoleName"]: r for r in details["RoleDetailList"]}
    assert roles["cs-instance"]["AssumeRolePolicyDocument"] == TRUST
    assert [g["GroupName"] for g in details["GroupDetailList"]] == ["cs-readers"]
    managed = {p["Arn"]: p for p in details["Policies"]}
    assert managed[policy_arn]["AttachmentCount"] == 2
    default = [v for v in managed[policy_arn]["PolicyVersionList"] if v["IsDefaultVersion"]]
    assert [v["Document"] for v in default] == [READER]

    out = tmp_path / "report"
    out.mkdir()
    scan = run_tool(
        [program, "scan", "--input-file", str(tmp_path / "default.json"), "--output", str(out), "--skip-open-report"], env, tmp_path
    )
    assert scan.returncode == 0, scan.stdout + scan.stderr
    results = json.loads((out / "iam-results-default.json").read_text())

    inline = {p["PolicyName"]: p for p in results["inline_policies"].values()}
    escalation = {f["type"] for f in inline["everything-iam"]["PrivilegeEscalation"]["findings"]}
    assert {"CreateAccessKey", "AttachUserPolicy", "CreateNewPolicyVersion"} <= escalation
    assert inline["everything-iam"]["AttachedTo"]["users"] == ["cs-admin"]
    customer = {p["PolicyName"]: p for p in results["customer_managed_policies"].values()}
    reader = customer["cs-read-reports"]
    assert reader["PrivilegeEscalation"]["findings"] == []
    assert sorted(reader["AttachedTo"]["users"]) == ["cs-reader"]
    assert sorted(reader["AttachedTo"]["roles"]) == ["cs-instance"]
    role = next(r for r in results["roles"].values() if r["name"] == "cs-instance")
    assert role["arn"] == f"arn:aws:iam::{ACCOUNT}:role/cs-instance"
    assert role["assume_role_policy"]["PolicyDocument"] == TRUST
