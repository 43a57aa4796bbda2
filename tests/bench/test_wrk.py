"""Reading wrk's report, and one real wrk run against the ceiling app."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import load, servers, wrk

REPORT = """\
Running 5s test @ http://127.0.0.1:18690
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.51ms    1.85ms  21.44ms   85.63%
    Req/Sec    16.01k     2.68k   19.42k    70.00%
  Latency Distribution
     50%  584.00us
     75%    2.19ms
     90%    3.86ms
     99%    1.20s
  47845 requests in 5.00s, 19.71MB read
  Socket errors: connect 0, read 2, write 1, timeout 4
  Non-2xx or 3xx responses: 12
Requests/sec:   9569.04
Transfer/sec:      6.56MB
"""


def test_report_gives_throughput_latency_and_refusals() -> None:
    result = wrk.parse(REPORT)
    assert result == wrk.WrkResult(requests=47845, seconds=5.0, rps=9569.04, p50_ms=0.584, p99_ms=1200.0, refused=12, socket_errors=7)
    assert not result.clean


def test_report_without_error_lines_is_clean() -> None:
    text = "\n".join(line for line in REPORT.splitlines() if "Socket errors" not in line and "Non-2xx" not in line)
    result = wrk.parse(text)
    assert (result.refused, result.socket_errors, result.clean) == (0, 0, True)


@pytest.mark.parametrize("cut", ["Requests/sec", "99%", "requests in"], ids=["throughput", "p99", "request-count"])
def test_report_missing_a_required_line_is_refused(cut: str) -> None:
    text = "\n".join(line for line in REPORT.splitlines() if cut not in line)
    with pytest.raises(wrk.WrkFailed, match="unreadable"):
        wrk.parse(text)


def test_wrk_cycles_targets_against_the_ceiling(tmp_path: Path) -> None:
    port = servers.free_port()
    command = [
        load.executable("uvicorn"),
        "bench.ceiling:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    targets = tmp_path / "targets.txt"
    targets.write_text("/?n=1\n/?n=2\n\n")
    repo = Path(__file__).resolve().parents[2]
    with servers.start("ceiling", command, port=port, health_path="/", log_dir=tmp_path, cwd=repo) as server:
        result = wrk.run(server.base_url, targets, connections=2, seconds=1)
        assert server.rss_kib() > 0
    assert result.clean
    assert result.requests > 0
