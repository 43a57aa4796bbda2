"""Driving ``TesseraApp`` in-process as an ASGI call, without sockets or HTTP parsing:
a runtime over a temporary data directory with fixed root keys, an app whose audit
events go nowhere, and SigV4-signed (botocore) Query requests turned into ASGI scopes.
Used by the in-process benchmarks and by the app's own unit tests."""

from __future__ import annotations

import datetime as dt
import io
import urllib.parse
from collections.abc import MutableMapping
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tessera.audit.sink import AuditWriter
from tessera.clock import FixedClock, SystemClock
from tessera.server.app import TesseraApp
from tessera.server.bootstrap import open_runtime
from tessera.server.metrics import ServerMetrics
from tessera.services.runtime import Runtime

ACCOUNT, KEY, SECRET = "111111111111", "AKIAROOTROOTROOT0001", "r" * 40
ENV = {
    "TESSERA_ACCOUNT_ID": ACCOUNT,
    "TESSERA_ROOT_ACCESS_KEY_ID": KEY,
    "TESSERA_ROOT_SECRET_ACCESS_KEY": SECRET,
    "TESSERA_MASTER_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
}
Exchange = tuple[dict[str, Any], Any, Any, list[MutableMapping[str, Any]]]


class NullSink:
    """An audit store that keeps nothing."""

    def append_audit(self, events: Any) -> None:
        pass


def build_app(data_dir: str) -> tuple[Runtime, TesseraApp]:
    """A runtime over ``data_dir`` at the real time (botocore signs at the real time) and
    an app around it; shut down with ``app.executor.shutdown()`` and ``runtime.store.close()``."""
    runtime = open_runtime(data_dir, env=ENV, clock=FixedClock(dt.datetime.now(dt.UTC)), out=io.StringIO())
    app = TesseraApp(runtime, audit=AuditWriter(NullSink()), metrics=ServerMetrics(), access_log_enabled=False)  # type: ignore[arg-type]
    return runtime, app


def durable_app(data_dir: str) -> tuple[Runtime, AuditWriter, TesseraApp]:
    """A runtime over ``data_dir`` at the system's time, its audit trail written to its
    own store by a started writer (durable events committed as ``tessera serve`` commits
    them), and an app around both; shut down with ``audit.close()``,
    ``app.executor.shutdown()`` and ``runtime.store.close()``."""
    runtime = open_runtime(data_dir, env=ENV, clock=SystemClock(), out=io.StringIO())
    audit = AuditWriter(runtime.store)
    app = TesseraApp(runtime, audit=audit, metrics=ServerMetrics(), access_log_enabled=False)
    audit.start()
    return runtime, audit, app


def signed_scope(params: dict[str, str], service: str, key: str = KEY, secret: str = SECRET) -> tuple[dict[str, Any], bytes]:
    """The ASGI scope and body of a Query request with ``params``, signed for ``service``."""
    body = urllib.parse.urlencode(params).encode()
    request = AWSRequest(
        "POST", "http://127.0.0.1:8686/", data=body, headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    )
    SigV4Auth(Credentials(key, secret), service, "us-east-1").add_auth(request)
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
    return scope, prepared.body


def exchange(params: dict[str, str], service: str, key: str = KEY, secret: str = SECRET) -> Exchange:
    """``signed_scope`` with its ``receive`` and ``send`` callables; ``send`` collects the
    response messages into the returned list."""
    scope, body = signed_scope(params, service, key, secret)
    sent: list[MutableMapping[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> MutableMapping[str, Any]:
        return messages.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    return scope, receive, send, sent


async def call(app: Any, scope: dict[str, Any], body: bytes = b"") -> tuple[int, bytes]:
    """One request through the ASGI callable ``app`` (``TesseraApp`` or another): its
    status and its body, every body message joined."""
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"]), b"".join(m.get("body", b"") for m in sent[1:])
