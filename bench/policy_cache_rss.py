"""RSS of a server that has compiled N distinct session policies.

``python bench/policy_cache_rss.py [--count 8000] [--clients 4]`` starts ``tessera serve``
on SQLite (``tests/serverproc.py``), then sends N AssumeRoles, each with a different
~1 900-character session policy, and prints the server's RSS before and after (and at
every eighth of the way). Extra environment (``TESSERA_POLICY_CACHE_BYTES=…``) passes
through; run with ``PYTHONPATH`` pointing at another checkout's ``src`` to measure it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from serverproc import TesseraServer, new_data_dir  # noqa: E402


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def session_policy(index: int) -> str:
    statements = [
        {"Effect": "Allow", "Action": [f"s3:Get{index}x{i}*"], "Resource": f"arn:aws:s3:::b{index}-{i}/*",
         "Condition": {"StringLike": {"aws:UserAgent": f"*{index}?{i}*"}}}
        for i in range(12)
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=8000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    data_dir = new_data_dir()
    server = TesseraServer(data_dir=data_dir)
    server.start()
    try:
        assert server.process is not None
        pid = server.process.pid
        iam = server.client("iam")
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:root"}, "Action": "sts:AssumeRole"}]}
        role = iam.create_role(RoleName="cycled", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        user = server.make_user("cycler", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role}]})
        clients = [server.client("sts", user) for _ in range(args.clients)]
        print(f"policy length {len(session_policy(args.count))} chars; RSS at start {rss_mib(pid):.1f} MiB", flush=True)

        def assume(index: int) -> None:
            clients[index % len(clients)].assume_role(RoleArn=role, RoleSessionName=f"s{index}", Policy=session_policy(index))

        step = max(1, args.count // 8)
        with ThreadPoolExecutor(args.clients) as pool:
            for start in range(0, args.count, step):
                list(pool.map(assume, range(start, min(args.count, start + step))))
                print(f"after {min(args.count, start + step)}: RSS {rss_mib(pid):.1f} MiB", flush=True)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
