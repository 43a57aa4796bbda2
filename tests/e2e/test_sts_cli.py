"""The AWS CLI against Tessera's STS: ``aws sts assume-role`` allowed and denied (with
the CLI's own encoding of tags, transitive keys and session policies), and a chain of
config profiles (``role_arn`` + ``source_profile``) used by ``aws sts
get-caller-identity --profile``, including the one-hour cap on role chaining.

Each CLI run gets an environment with no AWS_* variable but the test's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from serverproc import REGION, Credentials, TesseraServer
from sts_scenario import Scenario, allow, doc, trust

AWS_CLI = str(Path(sys.executable).with_name("aws"))


@pytest.fixture
def sc(sqlite_server: TesseraServer) -> Scenario:
    return Scenario(sqlite_server)


def _environment(home: Path, creds: Credentials | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_PAGER="",
    )
    if creds is not None:
        env.update(AWS_ACCESS_KEY_ID=creds.access_key_id, AWS_SECRET_ACCESS_KEY=creds.secret_access_key)
        if creds.session_token:
            env["AWS_SESSION_TOKEN"] = creds.session_token
    env.update(extra)
    return env


def _aws(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AWS_CLI, *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=60)


def _succeeded(run: subprocess.CompletedProcess[str]) -> Any:
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def _write_profiles(path: Path, profiles: dict[str, dict[str, str]]) -> None:
    lines: list[str] = []
    for name, values in profiles.items():
        lines.append(f"[profile {name}]")
        lines.extend(f"{key} = {value}" for key, value in values.items())
    path.write_text("\n".join(lines) + "\n")


def test_assume_role_allowed_then_used(sc: Scenario, tmp_path: Path) -> None:
    alice_arn, alice = sc.user("alice")
    role = sc.role(
        "R", trust({"AWS": alice_arn}, ["sts:AssumeRole", "sts:TagSession"]), policy=[allow("iam:ListRoles")], MaxSessionDuration=7200
    )
    endpoint = sc.server.endpoint
    assumed = _succeeded(
        _aws(
            _environment(tmp_path, alice),
            "sts",
            "assume-role",
            "--endpoint-url",
            endpoint,
            "--role-arn",
            role,
            "--role-session-name",
            "cli-session",
            "--duration-seconds",
            "7200",
            "--tags",
            "Key=team,Value=blue",
            "Key=cost,Value=42",
            "--transitive-tag-keys",
            "team",
            "--policy",
            doc(allow("iam:ListRoles")),
        )
    )
    assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{sc.account}:assumed-role/{sc.name('R')}/cli-session"
    assert 0 < assumed["PackedPolicySize"] <= 100
    session = Credentials.from_response(assumed["Credentials"])
    identity = _succeeded(_aws(_environment(tmp_path, session), "sts", "get-caller-identity", "--endpoint-url", endpoint))
    assert identity["Arn"] == assumed["AssumedRoleUser"]["Arn"]
    assert identity["UserId"] == assumed["AssumedRoleUser"]["AssumedRoleId"]


def test_assume_role_denied(sc: Scenario, tmp_path: Path) -> None:
    alice_arn, _ = sc.user("alice")
    mallory_arn, mallory = sc.user("mallory", allow("sts:AssumeRole"))
    role = sc.role("R", trust({"AWS": alice_arn}))
    run = _aws(
        _environment(tmp_path, mallory),
        "sts",
        "assume-role",
        "--endpoint-url",
        sc.server.endpoint,
        "--role-arn",
        role,
        "--role-session-name",
        "nope",
    )
    assert run.returncode != 0 and run.stdout == ""
    assert "(AccessDenied) when calling the AssumeRole operation: " in run.stderr
    assert f"User: {mallory_arn} is not authorized to perform: sts:AssumeRole on resource: {role}" in run.stderr


def test_profile_chain_of_roles(sc: Scenario, tmp_path: Path) -> None:
    alice_arn, alice = sc.user("alice")
    first = sc.role("First", trust({"AWS": alice_arn}))
    second = sc.role("Second", trust({"AWS": first}), MaxSessionDuration=7200)
    _write_profiles(
        tmp_path / "config",
        {
            "base": {"aws_access_key_id": alice.access_key_id, "aws_secret_access_key": alice.secret_access_key},
            "first": {"role_arn": first, "source_profile": "base", "role_session_name": "hop1"},
            "second": {"role_arn": second, "source_profile": "first", "role_session_name": "hop2"},
            "too-long": {"role_arn": second, "source_profile": "first", "duration_seconds": "3601"},
        },
    )
    env = _environment(tmp_path, AWS_ENDPOINT_URL=sc.server.endpoint)
    hop1 = _succeeded(_aws(env, "sts", "get-caller-identity", "--profile", "first"))
    assert hop1["Arn"] == f"arn:aws:sts::{sc.account}:assumed-role/{sc.name('First')}/hop1"
    hop2 = _succeeded(_aws(env, "sts", "get-caller-identity", "--profile", "second"))
    assert hop2["Arn"] == f"arn:aws:sts::{sc.account}:assumed-role/{sc.name('Second')}/hop2"
    capped = _aws(env, "sts", "get-caller-identity", "--profile", "too-long")
    assert capped.returncode != 0
    assert "ValidationError" in capped.stderr and "1 hour session limit" in capped.stderr
