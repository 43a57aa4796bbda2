"""``python -m bench.hot_path``: Tessera's request path against the floor, in-process.

The load bench (``bench/load.py``) measures both over HTTP on a shared, noisy machine;
this measures the same requests without sockets, so two checkouts can be compared by
CPU time (or, under ``valgrind --tool=callgrind``, by instruction counts) rather than
by wall-clock throughput. Both apps get the load bench's own requests: pre-signed GET
URLs, each distinct (its own ``X-Amz-Expires``, and for AssumeRole its own
``RoleSessionName``), from the bench user (its identity policy) to a role trusting it.

Tessera runs as ``tessera serve`` runs it, minus the sockets: a runtime over a
temporary SQLite data directory, its audit writer writing to that store (flushed every
``AUDIT_EVERY`` requests, as its thread would under load, so the trail's cost is
counted), its metrics, the access log off (as the load bench runs it). The floor runs
as the load bench serves it, its AssumeRole journal (``floor.Journal``) in the same
temporary directory.

Instruction counts under callgrind are those of the thread that runs the loop: the
threads that commit durable records (Tessera's audit writer for AssumeRole's events,
the floor's journal) are not counted, while process CPU time counts every thread.

    python -m bench.hot_path                      # both apps, both operations: µs CPU/request and the ratio
    python -m bench.hot_path --only tessera --operation AssumeRole -n 20000   # one loop, for a profiler
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=sys_call_tracing \\
        --callgrind-out-file=/tmp/cg.out .venv/bin/python -m bench.hot_path \\
        --only tessera --operation AssumeRole -n 1000 --runs 1 --callgrind
    callgrind_annotate /tmp/cg.out | head -30     # total instructions / 1000 = per request

With ``--callgrind`` the measured runs (and nothing else: not the set-up, not the
warm-up) are called through ``sys.call_tracing``, whose C function ``sys_call_tracing``
is what callgrind is told to collect inside.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import statistics
import sys
import tempfile
import time
from collections.abc import MutableMapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bench import floor, load, seed
from bench.inproc import call
from tessera.audit.sink import AuditWriter
from tessera.auth import tokens
from tessera.clock import FixedClock
from tessera.server import heap
from tessera.server.app import _WARM_UP, TesseraApp
from tessera.server.bootstrap import open_runtime
from tessera.server.metrics import ServerMetrics
from tessera.services.runtime import Runtime

HOST = "127.0.0.1:8686"
ENDPOINT = f"http://{HOST}"
MASTER_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
AUDIT_EVERY = 200
App = Any  # an ASGI callable: TesseraApp or floor.Floor


def _scope(target: str) -> dict[str, Any]:
    path, _, query = target.partition("?")
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", HOST.encode()), (b"user-agent", b"wrk")],
        "client": ("127.0.0.1", 40000),
        "scheme": "http",
        "server": ("127.0.0.1", 8686),
    }


def _signed_post(params: dict[str, str], service: str) -> tuple[dict[str, Any], bytes]:
    import urllib.parse

    body = urllib.parse.urlencode(params).encode()
    request = AWSRequest("POST", ENDPOINT + "/", data=body, headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(load.ROOT_KEY_ID, load.ROOT_SECRET), service, load.REGION).add_auth(request)
    prepared = request.prepare()
    scope = _scope("/")
    scope["method"] = "POST"
    scope["headers"] = [(b"host", HOST.encode())] + [(k.lower().encode(), v.encode()) for k, v in prepared.headers.items()]
    return scope, prepared.body


def _iam(app: TesseraApp, **params: str) -> bytes:
    scope, body = _signed_post({**params, "Version": "2010-05-08"}, "iam")
    status, answer = asyncio.run(call(app, scope, body))
    if status != 200:
        raise RuntimeError(f"{params['Action']}: {status} {answer[:300]!r}")
    return answer


def build_tessera(data_dir: str) -> tuple[Runtime, TesseraApp, load.Principal]:
    """``tessera serve``'s app over ``data_dir``, provisioned as the load bench does it."""
    env = {**load.tessera_env(), "TESSERA_MASTER_KEY": MASTER_KEY}
    runtime = open_runtime(data_dir, env=env, clock=FixedClock(dt.datetime.now(dt.UTC)), out=io.StringIO())
    audit = AuditWriter(runtime.store, pause=0)
    app = TesseraApp(runtime, audit=audit, metrics=ServerMetrics(audit_backlog=lambda: audit.backlog), access_log_enabled=False)
    _iam(app, Action="CreateUser", UserName=load.USER)
    _iam(app, Action="PutUserPolicy", UserName=load.USER, PolicyName="assume-bench-roles", PolicyDocument=load.identity_policy())
    names = seed.role_names(10)
    for name in names:
        _iam(app, Action="CreateRole", RoleName=name, AssumeRolePolicyDocument=load.trust_policy())
    answer = _iam(app, Action="CreateAccessKey", UserName=load.USER).decode()
    key_id = answer.split("<AccessKeyId>")[1].split("<")[0]
    secret = answer.split("<SecretAccessKey>")[1].split("<")[0]
    audit.flush()
    heap.settle(_WARM_UP)  # as the app's start-up does
    return runtime, app, load.Principal(key_id, secret, f"arn:aws:iam::{load.ACCOUNT}:role/{names[-1]}")


def build_floor(data_dir: str) -> tuple[floor.Floor, load.Principal]:
    """The floor as the load bench serves it, its journal (AssumeRole's durable record) in ``data_dir``."""
    key_id, secret = tokens.new_access_key_id("AKIA", account=load.ACCOUNT), tokens.new_secret_access_key()
    role = f"arn:aws:iam::{load.ACCOUNT}:role/{seed.role_names(10)[-1]}"
    journal = floor.Journal(f"{data_dir}/floor-journal.db")
    return floor.Floor(key_id, secret, journal=journal), load.Principal(key_id, secret, role)


def targets(principal: load.Principal, operation: str, count: int) -> list[dict[str, Any]]:
    """``count`` distinct pre-signed GET requests, as ASGI scopes (the load bench's)."""
    credentials = Credentials(principal.access_key_id, principal.secret_access_key)
    scopes = []
    for i in range(count):
        request = AWSRequest(method="GET", url=ENDPOINT + "/", params=load.operation_params(operation, principal, i))
        SigV4QueryAuth(credentials, "sts", load.REGION, expires=load.BASE_EXPIRES + i).add_auth(request)
        parts = urlsplit(request.url)
        scopes.append(_scope(f"{parts.path}?{parts.query}"))
    return scopes


async def _loop(app: App, scopes: list[dict[str, Any]], audit: AuditWriter | None) -> float:
    """CPU seconds per request over ``scopes`` (the audit trail flushed as it fills)."""
    message = {"type": "http.request", "body": b"", "more_body": False}
    statuses: set[int] = set()

    async def receive() -> MutableMapping[str, Any]:
        return message

    async def send(sent: MutableMapping[str, Any]) -> None:
        if sent["type"] == "http.response.start":
            statuses.add(sent["status"])

    started = time.process_time()  # CPU time: a busy shared machine inflates wall time
    for i, scope in enumerate(scopes):
        await app(scope, receive, send)
        if audit is not None and i % AUDIT_EVERY == AUDIT_EVERY - 1:
            audit.flush()
    if audit is not None:
        audit.flush()
    elapsed = time.process_time() - started
    if statuses - {200}:
        raise RuntimeError(f"refused responses: {sorted(statuses)}")
    return elapsed / max(len(scopes), 1)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hot_path", description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("tessera", "floor"), help="one app only")
    parser.add_argument("--operation", choices=load.OPERATIONS, action="append", help="repeatable; default both")
    parser.add_argument("-n", type=int, default=4000, help="requests per run (each distinct)")
    parser.add_argument("--runs", type=int, default=5, help="runs per point; the median is reported")
    parser.add_argument("--callgrind", action="store_true", help="measured runs through sys.call_tracing (see above)")
    args = parser.parse_args(argv)
    operations = args.operation or list(load.OPERATIONS)
    apps = [args.only] if args.only else ["floor", "tessera"]
    with tempfile.TemporaryDirectory(prefix="tessera-hot-path-") as data_dir:
        runtime, tessera, tessera_principal = build_tessera(data_dir)
        floor_app, floor_principal = build_floor(data_dir)
        try:
            for operation in operations:
                costs: dict[str, float] = {}
                for name in apps:
                    app, principal = (tessera, tessera_principal) if name == "tessera" else (floor_app, floor_principal)
                    audit = tessera.audit if name == "tessera" else None
                    scopes = targets(principal, operation, args.n)
                    asyncio.run(_loop(app, scopes[: min(500, len(scopes))], audit))  # warm-up
                    measured = lambda: asyncio.run(_loop(app, scopes, audit)) * 1e6  # noqa: E731, B023
                    runs = [sys.call_tracing(measured, ()) if args.callgrind else measured() for _ in range(args.runs)]
                    costs[name] = statistics.median(runs) if runs else 0.0
                    print(f"{operation:<18} {name:<8} {costs[name]:7.1f} µs CPU/request  (runs {', '.join(f'{r:.1f}' for r in runs)})")
                if len(costs) == 2 and costs["tessera"]:
                    print(f"{operation:<18} floor/tessera CPU ratio {costs['floor'] / costs['tessera']:.2f}")
        finally:
            tessera.executor.shutdown(wait=True)
            tessera.audit.close()
            runtime.store.close()
            if floor_app.journal is not None:
                floor_app.journal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
