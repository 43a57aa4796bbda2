"""Which requests the app runs on the event loop: only cheap ones. A large body (whose
decoding alone takes milliseconds) and handlers with store I/O are prepared, executed and
encoded in the thread pool, with the same answers as on the loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.inproc import build_app, exchange
from tessera.server.app import INLINE_BODY_BYTES, TesseraApp


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TesseraApp, list[str]]]:
    runtime, application = build_app(str(tmp_path))
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
    scope, receive, send, sent = exchange(params, service)
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
