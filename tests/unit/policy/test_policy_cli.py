"""``tessera policy validate|simulate`` through the real argument parser and real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from policyhelp import A, doc

from tessera.cli.policy import main

USER = f"arn:aws:iam::{A}:user/dev"


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    return {
        "admin": _write(tmp_path, "admin.json", doc({"Sid": "All", "Effect": "Allow", "Action": "iam:*", "Resource": "*"})),
        "boundary": _write(
            tmp_path,
            "boundary.json",
            doc({"Effect": "Allow", "Action": "iam:Get*", "Resource": "*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}),
        ),
        "bad": _write(tmp_path, "bad.json", doc({"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"})),
        "trust": _write(tmp_path, "trust.json", doc({"Effect": "Allow", "Principal": {"AWS": USER}, "Action": "sts:AssumeRole"})),
        "scp_full": _write(tmp_path, "full.json", doc({"Effect": "Allow", "Action": "*", "Resource": "*"})),
        "scp_deny": _write(tmp_path, "deny.json", doc({"Effect": "Deny", "Action": "iam:Delete*", "Resource": "*"})),
    }


def test_validate_reports_each_file(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "validate", files["admin"]]) == 0
    assert "valid identity policy (1 statement)" in capsys.readouterr().out
    assert main(["policy", "validate", files["admin"], files["bad"]]) == 1
    out = capsys.readouterr().out
    assert f"{files['bad']}:4:5: MalformedPolicyDocument: Policy document should not specify a principal. [Statement[0].Principal]" in out


def test_validate_by_type_and_size(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "validate", "--type", "trust", files["trust"]]) == 0
    assert main(["policy", "validate", "--type", "trust", files["admin"]]) == 1
    assert "Missing required field Principal" in capsys.readouterr().out
    assert main(["policy", "validate", "--max-size", "10", files["admin"]]) == 1
    assert "LimitExceeded: Maximum policy size of 10 bytes exceeded." in capsys.readouterr().out


def test_validate_unreadable_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "validate", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_simulate_prints_decision_reason_and_missing_keys(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "policy",
            "simulate",
            "--identity",
            files["admin"],
            "--boundary",
            files["boundary"],
            "--principal-arn",
            USER,
            "--action",
            "iam:GetUser",
            "--resource",
            f"arn:aws:iam::{A}:user/bob",
        ]
    )
    out = capsys.readouterr().out
    assert status == 1
    assert out.splitlines() == [
        "Decision: implicitDeny",
        "Reason:   no permissions boundary allows the iam:GetUser action",
        f"Message:  User: {USER} is not authorized to perform: iam:GetUser on resource: arn:aws:iam::{A}:user/bob "
        "because no permissions boundary allows the iam:GetUser action",
        "Missing context keys: aws:MultiFactorAuthPresent",
    ]


def test_simulate_json_lists_matched_statements(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        [
            "policy",
            "simulate",
            "--identity",
            files["admin"],
            "--boundary",
            files["boundary"],
            "--principal-arn",
            USER,
            "--action",
            "iam:GetUser",
            "--context",
            "aws:MultiFactorAuthPresent=boolean:true",
            "--json",
        ]
    )
    result = json.loads(capsys.readouterr().out)
    assert status == 0
    assert result["decision"] == "allowed"
    first = result["matchedStatements"][0]
    assert (first["policyId"], first["policyType"], first["sid"], first["statementIndex"]) == (files["admin"], "identity", "All", 0)
    assert first["startPosition"] == {"line": 4, "column": 5}


def test_simulate_trust_policy_and_scp_levels(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    role = f"arn:aws:iam::{A}:role/R"
    assert (
        main(
            [
                "policy",
                "simulate",
                "--trust-policy",
                files["trust"],
                "--principal-arn",
                USER,
                "--action",
                "sts:AssumeRole",
                "--resource",
                role,
            ]
        )
        == 0
    )
    capsys.readouterr()
    levels = ["--scp", files["scp_full"], "--scp", f"{files['scp_full']},{files['scp_deny']}"]
    assert (
        main(
            [
                "policy",
                "simulate",
                "--identity",
                files["admin"],
                *levels,
                "--principal-arn",
                USER,
                "--action",
                "iam:DeleteUser",
                "--resource",
                f"arn:aws:iam::{A}:user/x",
            ]
        )
        == 1
    )
    assert "with an explicit deny in a service control policy" in capsys.readouterr().out


CONTEXT_ENTRIES = [
    ("string", "aws:PrincipalTag/team=string:red", True),
    ("string-list", "aws:TagKeys=stringList:a,b", True),
    ("numeric", "aws:MultiFactorAuthAge=numeric:10", True),
    ("ip", "aws:SourceIp=ip:10.0.0.1", True),
    ("date", "aws:CurrentTime=date:2024-01-01T00:00:00+00:00", True),
    ("missing-type", "aws:x=red", False),
    ("unknown-type", "aws:x=colour:red", False),
    ("bad-boolean", "aws:x=boolean:maybe", False),
    ("bad-numeric", "aws:x=numeric:ten", False),
]


@pytest.mark.parametrize(("entry", "ok"), [c[1:] for c in CONTEXT_ENTRIES], ids=[c[0] for c in CONTEXT_ENTRIES])
def test_simulate_context_entries(files: dict[str, str], entry: str, ok: bool, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(
        ["policy", "simulate", "--identity", files["admin"], "--principal-arn", USER, "--action", "iam:GetUser", "--context", entry]
    )
    assert (status == 0) is ok
    if not ok:
        assert status == 2 and capsys.readouterr().err.startswith("error: ")


def test_simulate_invalid_policy_file_is_a_usage_error(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "simulate", "--identity", files["bad"], "--principal-arn", USER, "--action", "iam:GetUser"]) == 2
    assert "should not specify a principal" in capsys.readouterr().err


def test_simulate_rejects_unknown_principal_arn(files: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "simulate", "--principal-arn", "bob", "--action", "iam:GetUser"]) == 2
    assert "is not a principal ARN" in capsys.readouterr().err
