"""Instruction counts of AuthorizeRequest and GetCallerIdentity, stable on a busy machine::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect=functools_reduce \\
        .venv/bin/python -m bench.authz_instructions authorize 200

The requests of ``bench.authz_call`` (``authorize``) or ``bench.app_call``
(``caller-identity``), N of them (default 200) after 200 of warm-up, driven as ASGI calls
inside one ``functools.reduce``: callgrind counts only while that C function runs, so
start-up, provisioning and warm-up are left out. Divide the ``Collected`` total by N.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import tempfile
from collections.abc import MutableMapping, Sequence
from typing import Any

from bench.authz_call import authorize_scope, provision
from bench.inproc import build_app, signed_scope


def main(argv: Sequence[str]) -> int:
    workload = argv[0] if argv else "authorize"
    n = int(argv[1]) if len(argv) > 1 else 200
    with tempfile.TemporaryDirectory() as data_dir:
        runtime, app = build_app(data_dir)
        try:
            if workload == "authorize":
                scope, body = authorize_scope(*provision(app))
            else:
                scope, body = signed_scope({"Action": "GetCallerIdentity", "Version": "2011-06-15"}, "sts")
            statuses: list[int] = []
            message = {"type": "http.request", "body": body, "more_body": False}

            async def receive() -> MutableMapping[str, Any]:
                return message

            async def send(sent: MutableMapping[str, Any]) -> None:
                if sent["type"] == "http.response.start":
                    statuses.append(sent["status"])

            loop = asyncio.new_event_loop()

            def one(_: object, __: object) -> None:
                loop.run_until_complete(app(scope, receive, send))

            for _ in range(200):  # warm-up, not counted
                one(None, None)
            app.audit.flush()
            statuses.clear()
            functools.reduce(one, range(n), None)
            loop.close()
            app.audit.flush()
            assert set(statuses) == {200}, set(statuses)
        finally:
            app.executor.shutdown(wait=True)
            runtime.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
