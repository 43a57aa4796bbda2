"""Measure the MFA limiter's table when it is flooded with keys that cannot be evicted
(each failed inside the window), as an attacker who could mint principals would try
(not a test: run it by hand and report the numbers).

    .venv/bin/python -m bench.mfa_limiter_table [keys] [--memory]

It fails once for each of ``keys`` fresh keys with the server's default limits, then
prints the table size, the memory it holds (with ``--memory``: tracemalloc, which slows
everything down, so timings mean something only without it), the time one failure took
once the table was past its cap (median, p99, worst; each new key then looks at up to
``EVICTION_SCAN`` entries), and whether a device holding ``max_failures - 1`` failures
before the flood is still one failure from a lock-out after it."""

from __future__ import annotations

import datetime as dt
import sys
import time
import tracemalloc

from tessera.services.throttle import EVICTION_SCAN, FailureLimiter, Limits


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--memory"]
    memory = "--memory" in sys.argv
    keys = int(args[0]) if args else 100_000
    limits = Limits()
    limiter = FailureLimiter(limits)
    start = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    device = "mfa-device:arn:aws:iam::111122223333:mfa/victim"

    def fail(chosen: list[str], at: dt.datetime) -> None:
        with limiter.attempt(chosen, at) as attempt:
            attempt.fail()

    if memory:
        tracemalloc.start()
    for _ in range(limits.max_failures - 1):
        fail(["principal:AIDAATTACKER", device], start)
    past_cap: list[float] = []
    at = start + dt.timedelta(seconds=1)
    for i in range(keys):
        began = time.perf_counter()
        fail([f"principal:AIDA{i:016d}"], at)
        if len(limiter) > limits.max_entries:
            past_cap.append(time.perf_counter() - began)
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    fail(["principal:AIDAACCOMPLICE", device], at)
    print(f"keys flooded: {keys}, table entries: {len(limiter)} (cap {limits.max_entries}, scan {EVICTION_SCAN})")
    if memory:
        print(f"memory held: {current / 2**20:.1f} MiB ({current / len(limiter):.0f} bytes per entry)")
    past_cap.sort()
    if past_cap:
        p50, p99 = past_cap[len(past_cap) // 2], past_cap[len(past_cap) * 99 // 100]
        print(
            f"one failure past the cap: median {p50 * 1e6:.0f} µs, p99 {p99 * 1e6:.0f} µs, "
            f"worst {past_cap[-1] * 1e6:.0f} µs (worst includes garbage-collector passes)"
        )
    print(f"device locked after one more failure: {limiter.locked(device, at)}")


if __name__ == "__main__":
    main()
