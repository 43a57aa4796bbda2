"""Worst-case wildcard matching and policy evaluation, in-process (no server).

``python bench/pattern_worst.py`` prints the best-of-3 time of (1) one ``?``-heavy
pattern against texts of growing length, and (2) one 2 048-character session policy of
the costliest shapes evaluated against an ``aws:UserAgent`` of 1 KiB (what the server
passes to the engine at most) and 2 KiB (the longest other request values).
"""

from __future__ import annotations

import itertools
import json
import time

from tessera.policy import PolicySet, PolicyType, Principal, Request, evaluate, parse_policy
from tessera.policy.pattern import Pattern


def best_of(runs: int, call: object) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        call()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def policy_with(values: list[str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*", "Condition": {"StringLike": {"aws:UserAgent": values}}}
            ],
        },
        separators=(",", ":"),
    )


def filled(make: object) -> list[str]:
    values: list[str] = []
    for index in itertools.count():
        candidate = [*values, make(index)]  # type: ignore[operator]
        if len(policy_with(candidate)) > 2048:
            return values
        values = candidate
    return None


SHAPES = {
    "one 1 893-char ?-pattern": ["*" + "?a" * 945 + "b*"],
    "many *a?ab* patterns": filled(lambda i: f"*a?a{'bc'[i % 2]}*"),
    "many 17-char ?-patterns": filled(lambda i: "*" + "a?" * 7 + "ab*"),
    "few 383-char ?-patterns": filled(lambda i: "*" + "a?" * 190 + "ab*"),
}


def main() -> None:
    glob = Pattern.compile("*" + "?a" * 1000 + "b*")
    for length in (2048, 8192):
        worst = max(best_of(3, lambda t=text: glob.matches(t)) for text in ("a" * length, ("cab" * length)[:length]))
        print(f"match: 2 003-char pattern, {length}-char text: {worst * 1000:.2f} ms")
    principal = Principal("user", "arn:aws:iam::111111111111:user/a", "111111111111")
    for length in (1024, 2048):
        for name, values in SHAPES.items():
            policy = parse_policy(policy_with(values), PolicyType.SESSION)
            worst = 0.0
            for agent in ("a" * length, ("cab" * length)[:length]):
                request = Request(principal, "sts:AssumeRole", "*", "111111111111", {"aws:useragent": agent})
                worst = max(worst, best_of(3, lambda r=request, p=policy: evaluate(r, PolicySet(session=(p,)))))
            print(f"evaluate: {name} ({len(values)} patterns), {length}-char value: {worst * 1000:.2f} ms")


if __name__ == "__main__":
    main()
