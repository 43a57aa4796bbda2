"""``python -m bench.audit_stream_rss [--events N] [--src DIR]``: the peak memory of
``tessera audit --json`` and ``tessera audit export`` over a trail of N events (default
120 000).

Seeds a SQLite store with N CloudTrail events shaped like an AssumeRole's (about 1.3 KB
each), then runs each command as a child process writing to /dev/null and reports its
peak resident set (``ru_maxrss``). ``--src DIR`` runs the commands from another
checkout's ``src`` (e.g. ``git archive main src | tar -x -C /tmp/main``) to compare.
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from tessera.store.sql import default_url, open_store

TEMPLATE: dict[str, Any] = {
    "eventVersion": "1.09",
    "userIdentity": {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEEXAMPLE01",
        "arn": "arn:aws:iam::111122223333:user/assumer",
        "accountId": "111122223333",
        "accessKeyId": "AKIAEXAMPLEEXAMPLE01",
        "userName": "assumer",
    },
    "eventSource": "sts.amazonaws.com",
    "eventName": "AssumeRole",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "127.0.0.1",
    "userAgent": "Boto3/1.35.0 md/Botocore#1.35.0 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11.9 cfg/retry-mode#standard",
    "requestParameters": {"roleArn": "arn:aws:iam::111122223333:role/bench", "roleSessionName": "bench", "durationSeconds": 3600},
    "responseElements": {
        "credentials": {
            "accessKeyId": "ASIAEXAMPLEEXAMPLE01",
            "secretAccessKey": "HIDDEN_DUE_TO_SECURITY_REASONS",
            "sessionToken": "HIDDEN_DUE_TO_SECURITY_REASONS",
            "expiration": "2026-12-02T15:00:00Z",
        },
        "assumedRoleUser": {"assumedRoleId": "AROAEXAMPLEEXAMPLE01:bench", "arn": "arn:aws:sts::111122223333:assumed-role/bench/bench"},
    },
    "readOnly": False,
    "eventType": "AwsApiCall",
    "managementEvent": True,
    "recipientAccountId": "111122223333",
    "eventCategory": "Management",
}


def seed(data_dir: str, count: int) -> None:
    with open_store(default_url(data_dir)) as store:
        batch: list[dict[str, Any]] = []
        for n in range(count):
            event = copy.deepcopy(TEMPLATE)
            minute, second = divmod(n // 10, 60)
            hour, minute = divmod(minute, 60)
            event["eventTime"] = f"2026-12-01T{hour % 24:02d}:{minute:02d}:{second:02d}Z"
            event["eventID"] = f"00000000-0000-8000-8000-{n:012d}"
            event["requestID"] = event["eventID"]
            batch.append(event)
            if len(batch) == 2000:
                store.append_audit(batch)
                batch.clear()
        store.append_audit(batch)


def peak_rss_kib(command: list[str], env: dict[str, str]) -> tuple[int, float]:
    """The child's peak resident set in KiB, and its wall time in seconds."""
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        child = subprocess.Popen(command, stdout=sink, stderr=subprocess.PIPE, env=env)
        _pid, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {child.stderr.read().decode() if child.stderr else ''}")
    return int(usage.ru_maxrss), elapsed


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_stream_rss")
    parser.add_argument("--events", type=int, default=120_000)
    parser.add_argument("--src", help="run the commands from this src directory (another checkout)")
    parser.add_argument("--no-export", action="store_true", help="only tessera audit --json (a checkout without export)")
    parser.add_argument("--quick", action="store_true", help="12 000 events")
    args = parser.parse_args(list(argv))
    count = 12_000 if args.quick else args.events
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = os.path.abspath(args.src)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    with tempfile.TemporaryDirectory(prefix="tessera-bench-rss-") as data_dir:
        seed(data_dir, count)
        tessera = [sys.executable, "-m", "tessera", "audit", "--data-dir", data_dir]
        commands = {"tessera audit --json": [*tessera, "--json", "--limit", str(count)]}
        if not args.no_export:
            commands["tessera audit export"] = [
                *tessera[:3],
                "audit",
                "export",
                "--data-dir",
                data_dir,
                "--out",
                os.path.join(data_dir, "out"),
            ]
        baseline, _ = peak_rss_kib([sys.executable, "-c", "import tessera.store.sql"], env)
        print(f"{count} events; from {args.src or 'this checkout'}; python + imports alone: {baseline / 1024:.0f} MiB")
        for name, command in commands.items():
            rss, elapsed = peak_rss_kib(command, env)
            print(f"{name:<24} peak RSS {rss / 1024:>7.1f} MiB  ({elapsed:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
