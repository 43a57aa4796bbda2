"""``python -m bench.web_identity_call [N]``: the in-process cost of one
AssumeRoleWithWebIdentity against one AssumeRole, in the same process.

The identity provider is the federation bench's (``bench.federation.issuer``: HTTPS on
loopback, one RSA key); its keys are fetched by the first call and cached after. Each
AssumeRoleWithWebIdentity is an unsigned GET with its own RS256 token (signed before
the run), as the load bench sends them; AssumeRole is one request signed by a user allowed to assume
the role, replayed.
Both go through ``TesseraApp`` as ASGI calls (no sockets, no HTTP parsing), including
the group commit of their audit events (to a sink that keeps nothing), alternated in
five rounds of N requests each (default 5 000). Prints the best and the median of each,
in microseconds of process CPU time per request (every thread counts), and their ratio.
With ``--callgrind`` the measured rounds (and nothing else) run through
``sys.call_tracing``, so that callgrind counts only them:

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=sys_call_tracing \
        --callgrind-out-file=/dev/null .venv/bin/python -m bench.web_identity_call 400 \
        --only AssumeRoleWithWebIdentity --callgrind          # total / (5 × 400) per request
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.audit_durable import _setup as assumer
from bench.federation import AUDIENCE, STS_VERSION, issuer, provision
from bench.inproc import ACCOUNT, build_app, call, signed_scope
from tessera.server.app import TesseraApp


class _Iam:
    """The few IAM calls ``bench.federation.provision`` makes, through the app."""

    def __init__(self, app: TesseraApp) -> None:
        self.app = app

    def _call(self, params: dict[str, str]) -> str:
        scope, body = signed_scope({**params, "Version": "2010-05-08"}, "iam")
        status, answer = asyncio.run(call(self.app, scope, body))
        assert status == 200, answer[:300]
        return answer.decode()

    def create_open_id_connect_provider(self, Url: str, ClientIDList: list[str], ThumbprintList: list[str]) -> dict[str, str]:
        answer = self._call(
            {
                "Action": "CreateOpenIDConnectProvider",
                "Url": Url,
                "ClientIDList.member.1": ClientIDList[0],
                "ThumbprintList.member.1": ThumbprintList[0],
            }
        )
        return {"OpenIDConnectProviderArn": _element(answer, "OpenIDConnectProviderArn")}

    def create_role(self, RoleName: str, AssumeRolePolicyDocument: str) -> dict[str, dict[str, str]]:
        answer = self._call({"Action": "CreateRole", "RoleName": RoleName, "AssumeRolePolicyDocument": AssumeRolePolicyDocument})
        return {"Role": {"Arn": _element(answer, "Arn")}}


def _element(xml: str, name: str) -> str:
    return xml.split(f"<{name}>", 1)[1].split(f"</{name}>", 1)[0]


def _scope(method: str, query: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": "/",
        "raw_path": b"/",
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1:8686"), *headers],
        "client": ("127.0.0.1", 5000),
        "scheme": "http",
        "server": ("127.0.0.1", 8686),
    }


async def _run(app: TesseraApp, requests: list[tuple[dict[str, Any], bytes]]) -> float:
    started = time.process_time()  # CPU time: a busy shared machine inflates wall time
    for scope, body in requests:
        status, answer = await call(app, scope, body)
        assert status == 200, answer[:300]
    return (time.process_time() - started) / len(requests) * 1e6


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web_identity_call", description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=5_000, help="requests per round")
    parser.add_argument("--only", choices=("AssumeRole", "AssumeRoleWithWebIdentity"), help="measure one call only")
    parser.add_argument("--callgrind", action="store_true", help="measured rounds through sys.call_tracing (see above)")
    args = parser.parse_args(argv)
    n, rounds = args.n, 5

    def measured(requests: list[tuple[dict[str, Any], bytes]]) -> float:
        def run() -> float:
            return asyncio.run(_run(app, requests))

        return float(sys.call_tracing(run, ())) if args.callgrind else run()

    with tempfile.TemporaryDirectory() as data_dir, issuer(Path(data_dir)) as idp:
        runtime, app = build_app(data_dir)
        try:
            iam = _Iam(app)
            role_arn = provision(iam, idp)
            key, secret = assumer(app)  # may assume the role ``bench``
            signed = signed_scope(
                {
                    "Action": "AssumeRole",
                    "Version": STS_VERSION,
                    "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/bench",
                    "RoleSessionName": "bench",
                },
                "sts",
                key,
                secret,
            )
            tokens = [idp.token() for _ in range((rounds + 1) * n)]

            def web_identity(i: int) -> tuple[dict[str, Any], bytes]:
                params = {
                    "Action": "AssumeRoleWithWebIdentity",
                    "Version": STS_VERSION,
                    "RoleArn": role_arn,
                    "RoleSessionName": f"bench-{i % 100000:05d}",
                    "WebIdentityToken": tokens[i],
                }
                return _scope("GET", urlencode(params), []), b""

            assert AUDIENCE
            warm = [web_identity(i) for i in range(n)]
            asyncio.run(_run(app, warm))  # fetches the provider's keys, then warms up
            asyncio.run(_run(app, [signed] * n))
            batches = [[web_identity(r * n + i) for i in range(n)] for r in range(1, rounds + 1)]
            gc.collect()
            gc.freeze()  # the prepared requests are not the server's garbage to scan
            plain: list[float] = []
            federated: list[float] = []
            for batch in batches:
                if args.only != "AssumeRoleWithWebIdentity":
                    plain.append(measured([signed] * n))
                if args.only != "AssumeRole":
                    federated.append(measured(batch))
        finally:
            app.executor.shutdown(wait=True)
            runtime.store.close()
    for name, runs in (("AssumeRole", plain), ("AssumeRoleWithWebIdentity", federated)):
        if runs:
            print(f"{name}: best {min(runs):.1f}, median {statistics.median(runs):.1f} µs CPU/request ({rounds} x {n})")
    if plain and federated:
        ratio = statistics.median(plain) / statistics.median(federated)
        print(f"ratio of medians (AssumeRole / AssumeRoleWithWebIdentity CPU): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
