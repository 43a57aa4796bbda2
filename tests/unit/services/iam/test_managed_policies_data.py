"""The AWS managed policies shipped as package data: present, well-formed, and granting
what AWS's documents grant (ReadOnlyAccess is AWS's real v178 document, ~83k
non-whitespace characters, far past the 6144 customer-policy quota)."""

from __future__ import annotations

import json

import pytest

from tessera.policy import Policy, PolicySet, PolicyType, Principal, Request, evaluate, parse_policy
from tessera.services.state import ManagedPolicies

ACCOUNT = "123456789012"
USER = Principal(kind="user", arn=f"arn:aws:iam::{ACCOUNT}:user/alice", account=ACCOUNT, user_id="AIDAEXAMPLE")
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"

SHIPPED = {
    "arn:aws:iam::aws:policy/AdministratorAccess": "ANPAIWMBCKSKIEE64ZLYK",
    "arn:aws:iam::aws:policy/IAMFullAccess": "ANPAI7XKCFMBPM3QQRRVQ",
    "arn:aws:iam::aws:policy/IAMReadOnlyAccess": "ANPAJKSO7NDY4T57MWDSQ",
    READ_ONLY: "ANPAILL3HVNFSB6DCOWYQ",
}


@pytest.fixture(scope="module")
def managed() -> ManagedPolicies:
    return ManagedPolicies.load()


@pytest.fixture(scope="module")
def read_only(managed: ManagedPolicies) -> Policy:
    text = managed.document(READ_ONLY)
    assert text is not None
    return parse_policy(text, PolicyType.IDENTITY, policy_id=READ_ONLY)


def test_every_shipped_policy_is_present_with_its_aws_id(managed: ManagedPolicies) -> None:
    assert {str(p["arn"]): p["id"] for p in managed.all()} == SHIPPED


@pytest.mark.parametrize("arn", sorted(SHIPPED), ids=lambda arn: arn.rsplit("/", 1)[1])
def test_shipped_policy_document_parses_as_an_identity_policy(managed: ManagedPolicies, arn: str) -> None:
    record = managed.get(arn)
    assert record is not None
    assert record["name"] == arn.rsplit("/", 1)[1] and record["path"] == "/"
    policy = parse_policy(record["document"], PolicyType.IDENTITY, policy_id=arn)
    assert policy.statements


def test_read_only_access_record_matches_aws(managed: ManagedPolicies) -> None:
    record = managed.get(READ_ONLY)
    assert record is not None
    assert record["description"] == "Provides read-only access to AWS services and resources."
    assert (record["default_version"], record["created"], record["updated"]) == (
        "v178",
        "2015-02-06T18:39:48Z",
        "2026-02-12T18:01:33Z",
    )
    sids = [s["Sid"] for s in json.loads(record["document"])["Statement"]]
    assert sids == ["ReadOnlyActionsGroup1", "ReadOnlyActionsGroup2"]


GRANTS = [
    ("iam:GetUser", f"arn:aws:iam::{ACCOUNT}:user/bob", True),
    ("iam:ListRoles", "*", True),
    ("sts:GetCallerIdentity", "*", True),
    ("s3:GetObject", "arn:aws:s3:::bucket/key", True),
    ("ec2:DescribeInstances", "*", True),
    ("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/bob", False),
    ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/r", False),
    ("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/r", False),
    ("s3:PutObject", "arn:aws:s3:::bucket/key", False),
]


@pytest.mark.parametrize(("action", "resource", "allowed"), GRANTS, ids=[g[0] for g in GRANTS])
def test_read_only_access_allows_reads_and_not_writes(read_only: Policy, action: str, resource: str, allowed: bool) -> None:
    request = Request(principal=USER, action=action, resource=resource, resource_account=ACCOUNT)
    assert evaluate(request, PolicySet(identity=(read_only,))).allowed is allowed
