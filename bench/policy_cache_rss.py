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
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "attack"))

from attackkit import distinct_session_policy
from serverproc import TesseraServer, new_data_dir


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=8000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    data_dir = new_data_dir()
    server = TesseraServer(data_dir=data_dir)
    server.start()
    try:
        iam = server.client("iam")
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:root"}, "Action": "sts:AssumeRole"}],
        }
        role = iam.create_role(RoleName="cycled", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        user = server.make_user(
            "cycler", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role}]}
        )
        clients = [server.client("sts", user) for _ in range(args.clients)]
        print(f"policy length {len(distinct_session_policy(args.count))} chars; RSS at start {server.rss_kib() / 1024:.1f} MiB", flush=True)

        def assume(index: int) -> None:
            clients[index % len(clients)].assume_role(RoleArn=role, RoleSessionName=f"s{index}", Policy=distinct_session_policy(index))

        step = max(1, args.count // 8)
        with ThreadPoolExecutor(args.clients) as pool:
            for start in range(0, args.count, step):
                list(pool.map(assume, range(start, min(args.count, start + step))))
                print(f"after {min(args.count, start + step)}: RSS {server.rss_kib() / 1024:.1f} MiB", flush=True)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
