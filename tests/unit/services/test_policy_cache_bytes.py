"""The compiled-policy cache is bounded by the memory it holds, not by a count."""

from __future__ import annotations

import json
import tracemalloc

from tessera.policy import PolicyType
from tessera.services.view import PolicyCache, estimated_size


def session_policy(index: int, statements: int = 10) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": [f"s3:Get{index}x{i}*", "iam:List*"],
                    "Resource": f"arn:aws:s3:::bucket-{index}-{i}/*",
                    "Condition": {"StringLike": {"aws:UserAgent": [f"*{index}?{i}*"]}},
                }
                for i in range(statements)
            ],
        }
    )


def test_distinct_policies_stay_within_the_byte_budget() -> None:
    budget = 2 * 1024 * 1024
    cache = PolicyCache(max_bytes=budget)
    for index in range(400):
        cache.get(session_policy(index), PolicyType.SESSION, "session-policy")
        assert cache.bytes <= budget
    assert 0 < len(cache) < 400


def test_the_estimate_covers_what_a_compiled_policy_really_holds() -> None:
    texts = [session_policy(i) for i in range(50)]
    tracemalloc.start()
    try:
        cache = PolicyCache(max_bytes=1 << 40)
        for text in texts:
            cache.get(text, PolicyType.SESSION, "session-policy")
        used = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert used <= sum(estimated_size(t) for t in texts)


def test_a_hit_returns_the_same_compiled_policy_and_eviction_keeps_it_correct() -> None:
    cache = PolicyCache(max_bytes=estimated_size(session_policy(0)) * 3)
    first = cache.get(session_policy(0), PolicyType.SESSION, "p")
    assert cache.get(session_policy(0), PolicyType.SESSION, "p") is first
    for index in range(1, 10):
        cache.get(session_policy(index), PolicyType.SESSION, "p")
    again = cache.get(session_policy(0), PolicyType.SESSION, "p")
    assert again.statements == first.statements or len(again.statements) == len(first.statements)


def test_a_policy_larger_than_the_budget_is_compiled_but_not_kept() -> None:
    cache = PolicyCache(max_bytes=1024)
    policy = cache.get(session_policy(1), PolicyType.SESSION, "p")
    assert policy.statements
    assert len(cache) == 0 and cache.bytes == 0
