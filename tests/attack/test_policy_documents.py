"""Policy documents a client crafts to crash the reader are AWS's 4xx, with nothing written.

Numbers of thousands of digits (beyond Python's int/str digit limit), exponents beyond
what ``decimal`` represents, deep nesting, and odd numeric/date values in conditions and
in the simulator's context: each reaches the engine through IAM (identity, trust,
managed), STS (session policy), Organizations (SCP) and the simulator.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from attackkit import RawClient
from botocore.exceptions import ClientError
from serverproc import TesseraServer


def document(condition_value: str) -> str:
    """A policy whose only odd part is the raw JSON ``condition_value``."""
    return (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*",'
        '"Condition":{"NumericLessThan":{"s3:max-keys":' + condition_value + "}}}]}"
    )


def trust_document(condition_value: str) -> str:
    return (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole",'
        '"Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":' + condition_value + "}}}]}"
    )


NESTED = '{"Version":"2012-10-17","Statement":' + "[" * 300 + "]" * 300 + "}"

HOSTILE = {
    "5000-digit-integer": document("1" * 5000),
    "negative-4400-digit-integer": document("-" + "9" * 4400),
    "huge-exponent": document("1e999999999999999999999"),
    "tiny-exponent": document("2.5E-999999999999999999999"),
    "nested-300-deep": NESTED,
}


def error_code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


@pytest.fixture(scope="module")
def iam(target: TesseraServer) -> Any:
    return target.client("iam")


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_managed_policy_is_malformed_and_not_created(iam: Any, text: str) -> None:
    with pytest.raises(ClientError) as caught:
        iam.create_policy(PolicyName="hostile", PolicyDocument=text)
    assert error_code(caught.value) == "MalformedPolicyDocument"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    names = [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]
    assert "hostile" not in names


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_inline_policy_is_malformed_and_not_stored(iam: Any, text: str) -> None:
    iam.create_user(UserName="holder") if "holder" not in {u["UserName"] for u in iam.list_users()["Users"]} else None
    with pytest.raises(ClientError) as caught:
        iam.put_user_policy(UserName="holder", PolicyName="hostile", PolicyDocument=text)
    assert error_code(caught.value) == "MalformedPolicyDocument"
    assert iam.list_user_policies(UserName="holder")["PolicyNames"] == []


@pytest.mark.parametrize("value", ["9" * 5000, "1e999999999999999999999"], ids=["5000-digits", "huge-exponent"])
def test_trust_policy_is_malformed_and_no_role_is_created(iam: Any, value: str) -> None:
    with pytest.raises(ClientError) as caught:
        iam.create_role(RoleName="hostile-role", AssumeRolePolicyDocument=trust_document(value))
    assert error_code(caught.value) == "MalformedPolicyDocument"
    with pytest.raises(ClientError) as missing:
        iam.get_role(RoleName="hostile-role")
    assert error_code(missing.value) == "NoSuchEntity"


def test_session_policy_with_a_huge_number_is_malformed(target: TesseraServer, iam: Any) -> None:
    account = target.account_id
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}],
        }
    )
    role_arn = iam.create_role(RoleName="doc-target", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    user = target.make_user(
        "doc-caller", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}]}
    )
    sts = target.client("sts", user)
    for value in ("1e999999999999999999999", "-7.5E+99999999999999999999"):  # 2 048 characters hold no 4 301 digits
        with pytest.raises(ClientError) as caught:
            sts.assume_role(RoleArn=role_arn, RoleSessionName="hostile", Policy=document(value))
        assert error_code(caught.value) == "MalformedPolicyDocument"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_service_control_policy_with_a_huge_number_is_malformed(target: TesseraServer) -> None:
    organizations = target.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    before = organizations.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"]
    for value in ("1" * 4500, "1e999999999999999999999"):
        with pytest.raises(ClientError) as caught:
            organizations.create_policy(
                Name="hostile", Description="", Type="SERVICE_CONTROL_POLICY", Content=document(value).replace('"Allow"', '"Deny"')
            )
        assert error_code(caught.value) == "MalformedPolicyDocumentException"
    assert organizations.list_policies(Filter="SERVICE_CONTROL_POLICY")["Policies"] == before


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_simulator_input_is_invalid_input(raw: RawClient, text: str) -> None:
    form = {"Action": "SimulateCustomPolicy", "PolicyInputList.member.1": text, "ActionNames.member.1": "s3:GetObject"}
    reply = raw.send(raw.signed("iam", form))
    assert (reply.status, reply.error_code()) == (400, "InvalidInput"), reply.text


ODD_CONTEXT = [
    ("NumericLessThan", "s3:max-keys", "numeric", "1" * 100_000),
    ("NumericLessThan", "s3:max-keys", "numeric", "1e999999999999999999999"),
    ("NumericEquals", "s3:max-keys", "numeric", "NaN"),
    ("NumericGreaterThan", "s3:max-keys", "numeric", "-Infinity"),
    ("DateLessThan", "aws:CurrentTime", "date", "9" * 5000),
    ("DateLessThan", "aws:CurrentTime", "date", "-" + "9" * 400 + ".5"),
    ("DateGreaterThan", "aws:CurrentTime", "date", "2020-01-01T00:00:00+99:99"),
    ("IpAddress", "aws:SourceIp", "ip", "1" * 5000),
    ("BinaryEquals", "a:b", "binary", "=" * 5000),
    ("Bool", "aws:SecureTransport", "boolean", "t" * 5000),
]


@pytest.mark.parametrize(("operator", "key", "key_type", "value"), ODD_CONTEXT, ids=[f"{op}-{v[:12]}" for op, _, _, v in ODD_CONTEXT])
def test_simulator_context_values_no_operator_can_read_are_answered(
    raw: RawClient, operator: str, key: str, key_type: str, value: str
) -> None:
    """An unreadable request value makes its comparison false (IAM's rule), never a 500."""
    condition_value = {
        "NumericLessThan": "10",
        "NumericEquals": "1",
        "NumericGreaterThan": "1",
        "DateLessThan": "2030-01-01T00:00:00Z",
        "DateGreaterThan": "2000-01-01T00:00:00Z",
        "IpAddress": "10.0.0.0/8",
        "BinaryEquals": "QUJD",
        "Bool": "true",
    }[operator]
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {operator: {key: condition_value}}}],
        }
    )
    form = {
        "Action": "SimulateCustomPolicy",
        "PolicyInputList.member.1": text,
        "ActionNames.member.1": "s3:GetObject",
        "ContextEntries.member.1.ContextKeyName": key,
        "ContextEntries.member.1.ContextKeyType": key_type,
        "ContextEntries.member.1.ContextKeyValues.member.1": value,
    }
    reply = raw.send(raw.signed("iam", form))
    assert reply.status in (200, 400), reply.text
    if reply.status == 200:
        assert "<EvalDecision>implicitDeny</EvalDecision>" in reply.text
    else:  # the simulator's own check, or the wire's (a value too long for its type)
        assert reply.error_code() in ("InvalidInput", "ValidationError"), reply.text
