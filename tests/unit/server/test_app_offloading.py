"""Which requests the app runs on the event loop: only cheap ones. A large body (whose
decoding alone takes milliseconds) and handlers with store I/O are prepared, executed and
encoded in the thread pool, with the same answers as on the loop."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import threading
import urllib.parse
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tessera.audit.sink import AuditWriter
from tessera.clock import FixedClock
from tessera.server.app import INLINE_BODY_BYTES, TesseraApp
from tessera.server.bootstrap import open_runtime
from tessera.server.metrics import ServerMetrics

KEY, SECRET = "AKIAROOTROOTROOT0001", "r" * 40
ENV = {
    "TESSERA_ACCOUNT_ID": "111111111111",
    "TESSERA_ROOT_ACCESS_KEY_ID": KEY,
    "TESSERA_ROOT_SECRET_ACCESS_KEY": SECRET,
    "TESSERA_MASTER_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
}


class _NullSink:
    def append_audit(self, events: Any) -> None:
        pass


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TesseraApp, list[str]]]:
    now = dt.datetime.now(dt.UTC)  # botocore signs at the real time
    runtime = open_runtime(str(tmp_path), env=ENV, clock=FixedClock(now), out=io.StringIO())
    application = TesseraApp(runtime, audit=AuditWriter(_NullSink()), metrics=ServerMetrics(), access_log_enabled=False)  # type: ignore[arg-type]
    threads: list[str] = []
    prepare = application._prepare

    def recording_prepare(ex: Any) -> Any:
        threads.append(threading.current_thread().name)
        return prepare(ex)

    monkeypatch.setattr(application, "_prepare", recording_prepare)
    yield application, threads
    application.executor.shutdown(wait=True)
    runtime.store.close()


def _call(app: TesseraApp, params: dict[str, str], service: str) -> tuple[int, bytes]:
    body = urllib.parse.urlencode(params).encode()
    request = AWSRequest(
        "POST", "http://127.0.0.1:8686/", data=body, headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    )
    SigV4Auth(Credentials(KEY, SECRET), service, "us-east-1").add_auth(request)
    prepared = request.prepare()
    headers = [(b"host", b"127.0.0.1:8686")] + [(k.lower().encode(), v.encode()) for k, v in prepared.headers.items()]
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "scheme": "http",
        "server": ("127.0.0.1", 8686),
    }
    sent: list[MutableMapping[str, Any]] = []
    messages = [{"type": "http.request", "body": prepared.body, "more_body": False}]

    async def receive() -> MutableMapping[str, Any]:
        return messages.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return int(sent[0]["status"]), bytes(sent[1]["body"])


def test_a_small_request_without_store_io_runs_on_the_event_loop(app: tuple[TesseraApp, list[str]]) -> None:
    application, threads = app
    status, body = _call(application, {"Action": "GetCallerIdentity", "Version": "2011-06-15"}, "sts")
    assert status == 200 and b"<Account>111111111111</Account>" in body
    assert threads == ["MainThread"]


def test_a_large_body_is_decoded_off_the_event_loop(app: tuple[TesseraApp, list[str]]) -> None:
    application, threads = app
    padding = {f"Junk{i}": "x" for i in range(INLINE_BODY_BYTES // 8)}
    status, body = _call(application, {"Action": "GetCallerIdentity", "Version": "2011-06-15", **padding}, "sts")
    assert status == 200 and b"<Account>111111111111</Account>" in body
    assert len(threads) == 1 and threads[0].startswith("tessera-op")


def test_a_large_body_that_fails_validation_gets_the_same_error_off_the_loop(app: tuple[TesseraApp, list[str]]) -> None:
    application, threads = app
    long_name = "u" * INLINE_BODY_BYTES
    status, body = _call(application, {"Action": "CreateUser", "Version": "2010-05-08", "UserName": long_name}, "iam")
    assert status == 400 and b"<Code>ValidationError</Code>" in body
    assert threads[0].startswith("tessera-op")
