"""``python -m bench.tail``: what stalls Tessera's event loop while it serves at c=64.

Runs ``tessera serve`` (10 roles, as ``bench.load`` provisions it) with three probes
installed before the server starts, drives AssumeRole (or GetCallerIdentity) with wrk
at concurrency 64, and prints the latency percentiles beside what could make the tail:

* the cycle collector: every collection, by generation, with its pause (``gc.callbacks``);
* the audit writer: every wake-up's ``flush``, how long it took and how many events;
* the event loop: every gap of more than ``STALL_MS`` between two ticks of a callback
  rescheduled with ``call_soon`` (a stall every request in flight waits through).

    python -m bench.tail [--operation GetCallerIdentity] [--seconds 5]

Compare runs on the same machine; the probes add their own small cost.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import load, seed, servers, wrk

STALL_MS = 5.0

# Installed in the server process before ``tessera serve`` runs; writes its findings to
# the file named by TESSERA_TAIL_OUT when the server exits.
PROBE = r"""
import asyncio, atexit, gc, json, os, sys, time
from tessera.audit import sink

found = {"gc": [], "flush": [], "stalls": []}
_started = [0.0]

def _gc(phase, info):
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        found["gc"].append([info["generation"], time.perf_counter() - _started[0], time.time()])

gc.callbacks.append(_gc)
_flush = sink.AuditWriter.flush

def flush(self):
    count, began = len(self._pending), time.perf_counter()
    _flush(self)
    if count:
        found["flush"].append([count, time.perf_counter() - began, time.time()])

sink.AuditWriter.flush = flush
_new_loop = asyncio.new_event_loop

def _watch(loop):
    last = [time.perf_counter()]
    def tick():
        now = time.perf_counter()
        if now - last[0] > %(stall)f:
            found["stalls"].append([now - last[0], time.time()])
        last[0] = now
        loop.call_later(0.001, tick)
    loop.call_soon(tick)

_run = asyncio.BaseEventLoop.run_forever

def run_forever(self):
    _watch(self)
    return _run(self)

asyncio.BaseEventLoop.run_forever = run_forever
try:
    import uvloop
    _uv_run = uvloop.Loop.run_forever
    def uv_run_forever(self):
        _watch(self)
        return _uv_run(self)
    uvloop.Loop.run_forever = uv_run_forever
except (ImportError, TypeError, AttributeError):
    pass

atexit.register(lambda: open(os.environ["TESSERA_TAIL_OUT"], "w").write(json.dumps(found)))
from tessera.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def summary(found: dict[str, list[list[float]]], window: tuple[float, float]) -> str:
    """What the probes saw between ``window``'s two wall-clock times."""
    found = {name: [entry for entry in entries if window[0] <= entry[-1] <= window[1]] for name, entries in found.items()}
    lines = []
    for generation in (0, 1, 2):
        pauses = [entry[1] for entry in found["gc"] if entry[0] == generation]
        if pauses:
            lines.append(
                f"  gc gen{generation}: {len(pauses):5d} collections, max {max(pauses) * 1e3:6.2f} ms, total {sum(pauses) * 1e3:7.1f} ms"
            )
    flushes = found["flush"]
    if flushes:
        events = sum(int(f[0]) for f in flushes)
        worst = max(flushes, key=lambda f: f[1])
        lines.append(
            f"  audit flushes: {len(flushes)} ({events} events), longest {worst[1] * 1e3:.1f} ms for {worst[0]} events,"
            f" total {sum(f[1] for f in flushes) * 1e3:.0f} ms"
        )
    stalls = sorted((entry[0] for entry in found["stalls"]), reverse=True)
    lines.append(
        f"  loop stalls > {STALL_MS:g} ms: {len(stalls)}"
        + (f", worst {', '.join(f'{s * 1e3:.1f}' for s in stalls[:8])} ms, total {sum(stalls) * 1e3:.0f} ms" if stalls else "")
    )
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tail", description=__doc__.split("\n")[0])
    parser.add_argument("--operation", choices=load.OPERATIONS, default=load.ASSUME_ROLE)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tessera-tail-") as tmp:
        work = Path(tmp)
        out = work / "found.json"
        port = servers.free_port()
        probe = PROBE % {"stall": STALL_MS / 1e3}
        command = [sys.executable, "-c", probe, "serve", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--data-dir", str(work / "data"), "--no-access-log"]
        env = {**load.tessera_env(), "TESSERA_TAIL_OUT": str(out)}
        with servers.start("tessera", command, port=port, health_path="/healthz", log_dir=work, env=env) as server:
            target = f"arn:aws:iam::{load.ACCOUNT}:role/{seed.role_names(10)[-1]}"
            principal = load.provision(server.base_url, create_roles=10, target_role=target)
            targets = work / "targets.txt"
            load.write_targets(targets, server.base_url, principal, args.operation, 4000)
            wrk.run(server.base_url, targets, connections=args.connections, seconds=1.0)  # warm-up
            began = time.time()
            result = wrk.run(server.base_url, targets, connections=args.connections, seconds=args.seconds)
            window = (began, time.time())
        found = json.loads(out.read_text())
    print(
        f"{args.operation} c={args.connections}: {result.rps:.0f} req/s, p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms,"
        f" non-2xx {result.refused}"
    )
    print("during the measured run:")
    print(summary(found, window))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
