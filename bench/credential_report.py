"""The credential report over a large account: 5 000 users, each with 2 access keys,
2 signing certificates and 1 MFA device, built by ``build_report`` (the CSV the
GenerateCredentialReport handler stores), timed (median/max of N runs).

    .venv/bin/python -m bench.credential_report [runs] [users]
"""

from __future__ import annotations

import datetime as dt
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import tessera.services.iam  # noqa: F401  (registers the handlers)
from tessera.arn import iam_arn, root_arn
from tessera.auth.caller import Caller
from tessera.clock import FixedClock
from tessera.server.bootstrap import open_runtime
from tessera.services.iam.credential_report import build_report
from tessera.services.request import OperationContext, RequestInfo

ACCOUNT = "111122223333"
STAMP = "2026-01-02T03:04:05Z"


def records(users: int) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {"users": [], "keys": [], "certs": [], "devices": [], "profiles": []}
    for i in range(users):
        name = f"User{i:05d}"
        uid = f"AIDA{i:017d}"
        out["users"].append({"id": uid, "name": name, "arn": iam_arn(ACCOUNT, "user", "/", name), "created": STAMP})
        out["profiles"].append({"user_id": uid, "user": name, "changed": STAMP, "last_used": None})
        for k in range(2):
            out["keys"].append({"id": f"AKIA{i:05d}{k:011d}", "user": name, "status": "Active", "created": STAMP})
            out["certs"].append({"id": f"CERT{i:05d}{k:011d}", "user": name, "status": "Active", "uploaded": STAMP})
        out["devices"].append({"serial": f"arn:aws:iam::{ACCOUNT}:mfa/{name}", "user": name, "enabled_at": STAMP})
    return out


def main(argv: Sequence[str]) -> int:
    runs = int(argv[0]) if argv else 3
    users = int(argv[1]) if len(argv) > 1 else 5_000
    clock = FixedClock(dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    env = {
        "TESSERA_ACCOUNT_ID": ACCOUNT,
        "TESSERA_ROOT_ACCESS_KEY_ID": "AKIAROOTBENCH0000001",
        "TESSERA_ROOT_SECRET_ACCESS_KEY": "rootSecretForTheBench000000000000000000",
    }
    runtime = open_runtime(tempfile.mkdtemp(), env=env, clock=clock, out=io.StringIO())
    root = Caller("root", ACCOUNT, root_arn(ACCOUNT), ACCOUNT, "", "AKIAROOTBENCH0000001")
    ctx = OperationContext(runtime, root, RequestInfo("bench", clock.now(), "127.0.0.1", "bench", "us-east-1"))
    data = records(users)
    account = {"id": ACCOUNT, "created": STAMP}
    times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        text = build_report(ctx, account, data["users"], data["keys"], data["devices"], data["profiles"], data["certs"], None)
        times.append(time.perf_counter() - start)
    rows = text.count("\n") - 1
    print(f"credential report: {users} users x 2 keys x 2 certs x 1 MFA, {rows} rows")
    print(f"  median {statistics.median(times):.3f} s  max {max(times):.3f} s over {runs} runs")
    runtime.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
