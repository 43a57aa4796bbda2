"""``python -m bench write [--quick] [--users N] [--pg URL]``: what one write costs as the
account grows.

CreateUser, PutRolePolicy, CreateAccessKey (the user's first key: its quota is counted)
and DeleteUser (of a user with nothing attached: every kind of credential it might own
is checked), driven through ``TesseraApp`` in-process (signed with botocore, the
handlers in the app's thread pool, the store and the in-memory view real), in an empty
account and in one seeded with N users, each with an access key, and N roles (10 000
each by default; written straight through the store, shaped as the handlers write
them). Prints p50/p99 wall-clock latency per operation in milliseconds, on SQLite
and, with ``--pg`` (or ``TESSERA_BENCH_POSTGRES_URL``), on PostgreSQL in a fresh schema
dropped afterwards. The writes land in one account, so the numbers measure a write's
own cost (the store, and bringing the view forward), not contention. AWS's default
quotas (5 000 users, 1 000 roles per account; adjustable) are raised in this process
only, so that the large account still takes writes.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from bench.inproc import ACCOUNT, ENV, NullSink, signed_scope
from bench.seed import role_record
from tessera.arn import iam_arn
from tessera.audit.sink import AuditWriter
from tessera.clock import SystemClock, iso_seconds
from tessera.server.app import TesseraApp
from tessera.server.bootstrap import open_runtime
from tessera.server.metrics import ServerMetrics
from tessera.services import records as R
from tessera.services.accounts import add_access_key
from tessera.services.iam import quotas
from tessera.services.ids import USER_PREFIX, new_unique_id

TRUST = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
INLINE = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket-%d/*"}]}'
SEED_BATCH = 2000


def user_record(name: str, now: dt.datetime) -> dict[str, Any]:
    """A user record as CreateUser stores it (path ``/``, no boundary, no tags)."""
    return {
        "name": name,
        "id": new_unique_id(USER_PREFIX),
        "path": "/",
        "arn": iam_arn(ACCOUNT, R.USER, "/", name),
        "created": iso_seconds(now),
        "tags": [],
        "inline_policies": {},
        "attached": [],
        "boundary": None,
        "groups": [],
    }


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A URL selecting a fresh schema of ``base_url``'s database, dropped afterwards."""
    base = make_url(base_url)
    if base.drivername == "postgresql":
        base = base.set(drivername="postgresql+psycopg")
    schema = f"tessera_bench_{uuid.uuid4().hex}"
    admin = create_engine(base, poolclass=NullPool)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        options = " ".join(filter(None, [base.query.get("options"), f"-csearch_path={schema}"]))
        yield base.update_query_dict({"options": options}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


Timings = tuple[list[float], list[float]]  # wall-clock seconds, process CPU seconds


def measure(database_url: str | None, seeded: int, runs: int) -> dict[str, Timings]:
    """Latencies (seconds) of each operation, ``runs`` times, in an account with
    ``seeded`` users and roles."""
    quotas.USERS_PER_ACCOUNT = quotas.ROLES_PER_ACCOUNT = 2 * seeded + 2 * runs + 10
    data_dir = tempfile.mkdtemp(prefix="tessera-bench-")
    now = dt.datetime.now(dt.UTC)
    runtime = open_runtime(data_dir, database_url, env=ENV, clock=SystemClock(), out=io.StringIO())  # botocore signs at the real time
    app = TesseraApp(runtime, audit=AuditWriter(NullSink()), metrics=ServerMetrics(), access_log_enabled=False)  # type: ignore[arg-type]
    try:
        for start in range(0, seeded, SEED_BATCH):
            with runtime.store.write(ACCOUNT) as tx:
                for i in range(start, min(start + SEED_BATCH, seeded)):
                    tx.insert(ACCOUNT, R.USER, f"seed-user-{i:06d}", user_record(f"seed-user-{i:06d}", now))
                    add_access_key(tx, runtime.secret_box, ACCOUNT, user=f"seed-user-{i:06d}", now=now)
                    tx.insert(ACCOUNT, R.ROLE, f"seed-role-{i:06d}", role_record(ACCOUNT, f"seed-role-{i:06d}", TRUST, now))
        names = [f"bench-user-{i:05d}" for i in range(runs)]
        doomed = [f"bench-doomed-{i:05d}" for i in range(runs)]
        with runtime.store.write(ACCOUNT) as tx:
            tx.insert(ACCOUNT, R.ROLE, "bench-role", role_record(ACCOUNT, "bench-role", TRUST, now))
            for name in doomed:
                tx.insert(ACCOUNT, R.USER, name, user_record(name, now))
        runtime.view.refresh([ACCOUNT])
        operations: dict[str, Callable[[int], dict[str, str]]] = {
            "CreateUser": lambda i: {"Action": "CreateUser", "UserName": names[i]},
            "PutRolePolicy": lambda i: {
                "Action": "PutRolePolicy",
                "RoleName": "bench-role",
                "PolicyName": f"p{i % 8}",
                "PolicyDocument": INLINE % i,
            },
            "CreateAccessKey": lambda i: {"Action": "CreateAccessKey", "UserName": names[i]},
            "DeleteUser": lambda i: {"Action": "DeleteUser", "UserName": doomed[i]},
        }
        return {name: asyncio.run(_timed(app, [params(i) for i in range(runs)])) for name, params in operations.items()}
    finally:
        app.executor.shutdown()
        runtime.store.close()
        shutil.rmtree(data_dir, ignore_errors=True)


async def _timed(app: TesseraApp, requests: list[dict[str, str]]) -> Timings:
    times: list[float] = []
    cpu: list[float] = []
    for params in requests:
        scope, body = signed_scope({**params, "Version": "2010-05-08"}, "iam")
        statuses: list[int] = []
        message = {"type": "http.request", "body": body, "more_body": False}

        async def receive(message: MutableMapping[str, Any] = message) -> MutableMapping[str, Any]:
            return message

        async def send(sent: MutableMapping[str, Any], statuses: list[int] = statuses) -> None:
            if sent["type"] == "http.response.start":
                statuses.append(sent["status"])

        started, started_cpu = time.perf_counter(), time.process_time()
        await app(scope, receive, send)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        assert statuses == [200], (params["Action"], statuses)
    return times, cpu


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench write", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 000 users and roles, 50 calls per operation")
    parser.add_argument("--users", type=int, default=10_000, help="users (and roles) in the large account")
    parser.add_argument("--runs", type=int, default=200, help="calls per operation")
    parser.add_argument("--pg", default=os.environ.get("TESSERA_BENCH_POSTGRES_URL"), help="a PostgreSQL URL to measure too")
    args, _ = parser.parse_known_args(argv)
    users, runs = (1_000, 50) if args.quick else (args.users, args.runs)
    backends: list[tuple[str, str | None]] = [("sqlite", None)]
    if args.pg:
        backends.append(("postgresql", args.pg))
    seeded = f"{users} users (one access key each) + {users} roles"
    print(f"write latency, ms: wall p50 / p99 and process CPU p50 of {runs} calls; empty account vs {seeded}")
    heading = ("backend", "operation", "empty p50", "p99", "cpu", "large p50", "p99", "cpu", "ratio", "cpu")
    print("  {:<11} {:<16} {:>9} {:>7} {:>6} {:>10} {:>7} {:>6} {:>6} {:>6}".format(*heading))
    for backend, url in backends:
        results: dict[int, dict[str, Timings]] = {}
        for seeded in (0, users):
            if url is None:
                results[seeded] = measure(None, seeded, runs)
            else:
                with postgres_schema(url) as schema_url:
                    results[seeded] = measure(schema_url, seeded, runs)
        for operation in results[0]:
            (empty, empty_cpu), (large, large_cpu) = results[0][operation], results[users][operation]
            e50, e99, ec = statistics.median(empty) * 1e3, _percentile(empty, 0.99) * 1e3, statistics.median(empty_cpu) * 1e3
            l50, l99, lc = statistics.median(large) * 1e3, _percentile(large, 0.99) * 1e3, statistics.median(large_cpu) * 1e3
            print(
                f"  {backend:<11} {operation:<16} {e50:>9.2f} {e99:>7.2f} {ec:>6.2f} {l50:>10.2f} {l99:>7.2f} {lc:>6.2f}"
                f" {l50 / e50:>5.2f}x {lc / ec:>5.2f}x",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
