"""``GET /readyz``: ready only when the view is current, the store has not just failed,
the audit trail is being written and the session-token keyring opens; each case over
the real app and a real SQLite store made to fail the way a lost connection fails."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from storefaults import DRIVER_TEXT, FailingStore, call

from bench.inproc import ACCOUNT
from tessera.audit.sink import AuditWriter
from tessera.server.app import TesseraApp
from tessera.services.runtime import Runtime
from tessera.store.base import GLOBAL

CHECKS = {"store_reads", "store_writes", "audit", "signing_keys"}


async def _get(app: TesseraApp, path: str) -> tuple[int, dict[str, Any]]:
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(), "query_string": b"", "headers": []}
    await app(scope, receive, send)
    body = bytes(sent[1]["body"])
    assert DRIVER_TEXT.encode() not in body and b"sqlite" not in body.lower()
    return int(sent[0]["status"]), json.loads(body)


def readyz(app: TesseraApp) -> tuple[int, dict[str, Any]]:
    return asyncio.run(_get(app, "/readyz"))


def failing_checks(body: dict[str, Any]) -> set[str]:
    assert set(body["checks"]) == CHECKS
    assert all(isinstance(c["ok"], bool) and isinstance(c["detail"], str) and c["detail"] for c in body["checks"].values())
    return {name for name, check in body["checks"].items() if not check["ok"]}


def test_ready_when_everything_works_and_healthz_is_unchanged(served: tuple[Runtime, TesseraApp, FailingStore]) -> None:
    runtime, app, _failing = served
    status, body = readyz(app)
    assert (status, body["ready"], failing_checks(body)) == (200, True, set())
    cache = runtime.token_keyring
    assert cache is not None and cache.cached(runtime.clock.now()) is not None  # later probes read the cache only
    assert asyncio.run(_get(app, "/healthz")) == (200, {"status": "ok"})


def test_a_stale_scope_is_not_ready_until_reloaded(served: tuple[Runtime, TesseraApp, FailingStore]) -> None:
    runtime, app, failing = served
    assert readyz(app)[0] == 200  # the keyring is opened and cached
    failing.reads_fail = True
    runtime.view.refresh_committed([ACCOUNT])  # a commit whose refresh failed
    assert runtime.view.has_stale
    status, body = readyz(app)
    assert (status, body["ready"], failing_checks(body)) == (503, False, {"store_reads"})
    failing.reads_fail = False
    runtime.view.reload_stale()
    assert readyz(app)[0] == 200


def test_a_failed_poll_is_not_ready_until_a_poll_succeeds(served: tuple[Runtime, TesseraApp, FailingStore]) -> None:
    _runtime, app, failing = served
    app.poll_interval = 0.001

    async def scenario() -> tuple[tuple[int, dict[str, Any]], tuple[int, dict[str, Any]]]:
        failing.reads_fail = True
        poller = asyncio.get_running_loop().create_task(app._poll_forever())
        try:
            async with asyncio.timeout(10):
                while app.poll_ok:
                    await asyncio.sleep(0.001)
            down = await _get(app, "/readyz")
            failing.reads_fail = False
            async with asyncio.timeout(10):
                while not app.poll_ok:
                    await asyncio.sleep(0.001)
            return down, await _get(app, "/readyz")
        finally:
            poller.cancel()

    (status, body), (status_after, _) = asyncio.run(scenario())
    assert (status, failing_checks(body)) == (503, {"store_reads"})
    assert status_after == 200


def test_a_failed_store_write_is_not_ready_until_a_write_succeeds(served: tuple[Runtime, TesseraApp, FailingStore]) -> None:
    _runtime, app, failing = served
    failing.writes_fail = True
    assert call(app, {"Action": "CreateUser", "UserName": "bob"})[0] == 503
    status, body = readyz(app)
    assert (status, failing_checks(body)) == (503, {"store_writes"})
    failing.writes_fail = False
    assert call(app, {"Action": "CreateUser", "UserName": "bob"})[0] == 200
    assert readyz(app)[0] == 200


def test_a_store_failure_older_than_the_window_is_ready(served: tuple[Runtime, TesseraApp, FailingStore]) -> None:
    _runtime, app, failing = served
    failing.writes_fail = True
    assert call(app, {"Action": "CreateUser", "UserName": "bob"})[0] == 503
    assert app.store_failed_at is not None
    app.store_failed_at -= 31.0  # what the monotonic clock reads 31 seconds later
    assert readyz(app)[0] == 200


class BrokenSink:
    """An audit sink whose every write fails (a store that refuses the audit table)."""

    def __init__(self) -> None:
        self.fail = True
        self.events: list[Mapping[str, Any]] = []

    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        if self.fail:
            raise OSError("disk full")
        self.events.extend(events)


def test_a_failing_audit_writer_is_not_ready_until_it_writes_again(
    served: tuple[Runtime, TesseraApp, FailingStore],
) -> None:
    _runtime, app, _failing = served
    sink = BrokenSink()
    app.audit = AuditWriter(sink, pause=0)  # type: ignore[arg-type]
    app.audit.close()  # no thread; the retry back-off returns at once
    assert app.audit.healthy
    app.audit.submit({"eventID": "1"})
    app.audit.flush()
    assert not app.audit.healthy
    status, body = readyz(app)
    assert (status, failing_checks(body)) == (503, {"audit"})
    sink.fail = False
    app.audit.submit({"eventID": "2"})
    app.audit.flush()
    assert app.audit.healthy and [e["eventID"] for e in sink.events] == ["1", "2"]  # nothing dropped
    assert readyz(app)[0] == 200


def test_an_unopenable_keyring_is_not_ready(served: tuple[Runtime, TesseraApp, FailingStore]) -> None:
    runtime, app, failing = served
    failing.reads_fail = True
    runtime.view.refresh_committed([GLOBAL])  # the global scope (token keys) owes a reload
    runtime.token_keyring = None  # nothing cached: the keyring must be read from the store
    status, body = readyz(app)
    assert status == 503 and "signing_keys" in failing_checks(body)
    failing.reads_fail = False
    assert readyz(app)[0] == 200
