"""Per-caller state is bounded by bytes: distinct session policies cannot grow the server.

Every AssumeRole may pass a different session policy (up to 2 048 characters); each is
compiled and cached. The cache is bounded by the memory the compiled policies are
estimated to hold (``TESSERA_POLICY_CACHE_BYTES``), so a caller cycling through policies
makes the server recompile, not grow.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from attackkit import distinct_session_policy
from serverproc import TesseraServer

BUDGET = 2 * 1024 * 1024


def test_distinct_session_policies_do_not_grow_the_server(fresh_target: Callable[..., TesseraServer]) -> None:
    server = fresh_target(env={"TESSERA_POLICY_CACHE_BYTES": str(BUDGET)})
    iam = server.client("iam")
    account = server.account_id
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}],
    }
    role_arn = iam.create_role(RoleName="cycled", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    caller = server.make_user(
        "cycler", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}]}
    )
    sts = server.client("sts", caller)

    def assume(index: int) -> None:
        policy = distinct_session_policy(index)
        assert len(policy) <= 2048
        sts.assume_role(RoleArn=role_arn, RoleSessionName=f"s{index}", Policy=policy)

    for index in range(100):  # warm up: the allocator's arenas, the cache up to its budget
        assume(index)
    before = server.rss_kib() * 1024
    for index in range(100, 600):
        assume(index)
    grown = server.rss_kib() * 1024 - before
    # unbounded, 500 compiled policies of ~70 KiB each held ~35 MiB more
    assert grown < 12 * 1024 * 1024, f"RSS grew by {grown / 2**20:.1f} MiB"
