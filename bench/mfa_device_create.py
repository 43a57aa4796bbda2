"""Worst case of CreateVirtualMFADevice: the longest accepted name (226 characters: QR
code rendered, device written) and a refused 3 000-character name (ValidationError
before anything is built), timed through the handler (median/max of N runs; the
handler runs in the worker pool, not on the event loop).

    .venv/bin/python -m bench.mfa_device_create 30
"""

import contextlib
import datetime as dt
import io
import statistics
import sys
import tempfile
import time

import tessera.services.iam  # noqa
from tessera.arn import root_arn
from tessera.auth.caller import Caller
from tessera.clock import FixedClock
from tessera.errors import TesseraError
from tessera.server.bootstrap import open_runtime
from tessera.services.request import OperationContext, RequestInfo, lookup

A = "111122223333"
clock = FixedClock(dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
rt = open_runtime(
    tempfile.mkdtemp(),
    env={
        "TESSERA_ACCOUNT_ID": A,
        "TESSERA_ROOT_ACCESS_KEY_ID": "AKIAROOTUNITTEST0001",
        "TESSERA_ROOT_SECRET_ACCESS_KEY": "rootSecretForUnitTests00000000000000000",
    },
    clock=clock,
    out=io.StringIO(),
)
spec = lookup("iam", "CreateVirtualMFADevice")


def run(name):
    ctx = OperationContext(
        rt, Caller("root", A, root_arn(A), A, "", "AKIAROOTUNITTEST0001"), RequestInfo("r", clock.now(), "127.0.0.1", "x", "us-east-1")
    )
    t = time.perf_counter()
    with contextlib.suppress(TesseraError):
        spec.handler(ctx, {"VirtualMFADeviceName": name})
    return (time.perf_counter() - t) * 1000


for label, make in (("226 chars (accepted)", lambda i: f"{i:03d}" + "d" * 223), ("3000 chars (refused)", lambda i: "d" * 3000)):
    times = [run(make(i)) for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 30)]
    print(f"{label}: median {statistics.median(times):.2f} ms, max {max(times):.2f} ms")
