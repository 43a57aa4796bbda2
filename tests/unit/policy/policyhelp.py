"""Builders shared by the policy-engine tests: policies from Python data, callers, requests."""

from __future__ import annotations

import json
from collections.abc import Sequence

from policies import allow as allow
from policies import deny as deny

from tessera.policy import (
    Decision,
    Policy,
    PolicySet,
    PolicyType,
    Principal,
    Request,
    evaluate,
    parse_policy,
    principal_context,
)

A = "111111111111"
B = "222222222222"


def doc(*statements: dict[str, object], version: str | None = "2012-10-17") -> str:
    document: dict[str, object] = {"Statement": list(statements)}
    if version is not None:
        document = {"Version": version, **document}
    return json.dumps(document, indent=2)


def policy(
    *statements: dict[str, object],
    kind: PolicyType = PolicyType.IDENTITY,
    policy_id: str = "p",
    version: str | None = "2012-10-17",
) -> Policy:
    return parse_policy(doc(*statements, version=version), kind, policy_id=policy_id)


def trust(principal: object, action: str | list[str] = "sts:AssumeRole", **extra: object) -> Policy:
    statement = {"Effect": "Allow", "Principal": principal, "Action": action, **extra}
    return policy(statement, kind=PolicyType.TRUST, policy_id="trust")


def user(name: str = "alice", account: str = A, user_id: str = "AIDAEXAMPLEUSER00001") -> Principal:
    return Principal("user", f"arn:aws:iam::{account}:user/{name}", account, user_id=user_id)


def session(role: str, name: str, account: str = A, role_id: str = "AROAEXAMPLEROLE00001") -> Principal:
    return Principal(
        "assumed-role",
        f"arn:aws:sts::{account}:assumed-role/{role}/{name}",
        account,
        role_arn=f"arn:aws:iam::{account}:role/{role}",
        user_id=f"{role_id}:{name}",
    )


def root(account: str = A) -> Principal:
    return Principal("root", f"arn:aws:iam::{account}:root", account, user_id=account)


def request(
    principal: Principal,
    action: str,
    resource: str = "*",
    resource_account: str | None = None,
    context: dict[str, object] | None = None,
) -> Request:
    keys = principal_context(principal)
    keys.update(context or {})
    if resource_account is None:
        parts = resource.split(":")
        resource_account = parts[4] if len(parts) > 5 else ""
    return Request(principal, action, resource, resource_account, keys)


def decide(
    principal: Principal,
    action: str,
    resource: str = "*",
    *,
    identity: Sequence[Policy] = (),
    resource_policy: Policy | None = None,
    boundary: Policy | None = None,
    session_policies: Sequence[Policy] = (),
    scps: Sequence[Sequence[Policy]] | None = None,
    context: dict[str, object] | None = None,
    resource_account: str | None = None,
) -> Decision:
    policies = PolicySet(identity, resource_policy, boundary, session_policies, scps)
    return evaluate(request(principal, action, resource, resource_account, context), policies)
