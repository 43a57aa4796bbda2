"""Policy evaluation speed: Tessera's engine vs cedarpy (AWS's Cedar) on equivalent sets.

Two policy sets are generated from one abstract description, rendered both as IAM JSON
and as Cedar: (a) 10 statements in one policy, (b) an account-sized 500 statements in 10
policies spread over 40 services, with conditions (principal tags, MFA, source IP, time)
and ``${aws:username}`` resources. Each engine decides the same requests; the run checks
that the two agree, then reports the median time per decision (including building the
request) and decisions per second, side by side.

Run: ``python -m bench.policy_bench`` (``--quick`` for a short run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cedarpy

from tessera.policy import PolicySet, PolicyType, Principal, Request, evaluate, parse_policy, principal_context

ACCOUNT = "111122223333"
SERVICES = (
    "iam",
    "sts",
    "s3",
    "ec2",
    "dynamodb",
    "lambda",
    "sqs",
    "sns",
    "kms",
    "logs",
    "cloudwatch",
    "rds",
    "ecs",
    "eks",
    "ecr",
    "route53",
    "cloudfront",
    "glue",
    "athena",
    "kinesis",
    "firehose",
    "secretsmanager",
    "ssm",
    "states",
    "events",
    "apigateway",
    "elasticloadbalancing",
    "autoscaling",
    "cloudformation",
    "codebuild",
    "codepipeline",
    "codecommit",
    "sagemaker",
    "redshift",
    "elasticache",
    "es",
    "acm",
    "organizations",
    "backup",
    "config",
)
VERBS = ("Get", "List", "Describe", "Create", "Delete", "Update", "Put", "Tag", "Untag", "Start")
NOUNS = (
    "User",
    "Role",
    "Policy",
    "Bucket",
    "Object",
    "Instance",
    "Table",
    "Function",
    "Queue",
    "Topic",
    "Key",
    "Stream",
    "Secret",
    "Parameter",
    "Cluster",
    "Image",
)
TEAMS = ("red", "blue", "green", "gold")
NOW = dt.datetime(2024, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
USERS = ("alice", "bob", "carol", "dave")


@dataclass
class Spec:
    """One statement, engine-neutral."""

    effect: str
    actions: list[str]
    resource: str  # an ARN glob, or "SELF" for arn:…:user/${aws:username}
    conditions: list[tuple[str, str]] = field(default_factory=list)  # (kind, value)


@dataclass
class Probe:
    """One request, engine-neutral."""

    user: str
    action: str
    resource: str
    team: str
    mfa: bool
    ip: str


def _action(rng: random.Random, service: str) -> str:
    return f"{service}:{rng.choice(VERBS)}{rng.choice(NOUNS)}"


def _spec(rng: random.Random, services: Sequence[str]) -> Spec:
    service = rng.choice(services)
    roll = rng.random()
    actions = [f"{service}:{rng.choice(VERBS)}*"] if roll < 0.15 else [_action(rng, service) for _ in range(rng.randint(1, 4))]
    resource = rng.choice(["*", f"arn:aws:{service}::{ACCOUNT}:{rng.choice(NOUNS).lower()}/*", "SELF"])
    conditions: list[tuple[str, str]] = []
    if rng.random() < 0.4:
        conditions.append(("team", rng.choice(TEAMS)))
    if rng.random() < 0.2:
        conditions.append(("mfa", "true"))
    if rng.random() < 0.2:
        conditions.append(("ip", rng.choice(["10.0.0.0/8", "192.168.0.0/16", "203.0.113.0/24"])))
    if rng.random() < 0.2:
        conditions.append(("before", "2025-01-01T00:00:00Z"))
    effect = "Deny" if rng.random() < 0.1 else "Allow"
    return Spec(effect, actions, resource, conditions)


def generate(count: int, services: Sequence[str], seed: int) -> list[Spec]:
    rng = random.Random(seed)
    return [_spec(rng, services) for _ in range(count)]


def probes(specs: Sequence[Spec], count: int, seed: int) -> list[Probe]:
    """Requests that mostly hit actions the policies mention, some that miss."""
    rng = random.Random(seed)
    result = []
    for _ in range(count):
        spec = rng.choice(specs)
        action = rng.choice(spec.actions).replace("*", rng.choice(NOUNS))
        if rng.random() < 0.2:
            action = _action(rng, rng.choice(SERVICES))
        user = rng.choice(USERS)
        service = action.split(":")[0]
        resource = rng.choice(
            [
                f"arn:aws:iam::{ACCOUNT}:user/{user}",
                f"arn:aws:{service}::{ACCOUNT}:{rng.choice(NOUNS).lower()}/x{rng.randint(1, 9)}",
            ]
        )
        ip = rng.choice(["10.1.2.3", "192.168.7.7", "198.51.100.9"])
        result.append(Probe(user, action, resource, rng.choice(TEAMS), rng.random() < 0.5, ip))
    return result


# --------------------------------------------------------------------------- IAM rendering


_IAM_CONDITION = {
    "team": ("StringEquals", "aws:PrincipalTag/team"),
    "mfa": ("Bool", "aws:MultiFactorAuthPresent"),
    "ip": ("IpAddress", "aws:SourceIp"),
    "before": ("DateLessThan", "aws:CurrentTime"),
}


def iam_statement(spec: Spec, index: int) -> dict[str, object]:
    resource = f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}" if spec.resource == "SELF" else spec.resource
    statement: dict[str, object] = {
        "Sid": f"S{index}",
        "Effect": spec.effect,
        "Action": spec.actions,
        "Resource": resource,
    }
    if spec.conditions:
        block: dict[str, dict[str, str]] = {}
        for kind, value in spec.conditions:
            operator, key = _IAM_CONDITION[kind]
            block.setdefault(operator, {})[key] = value
        statement["Condition"] = block
    return statement


def iam_policies(specs: Sequence[Spec], per_policy: int) -> list[str]:
    chunks = [specs[i : i + per_policy] for i in range(0, len(specs), per_policy)]
    texts = []
    for c, chunk in enumerate(chunks):
        statements = [iam_statement(s, c * per_policy + i) for i, s in enumerate(chunk)]
        texts.append(json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2))
    return texts


def iam_request(probe: Probe) -> Request:
    principal = Principal("user", f"arn:aws:iam::{ACCOUNT}:user/{probe.user}", ACCOUNT, user_id="AIDAEXAMPLE")
    context = principal_context(principal)
    context.update(
        {
            "aws:PrincipalTag/team": probe.team,
            "aws:SourceIp": probe.ip,
            "aws:CurrentTime": NOW,
            "aws:SecureTransport": True,
        }
    )
    if probe.mfa:
        context["aws:MultiFactorAuthPresent"] = True
    return Request(principal, probe.action, probe.resource, ACCOUNT, context)


# --------------------------------------------------------------------------- Cedar rendering


def _cedar_condition(kind: str, value: str) -> str:
    if kind == "team":
        return f'context.team == "{value}"'
    if kind == "mfa":
        return "context has mfa && context.mfa == true"
    if kind == "ip":
        return f'ip(context.source_ip).isInRange(ip("{value}"))'
    epoch = int(dt.datetime.fromisoformat(value).timestamp())
    return f"context.epoch < {epoch}"


def cedar_policy(spec: Spec) -> str:
    actions = " || ".join(f'context.action like "{a.lower()}"' for a in spec.actions)
    clauses = [f"({actions})"]
    if spec.resource == "SELF":
        clauses.append("context.resource == context.self_arn")
    elif spec.resource != "*":
        clauses.append(f'context.resource like "{spec.resource}"')
    clauses.extend(_cedar_condition(kind, value) for kind, value in spec.conditions)
    verb = "forbid" if spec.effect == "Deny" else "permit"
    return f"{verb}(principal, action, resource) when {{ {' && '.join(clauses)} }};"


def cedar_request(probe: Probe) -> dict[str, object]:
    context: dict[str, object] = {
        "action": probe.action.lower(),
        "resource": probe.resource,
        "self_arn": f"arn:aws:iam::{ACCOUNT}:user/{probe.user}",
        "team": probe.team,
        "source_ip": probe.ip,
        "epoch": int(NOW.timestamp()),
    }
    if probe.mfa:
        context["mfa"] = True
    return {"principal": f'User::"{probe.user}"', "action": 'Action::"call"', "resource": 'Resource::"r"', "context": context}


# --------------------------------------------------------------------------- timing


@dataclass
class Result:
    label: str
    engine: str
    median_ns: float

    @property
    def per_second(self) -> float:
        return 1e9 / self.median_ns


def median_ns(decide: Callable[[int], object], count: int, rounds: int) -> float:
    """Median over ``rounds`` of the mean time per decision in a round of ``count``."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for i in range(count):
            decide(i)
        samples.append((time.perf_counter_ns() - start) / count)
    return statistics.median(samples)


@dataclass
class Scenario:
    label: str
    statements: int
    per_policy: int
    services: Sequence[str]


def run_scenario(scenario: Scenario, rounds: int, seed: int = 7) -> tuple[Result, Result, int, int]:
    specs = generate(scenario.statements, scenario.services, seed)
    cases = probes(specs, 256, seed + 1)
    policies = PolicySet(
        identity=[parse_policy(t, PolicyType.IDENTITY, policy_id=f"p{i}") for i, t in enumerate(iam_policies(specs, scenario.per_policy))]
    )
    cedar_set = cedarpy.PolicySet.from_str("\n".join(cedar_policy(s) for s in specs))
    entities = cedarpy.Entities.from_json_str("[]")
    cedar_cases = [cedar_request(p) for p in cases]

    def tessera(i: int) -> bool:
        return evaluate(iam_request(cases[i % len(cases)]), policies).allowed

    def cedar(i: int) -> bool:
        return cedarpy.is_authorized(cedar_cases[i % len(cedar_cases)], cedar_set, entities).allowed

    agree = sum(tessera(i) == cedar(i) for i in range(len(cases)))
    allowed = sum(tessera(i) for i in range(len(cases)))
    ours = Result(scenario.label, "tessera", median_ns(tessera, len(cases), rounds))
    theirs = Result(scenario.label, "cedarpy", median_ns(cedar, len(cases), rounds))
    return ours, theirs, agree, allowed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.policy_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args(argv)
    rounds = 5 if args.quick else 25
    scenarios = [
        Scenario("10 statements", 10, 10, SERVICES[:4]),
        Scenario("500 statements", 500, 50, SERVICES),
    ]
    print(f"{'policy set':16} {'engine':8} {'median µs/decision':>19} {'decisions/s':>12} {'tessera/cedarpy':>16}")
    medians = {}
    for scenario in scenarios:
        ours, theirs, agree, allowed = run_scenario(scenario, rounds)
        medians[scenario.label] = ours.median_ns
        ratio = ours.median_ns / theirs.median_ns
        for result in (ours, theirs):
            shown = f"{ratio:.3f}" if result is ours else ""
            print(f"{result.label:16} {result.engine:8} {result.median_ns / 1000:19.2f} {result.per_second:12,.0f} {shown:>16}")
        print(f"{'':16} decisions agree: {agree}/256 ({allowed} allowed)")
    scale = medians["500 statements"] / medians["10 statements"]
    print(f"500-statement / 10-statement median (Tessera): {scale:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
