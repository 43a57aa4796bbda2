"""Worst cases of the policy engine's attack surface, measured on a real server.

``python bench/policy_attacks.py [--ua-bytes N] [--sim-clients N]`` starts ``tessera
serve`` on SQLite (``tests/serverproc.py``), and while a probe sends GetCallerIdentity
every 5 ms on its own connection it runs:

* ``assume-role``: a role session whose 2 048-character session policy is the worst
  wildcard work the engine knows (many ``?`` patterns on ``aws:UserAgent``), calling
  AssumeRole (evaluated on the event loop) with a long User-Agent;
* ``simulate``: N concurrent SimulateCustomPolicy calls, each close to the largest
  work the simulator accepts (per evaluation and in all), with long context values.

It prints, per scenario, the slowest request of the attack and the probe's worst and
99th-percentile latency (what everyone else saw). Run with ``PYTHONPATH`` pointing at
another checkout's ``src`` to measure that code instead.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "attack"))

from attackkit import RawClient
from serverproc import Credentials, TesseraServer, new_data_dir


class Probe:
    """GetCallerIdentity every 5 ms; latencies recorded with their start times."""

    def __init__(self, raw: RawClient) -> None:
        self.raw = raw
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            prepared = self.raw.signed("sts", {"Action": "GetCallerIdentity"})
            start = time.perf_counter()
            reply = self.raw.send(prepared, timeout=600)
            assert reply.status == 200, reply.text
            self.samples.append((start, time.perf_counter() - start))
            time.sleep(0.005)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def window(self, since: float, until: float) -> list[float]:
        return [latency for start, latency in self.samples if since <= start <= until or start <= since <= start + latency]


def worst_session_policy() -> str:
    """As many ``*a?ab*`` patterns as fit in 2 048 characters, plus one long ``?`` run."""
    values: list[str] = ["*" + "?a" * 200 + "b*"]

    def text(vals: list[str]) -> str:
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*", "Condition": {"StringLike": {"aws:UserAgent": vals}}}
                ],
            },
            separators=(",", ":"),
        )

    for index in itertools.count():
        candidate = [*values, f"*a?a{'b' if index % 2 else 'c'}*"]
        if len(text(candidate)) > 2048:
            break
        values = candidate
    return text(values)


def one_long_pattern_policy() -> str:
    """The reported attack: one pattern of ~2 000 characters, mostly ``?``."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Resource": "*",
                    "Condition": {"StringLike": {"aws:UserAgent": "*" + "?a" * 945 + "b*"}},
                }
            ],
        },
        separators=(",", ":"),
    )


def texts(length: int) -> list[str]:
    """The two worst request values: a run of one letter (the quadratic matcher's worst)
    and a ``cab`` cycle (every anchor occurs, no occurrence matches)."""
    return ["a" * length, ("cab" * length)[:length]]


def simulation(value: str, actions: int) -> dict[str, str]:
    patterns = [f"*a?a{'b' if i % 2 else 'c'}*" for i in range(180)]
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {"StringLike": {"a:key": patterns}}}],
        }
    )
    form = {
        "Action": "SimulateCustomPolicy",
        "PolicyInputList.member.1": document,
        "ContextEntries.member.1.ContextKeyName": "a:key",
        "ContextEntries.member.1.ContextKeyType": "string",
        "ContextEntries.member.1.ContextKeyValues.member.1": value,
    }
    for index in range(actions):
        form[f"ActionNames.member.{index + 1}"] = f"s3:GetObject{index}"
    return form


def report(name: str, probe: Probe, since: float, until: float, attack: list[float]) -> None:
    seen = sorted(probe.window(since, until))
    p99 = seen[int(len(seen) * 0.99) - 1] if len(seen) >= 100 else (seen[-1] if seen else 0.0)
    print(
        f"{name}: slowest attack request {max(attack) * 1000:.1f} ms; probe during attack: "
        f"n={len(seen)} worst {max(seen, default=0) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"median {statistics.median(seen) * 1000 if seen else 0:.1f} ms",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ua-bytes", type=int, default=8192)
    parser.add_argument("--sim-clients", type=int, default=8)
    parser.add_argument("--sim-actions", type=int, default=10)
    parser.add_argument("--sim-value-bytes", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sim-rounds", type=int, default=5, help="simulations per client")
    args = parser.parse_args()
    data_dir = new_data_dir()
    server = TesseraServer(data_dir=data_dir)
    server.start()
    try:
        raw = RawClient(server)
        iam = server.client("iam")
        account = server.account_id
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}],
        }
        role = iam.create_role(RoleName="target", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(
            RoleName="target",
            PolicyName="chain",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
            ),
        )
        user = server.make_user(
            "attacker",
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "iam:SimulateCustomPolicy"], "Resource": "*"}],
            },
        )
        sts = server.client("sts", user)
        with Probe(raw) as probe:
            time.sleep(1.0)
            baseline = [lat for _, lat in probe.samples]
            print(f"baseline: probe worst {max(baseline) * 1000:.1f} ms, median {statistics.median(baseline) * 1000:.1f} ms")
            for name, policy in (
                ("assume-role/one-long-pattern", one_long_pattern_policy()),
                ("assume-role/many-patterns", worst_session_policy()),
            ):
                answer = sts.assume_role(RoleArn=role, RoleSessionName="s1", Policy=policy)["Credentials"]
                session = Credentials.from_response(answer)
                since = time.perf_counter()
                attack = []
                for agent in [text for text in texts(args.ua_bytes) for _ in range(args.repeat)]:
                    prepared = raw.signed(
                        "sts",
                        {"Action": "AssumeRole", "RoleArn": role, "RoleSessionName": "x1"},
                        creds=session,
                        headers={"User-Agent": agent},
                    )
                    start = time.perf_counter()
                    reply = raw.send(prepared, timeout=600)
                    attack.append(time.perf_counter() - start)
                    print(f"  assume-role: HTTP {reply.status} {reply.error_code()} {attack[-1] * 1000:.1f} ms", flush=True)
                report(f"{name} (policy {len(policy)} chars, UA {args.ua_bytes} B)", probe, since, time.perf_counter(), attack)
            since = time.perf_counter()

            def simulate(form: dict[str, str]) -> float:
                prepared = raw.signed("iam", form, creds=user)
                start = time.perf_counter()
                reply = raw.send(prepared, timeout=600)
                elapsed = time.perf_counter() - start
                assert reply.status == 200, reply.text
                return elapsed

            with ThreadPoolExecutor(args.sim_clients) as pool:
                forms = [simulation(value, args.sim_actions) for value in texts(args.sim_value_bytes)]
                jobs = [forms[i % len(forms)] for i in range(args.sim_clients * args.sim_rounds)]
                attack = list(pool.map(simulate, jobs))
            report(
                f"simulate: {args.sim_clients} clients x {args.sim_rounds} "
                f"({args.sim_actions} actions, context value {args.sim_value_bytes} B)",
                probe,
                since,
                time.perf_counter(),
                attack,
            )
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
