"""How soon a change made on one node is enforced by another, and what --workers costs.

Three measurements, each against real ``tessera serve`` processes (pinned to core 0;
this process, the client, to core 1):

* **delay**: two nodes on one store (one PostgreSQL schema; two processes on one
  SQLite data directory), default flags (``--poll-interval 1`` fallback). Node A makes a
  change; a client then asks node B again and again, and the delay is the time from A's
  answer to B's first refusal (so it includes one request of B, ~1-2 ms). Three kinds of
  change: an access key deleted (B answers InvalidClientTokenId), a managed policy
  detached and an explicit Deny added (B answers AccessDenied). Each trial undoes its
  change and waits until B allows again. p50/p99/max per backend and kind.
* **idle**: the CPU an idle server uses over ``--idle-seconds``, with the change check
  on (SQLite: ``PRAGMA data_version`` every 25 ms; PostgreSQL: the LISTEN connection) and
  off (``--change-check-interval 0``, the poll alone).
* **workers**: ``--workers 1`` and ``--workers 2`` under the same wrk load (16
  connections) of pre-signed GetCallerIdentity requests (``bench/load.py``), CPU time
  per request of the parent and its workers from /proc. Here the servers may run on
  both cores (one worker per core; wrk stays on core 1): two workers pinned to one core
  measure the scheduler, not the server.

Run: ``python -m bench.node_delay`` (``--quick`` for a short run; ``--backends sqlite``
for one backend). Output: a table on stdout and ``bench/results/node_delay.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from bench import load, servers, wrk

RESULTS = load.REPO / "bench" / "results" / "node_delay.json"
DENY_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})
ALLOW_GET_USER = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]})
REFUSED = {"InvalidClientTokenId", "AccessDenied"}
WAIT = 30.0  # seconds a trial may wait for B before the run is declared broken
WORKER_CORES = "0,1"  # --workers 2 is one worker per core; --workers 1 gets the same cores


@dataclass(frozen=True)
class Store:
    """Where the nodes keep their state: a data directory and, for PostgreSQL, a URL."""

    backend: str
    data_dir: Path
    url: str | None


@contextmanager
def store(backend: str, work: Path) -> Iterator[Store]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=work))
    if backend == "sqlite":
        yield Store(backend, data_dir, None)
        return
    sys.path.insert(0, str(load.REPO / "tests"))
    from pgutil import base_pg_url, fresh_pg_url

    url, drop = fresh_pg_url(base_pg_url())
    try:
        yield Store(backend, data_dir, url)
    finally:
        drop()


@contextmanager
def node(name: str, where: Store, logs: Path, *args: str, cores: int | str = servers.SERVER_CORE) -> Iterator[servers.Server]:
    port = servers.free_port()
    command = [load.executable("tessera"), "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(where.data_dir)]
    command += ["--database-url", where.url] if where.url else []
    command += ["--no-access-log", *args]
    with servers.start(name, command, port=port, health_path="/healthz", log_dir=logs, env=load.tessera_env(), cores=cores) as server:
        yield server


# -- delay ---------------------------------------------------------------------------------


def refusal(call: Callable[[], Any]) -> bool:
    try:
        call()
    except ClientError as error:
        if error.response["Error"]["Code"] not in REFUSED:
            raise
        return True
    return False


def until(predicate: Callable[[], bool]) -> float:
    """Call ``predicate`` until it holds; the seconds that took."""
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > WAIT:
            raise RuntimeError(f"no change seen within {WAIT} s")
    return time.perf_counter() - start


class Pair:
    """Node A (writes) and node B (asked), a user ``mover`` allowed iam:GetUser by a
    managed policy, and its access key."""

    def __init__(self, a: servers.Server, b: servers.Server) -> None:
        self.iam_a = load.client("iam", a.base_url)
        self.b = b
        self.iam_a.create_user(UserName="mover")
        arn = self.iam_a.create_policy(PolicyName="get-user", PolicyDocument=ALLOW_GET_USER)["Policy"]["Arn"]
        self.policy_arn = arn
        self.iam_a.attach_user_policy(UserName="mover", PolicyArn=arn)
        self.new_key()

    def new_key(self) -> None:
        key = self.iam_a.create_access_key(UserName="mover")["AccessKey"]
        self.key_id = key["AccessKeyId"]
        self.iam_b = load.client("iam", self.b.base_url, key["AccessKeyId"], key["SecretAccessKey"])
        until(lambda: not refusal(self.ask_b))

    def ask_b(self) -> None:
        self.iam_b.get_user()

    def trial(self, change: Callable[[], None], undo: Callable[[], None]) -> float:
        """The client's own cycle collections (a boto3 client per key leaves plenty of
        garbage) would be timed as delay: collect before, none during."""
        gc.collect()
        gc.disable()
        try:
            change()
            delay = until(lambda: refusal(self.ask_b))
        finally:
            gc.enable()
        undo()
        until(lambda: not refusal(self.ask_b))
        return delay

    def delete_key(self) -> float:
        return self.trial(lambda: self.iam_a.delete_access_key(UserName="mover", AccessKeyId=self.key_id), self.new_key)

    def detach(self) -> float:
        return self.trial(
            lambda: self.iam_a.detach_user_policy(UserName="mover", PolicyArn=self.policy_arn),
            lambda: self.iam_a.attach_user_policy(UserName="mover", PolicyArn=self.policy_arn),
        )

    def deny(self) -> float:
        return self.trial(
            lambda: self.iam_a.put_user_policy(UserName="mover", PolicyName="deny", PolicyDocument=DENY_ALL),
            lambda: self.iam_a.delete_user_policy(UserName="mover", PolicyName="deny"),
        )


def summary(seconds: Sequence[float]) -> dict[str, float | int]:
    ms = sorted(s * 1000 for s in seconds)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return {"trials": len(ms), "p50_ms": round(statistics.median(ms), 2), "p99_ms": round(p99, 2), "max_ms": round(ms[-1], 2)}


def bench_delay(backend: str, trials: int, work: Path) -> dict[str, Any]:
    logs = work / "logs"
    out: dict[str, Any] = {}
    with store(backend, work) as where, node(f"{backend}-a", where, logs) as a, node(f"{backend}-b", where, logs) as b:
        pair = Pair(a, b)
        for kind, run in (("delete access key", pair.delete_key), ("detach policy", pair.detach), ("explicit deny", pair.deny)):
            out[kind] = summary([run() for _ in range(trials)])
            figures = out[kind]
            print(
                f"  {backend:<8} {kind:<18} p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:6.2f} ms  "
                f"max {figures['max_ms']:6.2f} ms  ({trials} trials)",
                file=sys.stderr,
            )
    return out


# -- idle ----------------------------------------------------------------------------------


def process_tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its live children (the workers)."""
    total = load.cpu_seconds(pid)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                total += load.cpu_seconds(int(entry))
    return total


def bench_idle(backend: str, seconds: float, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, args in (("change check on", ()), ("change check off", ("--change-check-interval", "0"))):
        with store(backend, work) as where, node(f"{backend}-idle", where, work / "logs", *args) as server:
            time.sleep(2.0)  # start-up work done
            before = process_tree_cpu(server.pid)
            time.sleep(seconds)
            share = (process_tree_cpu(server.pid) - before) / seconds
        out[label] = {"core_share_percent": round(100 * share, 3), "seconds": seconds}
        print(f"  {backend:<8} idle, {label:<17} {100 * share:6.3f} % of a core", file=sys.stderr)
    return out


# -- workers -------------------------------------------------------------------------------


def measure_workers(backend: str, workers: int, seconds: float, work: Path) -> dict[str, Any]:
    """One load run against ``--workers workers`` on a fresh store."""
    name = f"{backend}-workers-{workers}"
    with store(backend, work) as where, node(name, where, work / "logs", "--workers", str(workers), cores=WORKER_CORES) as server:
        principal = load.provision(server.base_url, create_roles=1, target_role="")
        targets = work / f"{name}.txt"
        load.write_targets(targets, server.base_url, principal, load.CALLER_IDENTITY, 20_000)
        wrk.run(server.base_url, targets, connections=16, seconds=2)  # warm-up
        before = process_tree_cpu(server.pid)
        result = wrk.run(server.base_url, targets, connections=16, seconds=seconds)
        cpu = process_tree_cpu(server.pid) - before
    per_request = cpu / max(result.requests, 1)
    print(
        f"  {backend:<8} --workers {workers}  {result.rps:8.0f} req/s  p99 {result.p99_ms:6.2f} ms  "
        f"{per_request * 1e6:7.1f} µs CPU/request  refused {result.refused}",
        file=sys.stderr,
    )
    return {
        "requests": result.requests,
        "rps": round(result.rps, 1),
        "p99_ms": result.p99_ms,
        "refused": result.refused,
        "cpu_seconds": round(cpu, 3),
        "cpu_us_per_request": round(per_request * 1e6, 1),
    }


def bench_workers(backend: str, seconds: float, rounds: int, work: Path) -> dict[str, Any]:
    """``rounds`` alternations of one and two workers (drift on a shared machine hits
    both alike); the ratio is of the median CPU per request."""
    runs: dict[str, list[dict[str, Any]]] = {"workers=1": [], "workers=2": []}
    for _ in range(rounds):
        for workers in (1, 2):
            runs[f"workers={workers}"].append(measure_workers(backend, workers, seconds, work))
    one, two = (statistics.median(run["cpu_us_per_request"] for run in runs[key]) for key in ("workers=1", "workers=2"))
    ratio = round(two / one, 3) if one else None
    print(f"  {backend:<8} CPU per request, 2 workers / 1: {ratio}", file=sys.stderr)
    return {**runs, "cpu_per_request_ratio": ratio}


# -- the run -------------------------------------------------------------------------------


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.node_delay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 trials, short idle and load runs")
    parser.add_argument("--trials", type=int, default=200, help="trials per backend and kind of change (default: 200)")
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: delay, idle, workers")
    args = parser.parse_args(list(argv))
    trials = 20 if args.quick else args.trials
    idle_seconds, load_seconds = (3.0, 3.0) if args.quick else (20.0, 10.0)
    skip = set(filter(None, args.skip.split(",")))
    backends = [b for b in args.backends.split(",") if b]
    if "workers" not in skip and wrk.available() is None:
        print("wrk is not installed (make bench installs it); skipping the workers measurement", file=sys.stderr)
        skip.add("workers")
    os.sched_setaffinity(0, {servers.GENERATOR_CORE})
    results: dict[str, Any] = {"trials": trials}
    work = Path(tempfile.mkdtemp(prefix="tessera-node-delay-"))
    (work / "logs").mkdir()
    try:
        for backend in backends:
            section = results.setdefault(backend, {})
            if "delay" not in skip:
                section["delay"] = bench_delay(backend, trials, work)
            if "idle" not in skip:
                section["idle"] = bench_idle(backend, idle_seconds, work)
            if "workers" not in skip:
                section["workers"] = bench_workers(backend, load_seconds, 1 if args.quick else 2, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
