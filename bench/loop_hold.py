"""``python -m bench.loop_hold``: how long heavy authenticated requests keep everyone else
waiting. A probe sends GetCallerIdentity every 5 ms over its own connection and records
its latency, first alone, then while another client sends, one after another, signed
1 MiB bodies of ~116 000 tiny parameters (the most expensive body to decode). Prints the
probe's median and worst latency in each phase and the heavy requests' own time.

Run with ``PYTHONPATH=<another checkout>/src`` to measure that code instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "attack"))
from attackkit import RawClient
from serverproc import TesseraServer, new_data_dir


def _probe(raw: RawClient, stop: threading.Event, samples: list[float]) -> None:
    while not stop.is_set():
        prepared = raw.signed("sts", {"Action": "GetCallerIdentity"})
        start = time.perf_counter()
        reply = raw.send(prepared)
        samples.append((time.perf_counter() - start) * 1000)
        assert reply.status == 200, reply.text
        time.sleep(0.005)


def _phase(raw: RawClient, seconds: float, heavy: bool) -> tuple[list[float], list[float]]:
    samples: list[float] = []
    heavy_times: list[float] = []
    stop = threading.Event()
    probe = threading.Thread(target=_probe, args=(raw, stop, samples))
    probe.start()
    deadline = time.monotonic() + seconds
    params = {"Action": "GetCallerIdentity", **{f"P{i}": "" for i in range(116_000)}}
    body_request = raw.signed("sts", params) if heavy else None
    while time.monotonic() < deadline:
        if body_request is None:
            time.sleep(0.05)
            continue
        start = time.perf_counter()
        reply = raw.send(body_request)
        heavy_times.append((time.perf_counter() - start) * 1000)
        assert reply.status in (200, 400, 413), reply.text
    stop.set()
    probe.join()
    return samples, heavy_times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    data_dir = new_data_dir()
    server = TesseraServer(data_dir=data_dir)
    server.start(args=["--no-access-log"])
    try:
        raw = RawClient(server)
        for name, heavy in (("alone", False), ("with 1 MiB bodies", True)):
            samples, heavy_times = _phase(raw, args.seconds, heavy)
            line = f"probe {name}: n={len(samples)} median {statistics.median(samples):.1f} ms, worst {max(samples):.1f} ms"
            if heavy_times:
                line += f"; heavy requests n={len(heavy_times)} median {statistics.median(heavy_times):.0f} ms"
            print(line, flush=True)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
