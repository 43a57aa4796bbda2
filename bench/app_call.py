"""``python -m bench.app_call [N]``: the in-process cost of one GetCallerIdentity.

One signed request (botocore's SigV4, signed once and replayed) driven through
``TesseraApp`` as an ASGI call, N times (default 20 000) after a warm-up: verification,
parsing, dispatch, encoding, metrics and the audit event, without sockets or HTTP
parsing. Prints the best and the median of five runs in microseconds of process CPU
time per request; compare two checkouts on the same machine, not against other numbers.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import MutableMapping, Sequence
from typing import Any

from bench.inproc import build_app, signed_scope
from tessera.server.app import TesseraApp


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
        runtime, app = build_app(data_dir)
        scope, body = signed_scope({"Action": "GetCallerIdentity", "Version": "2011-06-15"}, "sts")
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
