"""The floor app does the checks it claims: a request it answers passed SigV4 and, for
AssumeRole, both policy decisions; its session tokens open with Tessera's keyring."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from bench import floor, load
from tessera.auth import tokens

HOST = "127.0.0.1:8686"
KEY_ID, SECRET = "AKIAFLOORTEST0000001", "floorSecretKey00000000000000000000000000"
ROLE = f"arn:aws:iam::{load.ACCOUNT}:role/bench-role-009"
PRINCIPAL = load.Principal(KEY_ID, SECRET, ROLE)


def call(app: floor.Floor, target: str, *, client: str = "127.0.0.1") -> tuple[int, bytes]:
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query.encode(),
        "headers": [(b"host", HOST.encode())],
        "client": (client, 50000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], sent[1]["body"]


def targets(tmp_path: Path, operation: str, count: int = 3) -> list[str]:
    return load.write_targets(tmp_path / "t.txt", f"http://{HOST}", PRINCIPAL, operation, count)


@pytest.fixture
def app() -> floor.Floor:
    return floor.Floor(KEY_ID, SECRET)


def test_signed_get_caller_identity_is_answered(app: floor.Floor, tmp_path: Path) -> None:
    status, body = call(app, targets(tmp_path, load.CALLER_IDENTITY)[0])
    assert status == 200
    assert f"<Arn>{load.user_arn()}</Arn>".encode() in body


def test_assume_role_mints_a_session_that_opens(app: floor.Floor, tmp_path: Path) -> None:
    status, body = call(app, targets(tmp_path, load.ASSUME_ROLE)[1])
    assert status == 200
    text = body.decode()
    key_id = text.split("<AccessKeyId>")[1].split("<")[0]
    token = text.split("<SessionToken>")[1].split("<")[0]
    claims = tokens.unseal(token, tokens.Keyring((app.token_key,), app.token_key.key_id), key_id)
    assert (claims.role_arn, claims.session_name) == (ROLE, "bench-00001")


@pytest.mark.parametrize("operation", load.OPERATIONS)
def test_a_tampered_signature_is_refused(app: floor.Floor, tmp_path: Path, operation: str) -> None:
    target = targets(tmp_path, operation)[0]
    flipped = target[:-1] + ("0" if target[-1] != "0" else "1")
    assert call(app, flipped)[0] == 403


def test_a_changed_parameter_is_refused(app: floor.Floor, tmp_path: Path) -> None:
    target = targets(tmp_path, load.ASSUME_ROLE)[0]
    assert call(app, target.replace("bench-00000", "bench-00009"))[0] == 403


def test_another_key_pair_is_refused(tmp_path: Path) -> None:
    target = targets(tmp_path, load.CALLER_IDENTITY)[0]
    assert call(floor.Floor(KEY_ID, SECRET[:-1] + "X"), target)[0] == 403
    assert call(floor.Floor("AKIAOTHERKEY00000001", SECRET), target)[0] == 403


def test_an_expired_url_is_refused(tmp_path: Path) -> None:
    target = targets(tmp_path, load.CALLER_IDENTITY)[0]
    signed = dict(parse_qsl(target.partition("?")[2]))["X-Amz-Date"]
    later = dt.datetime.strptime(signed, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC) + dt.timedelta(seconds=load.BASE_EXPIRES + 1)
    assert call(floor.Floor(KEY_ID, SECRET, now=lambda: later), target)[0] == 403


def test_assume_role_is_decided_by_both_policies(app: floor.Floor) -> None:
    # the trust policy wants loopback; the identity policy never allows admin-* roles
    assert app.assume_role(ROLE, "bench-1", "127.0.0.1") is not None
    assert app.assume_role(ROLE, "bench-1", "10.0.0.1") is None
    assert app.assume_role(ROLE, "other-1", "127.0.0.1") is None
    assert app.assume_role(f"arn:aws:iam::{load.ACCOUNT}:role/admin-x", "bench-1", "127.0.0.1") is None


def test_a_non_ascii_signature_is_refused_not_an_error(app: floor.Floor, tmp_path: Path) -> None:
    target = targets(tmp_path, load.CALLER_IDENTITY)[0]
    assert call(app, target[:-1] + "\u00e9")[0] == 403


def test_assume_role_is_answered_once_its_record_is_committed(tmp_path: Path) -> None:
    journal = floor.Journal(str(tmp_path / "journal.db"))
    try:
        status, body = call(floor.Floor(KEY_ID, SECRET, journal=journal), targets(tmp_path, load.ASSUME_ROLE)[2])
        assert status == 200
        [record] = [json.loads(text) for text in journal.records()]
        assert (record["roleArn"], record["roleSessionName"], record["callerKeyId"]) == (ROLE, "bench-00002", KEY_ID)
        assert f"<AccessKeyId>{record['issuedKeyId']}</AccessKeyId>".encode() in body
        assert call(floor.Floor(KEY_ID, SECRET, journal=journal), targets(tmp_path, load.CALLER_IDENTITY)[0])[0] == 200
        assert len(journal.records()) == 1  # GetCallerIdentity issues nothing to record
    finally:
        journal.close()
