"""Session lifetime end to end: restarts, expiry and clock skew (injected with
TESSERA_CLOCK_OFFSET_SECONDS), refreshable credentials from AWS config profiles (boto3
and the AWS CLI), and the ``tessera`` session commands."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import pyotp
import pytest
from botocore.exceptions import ClientError
from serverproc import Credentials, TesseraServer

AWS_CLI = str(Path(sys.executable).with_name("aws"))


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _setup(server: TesseraServer, trust_extra: dict[str, Any] | None = None) -> tuple[Credentials, str]:
    """User alice and role R trusting her; R may do anything in IAM."""
    alice = server.make_user("alice")
    iam = server.client("iam")
    trust = {
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:user/alice"},
        "Action": "sts:AssumeRole",
        **(trust_extra or {}),
    }
    role = iam.create_role(RoleName="R", AssumeRolePolicyDocument=_doc(trust), MaxSessionDuration=43200)["Role"]["Arn"]
    iam.put_role_policy(RoleName="R", PolicyName="all", PolicyDocument=_doc({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}))
    return alice, str(role)


def _assume(server: TesseraServer, creds: Credentials, role: str, **params: Any) -> Credentials:
    response = server.client("sts", creds).assume_role(RoleArn=role, RoleSessionName="s1", **params)
    return Credentials.from_response(response["Credentials"])


def _shift_client_clock(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Sign as a client whose clock agrees with a server started with an offset."""
    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() + dt.timedelta(seconds=seconds))


def _error_code(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as error:
        call()
    return str(error.value.response["Error"]["Code"])


def test_sessions_survive_restart_and_expire_on_time(fresh_server: Callable[..., TesseraServer], monkeypatch: pytest.MonkeyPatch) -> None:
    server = fresh_server()
    alice, role = _setup(server)
    session = _assume(server, alice, role, DurationSeconds=900)
    server.restart()
    assert server.client("sts", session).get_caller_identity()["Arn"].endswith(":assumed-role/R/s1")

    server.restart({"TESSERA_CLOCK_OFFSET_SECONDS": "880"})
    _shift_client_clock(monkeypatch, 880)
    assert server.client("sts", session).get_caller_identity()["Account"] == server.account_id

    server.restart({"TESSERA_CLOCK_OFFSET_SECONDS": "905"})
    _shift_client_clock(monkeypatch, 905 - 880)
    assert _error_code(server.client("sts", session).get_caller_identity) == "ExpiredToken"
    monkeypatch.undo()
    assert _error_code(server.client("sts", session).get_caller_identity) == "SignatureDoesNotMatch"


def _write_config(path: Path, profiles: dict[str, dict[str, str]]) -> None:
    lines = []
    for name, values in profiles.items():
        lines.append(f"[profile {name}]")
        lines.extend(f"{key} = {value}" for key, value in values.items())
    path.write_text("\n".join(lines) + "\n")


def _profile_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: TesseraServer) -> dict[str, str]:
    env = {
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "HOME": str(tmp_path),
    }
    for name in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **env}


def _base(creds: Credentials) -> dict[str, str]:
    return {"aws_access_key_id": creds.access_key_id, "aws_secret_access_key": creds.secret_access_key}


def test_boto3_assume_role_profile_refreshes(
    fresh_server: Callable[..., TesseraServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = fresh_server()
    alice, role = _setup(server)
    _profile_env(monkeypatch, tmp_path, server)
    _write_config(
        tmp_path / "config",
        {
            "base": _base(alice),
            "ops": {"role_arn": role, "source_profile": "base", "duration_seconds": "900", "role_session_name": "refresher"},
        },
    )
    session = boto3.Session(profile_name="ops")
    assert session.client("sts").get_caller_identity()["Arn"].endswith(":assumed-role/R/refresher")
    credentials = session.get_credentials()
    first = credentials.get_frozen_credentials().access_key
    # 900 s is inside botocore's 15-minute advisory window, so every read renews.
    second = credentials.get_frozen_credentials().access_key
    assert first != second and second.startswith("ASIA")
    assert session.client("iam").list_roles()["Roles"][0]["Arn"] == role


def test_aws_cli_profile_with_external_id_and_mfa(
    fresh_server: Callable[..., TesseraServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = fresh_server()
    conditions = {"StringEquals": {"sts:ExternalId": "xid-42"}, "Bool": {"aws:MultiFactorAuthPresent": "true"}}
    alice, role = _setup(server, {"Condition": conditions})
    iam = server.client("iam")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName="alice-mfa")["VirtualMFADevice"]
    seed = device["Base32StringSeed"]
    totp = pyotp.TOTP(seed.decode() if isinstance(seed, bytes) else seed)
    now = int(time.time())
    iam.enable_mfa_device(
        UserName="alice", SerialNumber=device["SerialNumber"], AuthenticationCode1=totp.at(now - 60), AuthenticationCode2=totp.at(now - 30)
    )
    env = _profile_env(monkeypatch, tmp_path, server)
    _write_config(
        tmp_path / "config",
        {
            "base": _base(alice),
            "mfa": {
                "role_arn": role,
                "source_profile": "base",
                "external_id": "xid-42",
                "mfa_serial": device["SerialNumber"],
                "duration_seconds": "1800",
                "role_session_name": "cli-user",
            },
            "nomfa": {"role_arn": role, "source_profile": "base", "external_id": "xid-42"},
        },
    )
    run = subprocess.run(
        [AWS_CLI, "sts", "get-caller-identity", "--profile", "mfa", "--output", "json"],
        input=totp.at(now) + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["Arn"].endswith(":assumed-role/R/cli-user")
    denied = subprocess.run(
        [AWS_CLI, "sts", "get-caller-identity", "--profile", "nomfa"], env=env, capture_output=True, text=True, timeout=60
    )
    assert denied.returncode != 0 and "AccessDenied" in denied.stderr


def _tessera(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tessera", *args], env=env, capture_output=True, text=True, timeout=60)


def test_credential_process_and_assume_commands(
    fresh_server: Callable[..., TesseraServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = fresh_server()
    alice, role = _setup(server)
    env = _profile_env(monkeypatch, tmp_path, server)
    command = f"{sys.executable} -m tessera credential-process --role-arn {role} --profile base --endpoint-url {server.endpoint}"
    _write_config(tmp_path / "config", {"base": _base(alice), "viaproc": {"credential_process": command}})
    printed = _tessera(
        ["credential-process", "--role-arn", role, "--profile", "base", "--duration", "900", "--endpoint-url", server.endpoint], env
    )
    assert printed.returncode == 0, printed.stderr
    document = json.loads(printed.stdout)
    assert document["Version"] == 1 and document["AccessKeyId"].startswith("ASIA")
    assert set(document) == {"Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    via = boto3.Session(profile_name="viaproc").client("sts").get_caller_identity()
    assert ":assumed-role/R/" in via["Arn"]

    exports = _tessera(["assume", role, "--profile", "base", "--session-name", "shell", "--endpoint-url", server.endpoint], env)
    assert exports.returncode == 0, exports.stderr
    values = dict(line.removeprefix("export ").split("=", 1) for line in exports.stdout.splitlines())
    creds = Credentials(*(shlex.split(values[k])[0] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")))
    assert server.client("sts", creds).get_caller_identity()["Arn"].endswith(":assumed-role/R/shell")

    refused = _tessera(
        ["assume", f"arn:aws:iam::{server.account_id}:role/Nope", "--profile", "base", "--endpoint-url", server.endpoint], env
    )
    assert refused.returncode == 1 and refused.stderr.startswith("tessera: AccessDenied: ")


def test_revoke_sessions_denies_older_sessions_only(
    fresh_server: Callable[..., TesseraServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    server = fresh_server()
    alice, role = _setup(server)
    env = _profile_env(monkeypatch, tmp_path, server)
    _write_config(tmp_path / "config", {"root": _base(server.root), "base": _base(alice)})
    old = _assume(server, alice, role)
    server.client("iam", old).list_users()
    revoked = _tessera(["roles", "revoke-sessions", role, "--profile", "root", "--endpoint-url", server.endpoint], env)
    assert revoked.returncode == 0, revoked.stderr
    assert _error_code(server.client("iam", old).list_users) == "AccessDenied"
    new = _assume(server, alice, role)
    server.client("iam", new).list_users()
    policy = server.client("iam").get_role_policy(RoleName="R", PolicyName="AWSRevokeOlderSessions")["PolicyDocument"]
    assert policy["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"].endswith("Z")
    _write_config(tmp_path / "config", {"base": _base(alice)})
    unauthorized = _tessera(["roles", "revoke-sessions", role, "--profile", "base", "--endpoint-url", server.endpoint], env)
    assert unauthorized.returncode == 1 and "AccessDenied" in unauthorized.stderr


def _sealing_key_id(token: str) -> str:
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    return raw[2 : 2 + raw[1]].decode("ascii")


def test_keys_rotate_keeps_old_sessions_and_seals_new_ones_with_the_new_key(
    fresh_server: Callable[..., TesseraServer],
) -> None:
    server = fresh_server()
    alice, role = _setup(server)
    old = _assume(server, alice, role)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TESSERA_"))}
    rotated = _tessera(["keys", "rotate", "--data-dir", server.data_dir, "--activate-in", "0"], env)
    assert rotated.returncode == 0, rotated.stderr
    new_key = rotated.stdout.strip()
    server.restart()
    assert server.client("sts", old).get_caller_identity()["Arn"].endswith(":assumed-role/R/s1")
    new = _assume(server, alice, role)
    assert new.session_token is not None and _sealing_key_id(new.session_token) == new_key
    assert old.session_token is not None and _sealing_key_id(old.session_token) != new_key
    # the rotation is in the trail, committed with it: the new key's id, never its secret
    listed = _tessera(["audit", "--data-dir", server.data_dir, "--json", "--event-name", "RotateKey"], env)
    (event,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert event["eventType"] == "AwsServiceEvent" and event["userAgent"] == "tessera keys rotate"
    assert event["serviceEventDetails"]["keyId"] == new_key and event["serviceEventDetails"]["droppedKeyIds"] == []
    assert event["recipientAccountId"] == server.account_id and set(event["serviceEventDetails"]) == {"keyId", "activates", "droppedKeyIds"}
