"""``python -m bench.preauth``: CPU time the server spends on a request before (and, for
reference, after) authentication, for the worst inputs an unauthenticated client can send.

Builds the real ``TesseraApp`` on a throw-away SQLite data directory and times its
``_prepare`` step (everything before the handler: envelope, signature, parse) for each
input, in process, so the number is event-loop time the request would hold. Prints the
median and the worst of ``--runs`` runs per input, in milliseconds.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Sequence

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tessera.audit.sink import AuditWriter
from tessera.errors import TesseraError
from tessera.server.app import TesseraApp
from tessera.server.bootstrap import open_runtime
from tessera.server.metrics import ServerMetrics

MIB = 1 << 20
FORM = "application/x-www-form-urlencoded; charset=utf-8"
ENDPOINT = "http://127.0.0.1:8080"
KEY_ID, SECRET = "AKIAPREAUTHBENCH0001", "preauth-bench-secret-0000000000000000000"

Request = tuple[str, str, list[tuple[bytes, bytes]], bytes]  # method, query, headers, body


def _plain(body: bytes) -> Request:
    return "POST", "", [(b"host", b"127.0.0.1:8080"), (b"content-type", FORM.encode())], body


def _signed(body: bytes, secret: str, service: str = "sts") -> Request:
    request = AWSRequest("POST", ENDPOINT + "/", data=body, headers={"Content-Type": FORM, "Host": "127.0.0.1:8080"})
    SigV4Auth(Credentials(KEY_ID, secret), service, "us-east-1").add_auth(request)
    headers = [(k.lower().encode(), v.encode()) for k, v in request.prepare().headers.items()]
    return "POST", "", headers, body


def _presigned(query: str, secret: str) -> Request:
    request = AWSRequest("GET", f"{ENDPOINT}/?{query}", headers={"Host": "127.0.0.1:8080"})
    SigV4QueryAuth(Credentials(KEY_ID, secret), "sts", "us-east-1").add_auth(request)
    url = str(request.prepare().url)
    return "GET", urllib.parse.urlsplit(url).query, [(b"host", b"127.0.0.1:8080")], b""


def _inputs() -> dict[str, Request]:
    head = b"Action=GetCallerIdentity&Version=2011-06-15&X="
    escapes = head + b"%41" * ((MIB - len(head)) // 3)
    many = b"&".join(b"p%d=1" % i for i in range(200_000))[:MIB]
    plus = head + b"+" * (MIB - len(head))
    big_query = "Action=GetCallerIdentity&Version=2011-06-15&X=" + "%41" * 20_000
    method, query, headers, body = _signed(b"Action=GetCallerIdentity&Version=2011-06-15", "not-the-secret")
    long_signed = [
        (name, value.replace(b"SignedHeaders=", b"SignedHeaders=" + b"a;" * 4000)) if name == b"authorization" else (name, value)
        for name, value in headers
    ] + [(b"x-amz-h%d" % i, b"x") for i in range(100)]
    return {
        "8 KiB SignedHeaders, 100 unsigned x-amz-* headers": (method, query, long_signed, body),
        "unsigned 1 MiB of %41": _plain(escapes),
        "unsigned 1 MiB of parameters": _plain(many),
        "unsigned 1 MiB of +": _plain(plus),
        "wrong secret, 1 MiB of %41": _signed(escapes, "not-the-secret"),
        "wrong secret, 1 MiB of parameters": _signed(many, "not-the-secret"),
        "right secret, scoped to iam, 1 MiB of %41": _signed(escapes, SECRET, "iam"),
        "presigned, wrong secret, 60 KiB query of %41": _presigned(big_query, "not-the-secret"),
        "(after auth) signed, 1 MiB of %41": _signed(escapes, SECRET),
        "(after auth) signed, 1 MiB of parameters": _signed(many, SECRET),
    }


def _time(app: TesseraApp, request: Request, outcome: list[str]) -> float:
    method, query, headers, body = request
    scope = {"type": "http", "method": method, "path": "/", "query_string": query.encode(), "headers": headers, "client": ("127.0.0.1", 1)}
    ex = app._exchange(scope, method, "/")
    ex.body = body
    started = time.process_time()
    try:
        app._prepare(ex)
        code = "ok"
    except TesseraError as error:
        code = error.code
    elapsed = (time.process_time() - started) * 1000
    outcome[:] = [code]
    return elapsed


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.preauth")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(list(argv))
    data_dir = tempfile.mkdtemp(prefix="tessera-preauth-")
    try:
        env = {"TESSERA_ROOT_ACCESS_KEY_ID": KEY_ID, "TESSERA_ROOT_SECRET_ACCESS_KEY": SECRET}
        runtime = open_runtime(data_dir, env=env, out=open("/dev/null", "w"))  # noqa: SIM115
        audit = AuditWriter(runtime.store)
        app = TesseraApp(runtime, audit=audit, metrics=ServerMetrics(audit_backlog=lambda: 0))
        outcome: list[str] = []
        measure: Callable[[Request], float] = lambda request: _time(app, request, outcome)  # noqa: E731
        print(f"{'input':<48} {'median ms':>10} {'worst ms':>10}  outcome")
        for name, request in _inputs().items():
            measure(request)  # warm caches
            times = [measure(request) for _ in range(args.runs)]
            print(f"{name:<48} {statistics.median(times):>10.2f} {max(times):>10.2f}  {outcome[0]}", flush=True)
        app.executor.shutdown()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
