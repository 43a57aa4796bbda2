"""Which requests the app runs on the event loop: only cheap ones. A large body (whose
decoding alone takes milliseconds) and handlers with store I/O are prepared, executed and
encoded in the thread pool, with the same answers as on the loop; an inline handler that
needs blocking I/O after all (an identity provider's keys to fetch) is run again there."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from oidc_issuer import OidcIssuer
from storefaults import unsigned_get

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


def _trusting_role(application: TesseraApp, idp: OidcIssuer) -> None:
    """The issuer as an OIDC provider (client id ``my-app``) and a role ``fed`` trusting it."""
    status, body = _call(
        application,
        {
            "Action": "CreateOpenIDConnectProvider",
            "Version": "2010-05-08",
            "Url": idp.issuer,
            "ClientIDList.member.1": "my-app",
            "ThumbprintList.member.1": idp.thumbprint,
        },
        "iam",
    )
    assert status == 200, body
    provider = body.split(b"<OpenIDConnectProviderArn>")[1].split(b"<")[0].decode()
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity"}],
    }
    role = {"RoleName": "fed", "AssumeRolePolicyDocument": json.dumps(trust)}
    status, body = _call(application, {"Action": "CreateRole", "Version": "2010-05-08", **role}, "iam")
    assert status == 200, body


def test_web_identity_runs_on_the_loop_once_the_providers_keys_are_cached(
    app: tuple[TesseraApp, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """AssumeRoleWithWebIdentity is inline: the first call, whose provider keys must be
    fetched, starts on the event loop, stops there before fetching (NeedsThread) and runs
    again in the thread pool; later calls, with the keys cached, run on the loop only."""
    application, _ = app
    executed = _threads_executing(application, monkeypatch)
    with OidcIssuer() as idp:
        _trusting_role(application, idp)
        executed.clear()

        def web_identity() -> tuple[int, bytes]:
            params = {
                "Action": "AssumeRoleWithWebIdentity",
                "Version": "2011-06-15",
                "RoleArn": "arn:aws:iam::111111111111:role/fed",
                "RoleSessionName": "alice-session",
                "WebIdentityToken": idp.sign({"sub": "alice", "aud": "my-app"}),
            }
            return unsigned_get(application, "/", urllib.parse.urlencode(params))

        status, body = web_identity()
        assert status == 200 and b"<SubjectFromWebIdentityToken>alice</SubjectFromWebIdentityToken>" in body, body
        assert executed[0] == "MainThread" and len(executed) == 2 and executed[1].startswith("tessera-op")
        fetches = idp.request_count
        executed.clear()
        status, body = web_identity()
        assert status == 200 and b"<SubjectFromWebIdentityToken>alice</SubjectFromWebIdentityToken>" in body, body
        assert executed == ["MainThread"]
        assert idp.request_count == fetches


def test_workload_credentials_run_on_the_loop_once_the_providers_keys_are_cached(
    app: tuple[TesseraApp, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workload endpoint runs as AssumeRoleWithWebIdentity does: the first fetch,
    whose provider keys must be fetched, starts on the event loop, stops there before
    fetching (NeedsThread) and runs again from the start in the thread pool; later
    fetches, with the keys cached, run on the loop only. So does one whose view owes a
    reload: in the pool from the start."""
    application, _ = app
    executed = _threads_executing(application, monkeypatch)
    with OidcIssuer() as idp:
        _trusting_role(application, idp)
        executed.clear()

        def fetch() -> dict[str, Any]:
            query = urllib.parse.urlencode({"RoleArn": "arn:aws:iam::111111111111:role/fed", "RoleSessionName": "pod"})
            token = idp.sign({"sub": "system:serviceaccount:default:app", "aud": "my-app"})
            status, body = unsigned_get(application, "/workload-credentials", query, [(b"authorization", token.encode())])
            answer: dict[str, Any] = json.loads(body)
            assert status == 200 and answer["AccountId"] == "111111111111", answer
            return answer

        first = fetch()
        assert executed[0] == "MainThread" and len(executed) == 2 and executed[1].startswith("tessera-op")
        fetches = idp.request_count
        executed.clear()
        second = fetch()
        assert executed == ["MainThread"]
        assert idp.request_count == fetches
        assert first["AccessKeyId"] != second["AccessKeyId"]

        executed.clear()
        monkeypatch.setattr(type(application.runtime.view), "has_stale", property(lambda view: True))
        fetch()
        assert len(executed) == 1 and executed[0].startswith("tessera-op")


def test_web_identity_on_the_loop_never_gives_up_the_gil(app: tuple[TesseraApp, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """With the provider's keys cached, AssumeRoleWithWebIdentity's handler runs on the
    event loop without letting go of the GIL (its RSA verification included,
    ``tessera.auth.rsa_verify``): a thread waiting for the GIL, with the switch interval
    out of the way, never runs meanwhile. (One that did let go would hand the GIL to the
    audit writer at each verification, and the writer would commit the events of two
    or three requests at a time.)"""
    application, _ = app
    released: list[int] = []
    ticks = [0]
    stop = threading.Event()

    def ticker() -> None:
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0)  # gives the GIL back at once, and wants it again

    execute = application._execute

    def watched_execute(ex: Any, ctx: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            execute(ex, ctx)
            return
        interval = sys.getswitchinterval()
        sys.setswitchinterval(30.0)
        gc.disable()  # no finalizer of someone else's garbage (a socket's close) in the window
        try:
            before = ticks[0]
            execute(ex, ctx)
            released.append(ticks[0] - before)
        finally:
            gc.enable()
            sys.setswitchinterval(interval)

    monkeypatch.setattr(application, "_execute", watched_execute)
    thread = threading.Thread(target=ticker, daemon=True)
    thread.start()
    try:
        with OidcIssuer() as idp:
            _trusting_role(application, idp)
            released.clear()
            for i in range(20):
                params = {
                    "Action": "AssumeRoleWithWebIdentity",
                    "Version": "2011-06-15",
                    "RoleArn": "arn:aws:iam::111111111111:role/fed",
                    "RoleSessionName": f"alice-{i}",
                    "WebIdentityToken": idp.sign({"sub": "alice", "aud": "my-app"}),
                }
                status, body = unsigned_get(application, "/", urllib.parse.urlencode(params))
                assert status == 200, body
    finally:
        stop.set()
        thread.join()
    assert released == [0] * 19  # the first call fetched the keys: on the loop until NeedsThread, then in the pool


def _threads_executing(application: TesseraApp, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads that run each operation's handler, in order."""
    executed: list[str] = []
    execute = application._execute

    def recording_execute(ex: Any, ctx: Any) -> None:
        executed.append(threading.current_thread().name)
        execute(ex, ctx)

    monkeypatch.setattr(application, "_execute", recording_execute)
    return executed
