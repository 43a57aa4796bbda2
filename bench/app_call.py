"""``python -m bench.app_call [N]``: the in-process cost of one GetCallerIdentity.

One signed request (botocore's SigV4, signed once and replayed) driven through
``TesseraApp`` as an ASGI call, N times (default 20 000) after a warm-up: verification,
parsing, dispatch, encoding, metrics and the audit event, without sockets or HTTP
parsing. Prints the best and the median of five runs in microseconds of process CPU
time per request; compare two checkouts on the same machine, not against other numbers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import MutableMapping, Sequence
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tessera.audit.sink import AuditWriter
from tessera.clock import FixedClock
from tessera.server.app import TesseraApp
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


def _scope_and_body() -> tuple[dict[str, Any], bytes]:
    body = urllib.parse.urlencode({"Action": "GetCallerIdentity", "Version": "2011-06-15"}).encode()
    request = AWSRequest(
        "POST", "http://127.0.0.1:8686/", data=body, headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    )
    SigV4Auth(Credentials(KEY, SECRET), "sts", "us-east-1").add_auth(request)
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


async def _run(app: TesseraApp, scope: dict[str, Any], body: bytes, n: int) -> float:
    message = {"type": "http.request", "body": body, "more_body": False}
    statuses: list[int] = []

    async def receive() -> MutableMapping[str, Any]:
        return message

    async def send(sent: MutableMapping[str, Any]) -> None:
        if sent["type"] == "http.response.start":
            statuses.append(sent["status"])

    started = time.process_time()  # CPU time: a busy shared machine inflates wall time
    for _ in range(n):
        await app(scope, receive, send)
    elapsed = time.process_time() - started
    assert set(statuses) == {200}, set(statuses)
    return elapsed / n * 1e6


def main(argv: Sequence[str]) -> int:
    n = int(argv[0]) if argv else 20_000
    with tempfile.TemporaryDirectory() as data_dir:
        runtime = open_runtime(data_dir, env=ENV, clock=FixedClock(dt.datetime.now(dt.UTC)), out=io.StringIO())
        app = TesseraApp(runtime, audit=AuditWriter(_NullSink()), metrics=ServerMetrics(), access_log_enabled=False)  # type: ignore[arg-type]
        scope, body = _scope_and_body()
        try:
            asyncio.run(_run(app, scope, body, 2_000))
            runs = [asyncio.run(_run(app, scope, body, n)) for _ in range(5)]
        finally:
            app.executor.shutdown(wait=True)
            runtime.store.close()
    print(
        f"GetCallerIdentity in-process: best {min(runs):.1f}, median {statistics.median(runs):.1f} µs CPU/request"
        f" (5 x {n}; runs {', '.join(f'{r:.1f}' for r in runs)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
