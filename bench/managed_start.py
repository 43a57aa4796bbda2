"""Start-up and request-path cost of the shipped AWS managed policies.

``python bench/managed_start.py [--starts 3] [--requests 400]`` prints:

* ``tessera serve`` (SQLite, ``tests/serverproc.py``): time from spawn until
  ``/healthz`` answers, the CPU time the process used until then (what other load on
  the machine does not inflate), and its RSS then (median of ``--starts``);
* in-process (the ASGI app called directly, requests signed beforehand, the heap frozen
  as the server freezes it; CPU time of this process, so other load on the machine
  counts less): GetCallerIdentity as root, and AssumeRole by a user with
  ``AdministratorAccess`` attached, in µs a request (best of three rounds).

Run with ``PYTHONPATH`` pointing at another checkout's ``src`` to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import shutil
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from serverproc import TesseraServer, new_data_dir

from bench.inproc import ACCOUNT, KEY, SECRET, build_app, exchange


def serve_start(starts: int) -> None:
    seconds: list[float] = []
    rss: list[int] = []
    cpu: list[float] = []
    for _ in range(starts):
        data_dir = new_data_dir()
        server = TesseraServer(data_dir)
        began = time.monotonic()
        server.start()
        seconds.append(time.monotonic() - began)
        rss.append(server.rss_kib())
        assert server.process is not None
        with open(f"/proc/{server.process.pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        cpu.append((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    print(
        f"tessera serve: ready in {statistics.median(seconds) * 1000:.0f} ms"
        f" ({statistics.median(cpu) * 1000:.0f} ms of its CPU), RSS {statistics.median(rss) / 1024:.1f} MiB"
    )


def in_process(requests: int) -> None:
    data_dir = new_data_dir()
    runtime, app = build_app(data_dir)
    loop = asyncio.new_event_loop()

    def run(params: dict[str, str], service: str = "iam", key: str = KEY, secret: str = SECRET) -> bytes:
        scope, receive, send, sent = exchange(params, service, key, secret)
        loop.run_until_complete(app(scope, receive, send))
        assert sent[0]["status"] == 200, sent[1]["body"][:300]
        return bytes(sent[1]["body"])

    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}],
    }
    run({"Action": "CreateRole", "Version": "2010-05-08", "RoleName": "r", "AssumeRolePolicyDocument": json.dumps(trust)})
    run({"Action": "CreateUser", "Version": "2010-05-08", "UserName": "u"})
    run(
        {"Action": "AttachUserPolicy", "Version": "2010-05-08", "UserName": "u", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    )
    body = run({"Action": "CreateAccessKey", "Version": "2010-05-08", "UserName": "u"}).decode()
    user_key = re.search("<AccessKeyId>(.*?)<", body).group(1)  # type: ignore[union-attr]
    user_secret = re.search("<SecretAccessKey>(.*?)<", body).group(1)  # type: ignore[union-attr]
    gc.collect()
    gc.freeze()

    def timed(params: dict[str, str], key: str, secret: str) -> float:
        prepared = [exchange(params, "sts", key, secret) for _ in range(requests)]
        for scope, receive, send, _ in prepared[:20]:
            loop.run_until_complete(app(scope, receive, send))
        began = time.process_time()
        for scope, receive, send, _ in prepared[20:]:
            loop.run_until_complete(app(scope, receive, send))
        elapsed = (time.process_time() - began) / (requests - 20)
        assert all(sent[0]["status"] == 200 for *_, sent in prepared)
        return elapsed * 1e6

    cases = [
        ("GetCallerIdentity (root)", {"Action": "GetCallerIdentity", "Version": "2011-06-15"}, KEY, SECRET),
        (
            "AssumeRole (user with AdministratorAccess attached)",
            {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/r", "RoleSessionName": "bench"},
            user_key,
            user_secret,
        ),
    ]
    for name, params, key, secret in cases:
        best = min(timed(params, key, secret) for _ in range(3))
        print(f"{name}: {best:.0f} µs a request")
    app.executor.shutdown(wait=True)
    runtime.store.close()
    shutil.rmtree(data_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    serve_start(args.starts)
    in_process(args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
