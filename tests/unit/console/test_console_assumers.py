"""The role page's "who can assume this role" analysis: simulator results and trust
policies in, one verdict per principal out (tessera.console.assumers)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tessera.console.assumers import (
    ALLOWED,
    CONDITIONAL,
    DENIED,
    Outside,
    outside_principals,
    role_verdict,
    trust_policy,
    user_verdict,
)
from tessera.policy import Policy

ACCOUNT = "111122223333"
TARGET = f"arn:aws:iam::{ACCOUNT}:role/target"
CALLER = {"Arn": f"arn:aws:iam::{ACCOUNT}:role/ops/caller", "RoleId": "AROAEXAMPLEEXAMPLE01"}


def trust(*statements: dict[str, Any]) -> Policy:
    policy = trust_policy(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))
    assert policy is not None
    return policy


def allow(principal: object, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra}


def identity(decision: str, **extra: Any) -> dict[str, Any]:
    return {"EvalActionName": "sts:AssumeRole", "EvalDecision": decision, "MissingContextValues": [], **extra}


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        (identity("allowed"), ALLOWED),
        (identity("explicitDeny"), DENIED),
        (identity("implicitDeny"), DENIED),
        (identity("implicitDeny", MissingContextValues=["aws:MultiFactorAuthPresent"]), CONDITIONAL),
    ],
    ids=["allowed", "explicit-deny", "implicit-deny", "missing-keys"],
)
def test_user_verdict_is_the_simulators_decision(result: dict[str, Any], outcome: str) -> None:
    verdict = user_verdict(result)
    assert verdict.outcome == outcome
    assert verdict.keys == tuple(result["MissingContextValues"]) if outcome == CONDITIONAL else verdict.keys == ()


@pytest.mark.parametrize(
    ("policy", "own", "outcome"),
    [
        # naming the role: no identity policy needed
        (trust(allow({"AWS": CALLER["Arn"]})), identity("implicitDeny"), ALLOWED),
        # naming the role, but its boundary does not allow sts:AssumeRole
        (
            trust(allow({"AWS": CALLER["Arn"]})),
            identity("implicitDeny", PermissionsBoundaryDecisionDetail={"AllowedByPermissionsBoundary": False}),
            DENIED,
        ),
        # naming the account: the role's own policies decide
        (trust(allow({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})), identity("allowed"), ALLOWED),
        (trust(allow({"AWS": ACCOUNT})), identity("implicitDeny"), DENIED),
        # not named at all, however much its own policies allow
        (trust(allow({"AWS": f"arn:aws:iam::{ACCOUNT}:role/other"})), identity("allowed"), DENIED),
        (trust(allow({"Service": "ec2.amazonaws.com"})), identity("allowed"), DENIED),
        # an explicit deny anywhere
        (
            trust(allow({"AWS": ACCOUNT}), {"Effect": "Deny", "Principal": {"AWS": CALLER["Arn"]}, "Action": "sts:AssumeRole"}),
            identity("allowed"),
            DENIED,
        ),
        (trust(allow({"AWS": CALLER["Arn"]})), identity("explicitDeny"), DENIED),
        # SCPs
        (trust(allow({"AWS": CALLER["Arn"]})), identity("allowed", OrganizationsDecisionDetail={"AllowedByOrganizations": False}), DENIED),
        # a condition the request has to meet
        (
            trust(allow({"AWS": CALLER["Arn"]}, Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})),
            identity("allowed"),
            CONDITIONAL,
        ),
    ],
    ids=[
        "role-named",
        "role-named-boundary-denies",
        "account-named-identity-allows",
        "account-id-identity-silent",
        "other-role-named",
        "service-only",
        "trust-denies",
        "identity-denies",
        "scp-denies",
        "mfa-condition",
    ],
)
def test_role_verdict_agrees_with_assume_role(policy: Policy, own: dict[str, Any], outcome: str) -> None:
    assert role_verdict(policy, TARGET, CALLER, own).outcome == outcome


def test_a_conditional_verdict_names_the_keys() -> None:
    policy = trust(allow({"AWS": ACCOUNT}, Condition={"StringEquals": {"sts:ExternalId": "x"}}))
    verdict = role_verdict(policy, TARGET, CALLER, identity("allowed"))
    assert verdict.outcome == CONDITIONAL and verdict.keys == ("sts:ExternalId",)


def test_outside_principals_lists_other_accounts_providers_and_services() -> None:
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                allow({"AWS": [f"arn:aws:iam::{ACCOUNT}:root", "444455556666", f"arn:aws:iam::{ACCOUNT}:user/alice"]}),
                allow({"AWS": "arn:aws:iam::777788889999:role/deployer"}),
                allow({"Federated": "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"}),
                allow({"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"]}),
                {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole"},
            ],
        }
    )
    found = outside_principals(document, ACCOUNT)
    assert [(o.kind, o.value) for o in found] == [
        ("account", "444455556666"),
        ("principal", "arn:aws:iam::777788889999:role/deployer"),
        ("federated", "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com"),
        ("service", "lambda.amazonaws.com"),
        ("service", "ec2.amazonaws.com"),
    ]
    assert found[0].description == "Any principal of account 444455556666 that its own policies allow."


def test_everyone_is_listed_once() -> None:
    document = json.dumps({"Version": "2012-10-17", "Statement": [allow("*"), allow({"AWS": "*"})]})
    assert outside_principals(document, ACCOUNT) == [
        Outside("everyone", "*", "Any principal of any account whose own policies allow it."),
    ]
