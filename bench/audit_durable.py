"""``python -m bench.audit_durable``: what answering credentials only after their audit
event is committed costs AssumeRole.

One process, one SQLite store (``synchronous=FULL``, as served), the app driven
in-process (ASGI calls, no sockets) by ``--concurrency`` concurrent clients, each
replaying one signed AssumeRole request. Two modes, alternated round by round in the
same run so both see the same machine:

* ``durable``: as served — the request awaits the group commit holding its event;
* ``queued``: AssumeRole's registration with ``durable_audit`` off, so its event is
  queued after the answer (how every event was written before).

Reports requests per second (wall time) and p50/p99 latency of each mode, and the
commits the writer made (events per commit shows the grouping).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from bench.inproc import ACCOUNT, call, durable_app, signed_scope
from tessera.server.app import TesseraApp
from tessera.services import request as registry

ROLE = f"arn:aws:iam::{ACCOUNT}:role/bench"
ALLOW_ASSUME = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}],
}


def _setup(app: TesseraApp) -> tuple[str, str]:
    """A user allowed to assume the role ``bench``; its access key."""

    def iam(params: dict[str, str]) -> bytes:
        status, body = asyncio.run(call(app, *signed_scope({**params, "Version": "2010-05-08"}, "iam")))
        assert status == 200, body
        return body

    iam({"Action": "CreateUser", "UserName": "assumer"})
    iam({"Action": "PutUserPolicy", "UserName": "assumer", "PolicyName": "p", "PolicyDocument": json.dumps(ALLOW_ASSUME)})
    iam({"Action": "CreateRole", "RoleName": "bench", "AssumeRolePolicyDocument": json.dumps(TRUST)})
    created = ET.fromstring(iam({"Action": "CreateAccessKey", "UserName": "assumer"}))
    key = next(e.text for e in created.iter() if e.tag.endswith("AccessKeyId"))
    secret = next(e.text for e in created.iter() if e.tag.endswith("SecretAccessKey"))
    assert key and secret
    return key, secret


async def _load(app: TesseraApp, scope: dict[str, Any], body: bytes, requests: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    remaining = [requests]

    async def client() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            started = time.perf_counter()
            status, answer = await call(app, scope, body)
            latencies.append(time.perf_counter() - started)
            assert status == 200, answer[:300]

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def _durable(on: bool) -> None:
    key = ("sts", "AssumeRole")
    registry._REGISTRY[key] = dataclasses.replace(registry._REGISTRY[key], durable_audit=on)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_durable")
    parser.add_argument("--requests", type=int, default=4000, help="AssumeRole calls per round and mode")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one short round")
    args = parser.parse_args(list(argv))
    rounds, requests = (1, 1000) if args.quick else (args.rounds, args.requests)
    results: dict[str, list[tuple[float, list[float]]]] = {"durable": [], "queued": []}
    commits: dict[str, int] = {"durable": 0, "queued": 0}
    with tempfile.TemporaryDirectory(prefix="tessera-bench-audit-") as data_dir:
        runtime, audit, app = durable_app(data_dir)
        try:
            key, secret = _setup(app)
            scope, body = signed_scope(
                {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": ROLE, "RoleSessionName": "bench"}, "sts", key, secret
            )
            asyncio.run(_load(app, scope, body, 300, args.concurrency))  # warm-up
            for _ in range(rounds):
                for mode in ("durable", "queued"):
                    _durable(mode == "durable")
                    before = audit.commits
                    results[mode].append(asyncio.run(_load(app, scope, body, requests, args.concurrency)))
                    commits[mode] += audit.commits - before
        finally:
            _durable(True)
            audit.close()
            app.executor.shutdown(wait=True)
            runtime.store.close()
    print(f"AssumeRole, in-process, SQLite, c={args.concurrency}, {rounds} x {requests} requests per mode (alternated)")
    print(f"{'mode':<10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'events/commit':>14}")
    for mode, runs in results.items():
        wall = sum(elapsed for elapsed, _ in runs)
        latencies = sorted(latency for _, run in runs for latency in run)
        count = len(latencies)
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[min(count - 1, int(count * 0.99))] * 1000
        grouping = f"{count / commits[mode]:.1f}" if mode == "durable" and commits[mode] else "-"
        print(f"{mode:<10} {count / wall:>8.0f} {p50:>8.2f} {p99:>8.2f} {grouping:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
