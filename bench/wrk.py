"""Driving ``wrk``: one pinned run over a file of pre-signed request targets, parsed.

wrk is pinned to its own core with one thread (one core gives one thread nothing to
share) and ``connections`` keep-alive connections, each with at most one request in
flight: the concurrency. ``cycle.lua`` sends the targets in turn. wrk's text report is
parsed for requests/second, the latency distribution (``--latency``) and the count of
"Non-2xx or 3xx responses" and socket errors.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.servers import GENERATOR_CORE, pinned

SCRIPT = Path(__file__).with_name("cycle.lua")
REQUESTS_SCRIPT = Path(__file__).with_name("requests.lua")
TIMEOUT = "10s"

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_PERCENTILE = re.compile(r"^\s+(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


class WrkFailed(Exception):
    """wrk exited non-zero or printed nothing we could read."""


@dataclass(frozen=True)
class WrkResult:
    """One run's figures. ``refused`` counts responses with status ≥ 400 (what wrk calls
    "Non-2xx or 3xx"); ``socket_errors`` counts connect/read/write errors and timeouts."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    refused: int
    socket_errors: int

    @property
    def clean(self) -> bool:
        """Every request answered with success: only then is the run a result."""
        return self.refused == 0 and self.socket_errors == 0 and self.requests > 0

    def as_dict(self) -> dict[str, float | int | bool]:
        return {**asdict(self), "clean": self.clean}


def available() -> str | None:
    return shutil.which("wrk")


def run(
    url: str,
    targets_file: Path,
    *,
    connections: int,
    seconds: float,
    headers: Sequence[str] = (),
    script: Path = SCRIPT,
) -> WrkResult:
    """Load ``url``'s server with the targets in ``targets_file`` for ``seconds``
    (``script``: ``cycle.lua`` for pre-signed GETs, ``requests.lua`` for whole requests)."""
    command = [
        "wrk",
        "--threads",
        "1",
        "--connections",
        str(connections),
        "--duration",
        f"{max(1, round(seconds))}s",
        "--timeout",
        TIMEOUT,
        "--latency",
        "--script",
        str(script),
    ]
    for header in headers:
        command += ["--header", header]
    command += [url, "--", str(targets_file)]
    done = subprocess.run(pinned(GENERATOR_CORE, command), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise WrkFailed(f"wrk exited with {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return parse(done.stdout)


def parse(report: str) -> WrkResult:
    """wrk's text report (with ``--latency``) → figures; raises ``WrkFailed`` when a
    required line is missing."""
    requests = _REQUESTS.search(report)
    rps = _RPS.search(report)
    percentiles = {m.group(1): _ms(m.group(2), m.group(3)) for m in _PERCENTILE.finditer(report)}
    if requests is None or rps is None or "50" not in percentiles or "99" not in percentiles:
        raise WrkFailed(f"unreadable wrk report:\n{report}")
    non_2xx = _NON_2XX.search(report)
    sockets = _SOCKET.search(report)
    return WrkResult(
        requests=int(requests.group(1)),
        seconds=_ms(requests.group(2), requests.group(3)) / 1000.0,
        rps=float(rps.group(1)),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        refused=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
    )


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]
