"""``python -m bench.web_identity_durable [N] [ROUNDS]``: AssumeRoleWithWebIdentity and the
workload credentials endpoint against AssumeRole with their audit events committed to a
real store, in-process.

``bench.web_identity_call`` counts each call's CPU time with a sink that keeps nothing;
this one keeps what the load bench serves and that one leaves out: one SQLite store
(``synchronous=FULL``), the audit writer's thread committing the events in groups, and
16 concurrent clients (ASGI calls, no sockets), so what one request does to the others'
group commit shows. AssumeRole replays one signed request; AssumeRoleWithWebIdentity
sends unsigned GETs, each with its own RS256 token from the federation bench's identity
provider (``bench.federation.issuer``); the workload endpoint gets one token in
``Authorization`` and its own RoleSessionName per request. The three alternate in
``ROUNDS`` rounds (default 3) of ``N`` requests each (default 1 500).

Prints, per round and as medians: requests per second (wall time), process CPU time per
request (every thread counts) and events per commit. Run it pinned to one core
(``taskset -c 0``), as the load bench runs the server.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.audit_durable import ROLE, _setup
from bench.federation import STS_VERSION, issuer, provision
from bench.inproc import call, durable_app, signed_scope
from bench.web_identity_call import _Iam, _scope
from tessera.server.app import TesseraApp

CONCURRENCY = 16
Request = tuple[dict[str, Any], bytes]


async def _load(app: TesseraApp, requests: Sequence[Request], concurrency: int) -> None:
    pending = iter(requests)

    async def client() -> None:
        for scope, body in pending:
            status, answer = await call(app, scope, body)
            assert status == 200, answer[:300]

    await asyncio.gather(*(client() for _ in range(concurrency)))


def main(argv: Sequence[str]) -> int:
    n = int(argv[0]) if argv else 1_500
    rounds = int(argv[1]) if len(argv) > 1 else 3
    results: dict[str, list[tuple[float, float, float]]] = {"AssumeRole": [], "AssumeRoleWithWebIdentity": [], "workload": []}
    with tempfile.TemporaryDirectory(prefix="tessera-bench-wid-") as data_dir, issuer(Path(data_dir)) as idp:
        runtime, audit, app = durable_app(data_dir)
        try:
            key, secret = _setup(app)
            role_arn = provision(_Iam(app), idp)
            assume = signed_scope(
                {"Action": "AssumeRole", "Version": STS_VERSION, "RoleArn": ROLE, "RoleSessionName": "bench"}, "sts", key, secret
            )
            tokens = [idp.token() for _ in range(n * (rounds + 1))]
            workload_token = idp.token().encode()

            def web_identity(i: int) -> Request:
                params = {
                    "Action": "AssumeRoleWithWebIdentity",
                    "Version": STS_VERSION,
                    "RoleArn": role_arn,
                    "RoleSessionName": f"bench-{i:06d}",
                    "WebIdentityToken": tokens[i],
                }
                return _scope("GET", urlencode(params), []), b""

            def workload(i: int) -> Request:
                scope = _scope(
                    "GET", urlencode({"RoleArn": role_arn, "RoleSessionName": f"bench-{i:06d}"}), [(b"authorization", workload_token)]
                )
                scope["path"], scope["raw_path"] = "/workload-credentials", b"/workload-credentials"
                return scope, b""

            def batch(name: str, start: int) -> list[Request]:
                if name == "AssumeRole":
                    return [assume] * n
                make = web_identity if name == "AssumeRoleWithWebIdentity" else workload
                return [make(start + i) for i in range(n)]

            asyncio.run(_load(app, [web_identity(0)], 1))  # the provider's keys, fetched once
            for name in results:  # warm-up
                asyncio.run(_load(app, batch(name, 0)[1:], CONCURRENCY))
            for r in range(1, rounds + 1):
                for name, runs in results.items():
                    requests = batch(name, r * n)
                    commits, wall, cpu = audit.commits, time.perf_counter(), time.process_time()
                    asyncio.run(_load(app, requests, CONCURRENCY))
                    wall, cpu, commits = time.perf_counter() - wall, time.process_time() - cpu, audit.commits - commits
                    rate, cost, grouping = n / wall, cpu / n * 1e6, n / max(commits, 1)
                    runs.append((rate, cost, grouping))
                    print(f"{name:<26} round {r}: {rate:6.0f} req/s {cost:6.0f} µs CPU/request {grouping:5.1f} events/commit")
        finally:
            audit.close()
            app.executor.shutdown(wait=True)
            runtime.store.close()
    base = statistics.median(rate for rate, _, _ in results["AssumeRole"])
    print(f"medians, c={CONCURRENCY}, {rounds} x {n} requests (SQLite, synchronous=FULL):")
    for name, runs in results.items():
        rate = statistics.median(r for r, _, _ in runs)
        cpu = statistics.median(c for _, c, _ in runs)
        grouping = statistics.median(g for _, _, g in runs)
        print(f"  {name:<26} {rate:6.0f} req/s ({rate / base:.2f} of AssumeRole) {cpu:6.0f} µs CPU/request {grouping:5.1f} events/commit")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
