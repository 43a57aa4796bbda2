"""The bounds bench: its lines run the real app (each in its own process, as they patch
it), its doubling does the work twice, and its arithmetic."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from bench import bounds


@pytest.mark.parametrize("variant", bounds.VARIANTS)
def test_every_line_serves_its_requests_with_200(variant: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.bounds", "--child", variant, "-n", "3"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_doubling_does_the_work_twice_and_only_when_asked() -> None:
    calls: list[str] = []

    class Work:
        def run(self, what: str) -> str:
            calls.append(what)
            return what.upper()

    bounds._twice(Work, "run", lambda self, what: what != "once")
    work = Work()
    assert work.run("twice") == "TWICE"
    assert work.run("once") == "ONCE"
    assert calls == ["twice", "twice", "once"]


def test_the_report_gives_each_goal_its_bound(capsys: pytest.CaptureFixture[str]) -> None:
    costs: dict[str, Any] = {
        "gci": 360_000.0,
        "gci-unwritten": 290_000.0,
        "gci-no-event": 260_000.0,
        "gci-floor": 180_000.0,
        "gci-signed": 350_000.0,
        "authorize": 840_000.0,
        "authorize-verify2": 960_000.0,
        "authorize-decide2": 920_000.0,
        "authorize-permit2": 910_000.0,
    }
    bounds.report(costs, served_floor=290_000.0)
    out = capsys.readouterr().out
    assert "the audit event 100.0 k (70.0 k of it writing the row)" in out
    assert "floor / (floor + event) 0.643" in out  # 180 / 280
    assert "0.7 allows 124.3 k beyond the floor, 24.3 k of it left beside the event" in out  # 290 / 0.7 - 290
    assert "(270.0 k)" in out  # 120 + 80 + 70
    assert "ratio 0.565" in out  # 350 / 620
    assert "at least 730.0 k per request" in out  # 4 × 270 − 350
