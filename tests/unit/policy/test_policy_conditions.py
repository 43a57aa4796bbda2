"""Condition operators, one table row per behaviour (IAM User Guide, "IAM JSON policy elements: Condition operators").

Each row: operator, key, policy value(s), request context value (``ABSENT`` = key not in
the context), expected truth of the condition (observed as allowed/denied)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from decimal import Decimal

import pytest
from policyhelp import allow, decide, policy, user

ABSENT = object()
UTC = dt.UTC
NOON = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

ROWS: list[tuple[str, str, str, object, object, bool]] = [
    # String
    ("string-equals", "StringEquals", "aws:PrincipalTag/team", "red", "red", True),
    ("string-equals-case-sensitive", "StringEquals", "aws:PrincipalTag/team", "red", "Red", False),
    ("string-equals-any-value", "StringEquals", "aws:PrincipalTag/team", ["blue", "red"], "red", True),
    ("string-equals-absent", "StringEquals", "aws:PrincipalTag/team", "red", ABSENT, False),
    ("string-equals-bool-request-value", "StringEquals", "aws:SecureTransport", "true", True, True),
    ("string-not-equals", "StringNotEquals", "aws:PrincipalTag/team", "red", "blue", True),
    ("string-not-equals-hit", "StringNotEquals", "aws:PrincipalTag/team", "red", "red", False),
    ("string-not-equals-none-of", "StringNotEquals", "aws:PrincipalTag/team", ["a", "red"], "red", False),
    ("string-not-equals-absent-is-true", "StringNotEquals", "aws:PrincipalTag/team", "red", ABSENT, True),
    ("string-equals-ignore-case", "StringEqualsIgnoreCase", "aws:PrincipalTag/team", "RED", "red", True),
    ("string-not-equals-ignore-case", "StringNotEqualsIgnoreCase", "aws:PrincipalTag/team", "RED", "red", False),
    ("string-like", "StringLike", "aws:PrincipalTag/team", "r*d", "rapid", True),
    ("string-like-question", "StringLike", "aws:PrincipalTag/team", "r?d", "red", True),
    ("string-like-case-sensitive", "StringLike", "aws:PrincipalTag/team", "R*", "red", False),
    ("string-not-like", "StringNotLike", "aws:PrincipalTag/team", "r*", "blue", True),
    ("string-not-like-hit", "StringNotLike", "aws:PrincipalTag/team", "r*", "red", False),
    ("string-equals-if-exists-absent", "StringEqualsIfExists", "aws:PrincipalTag/team", "red", ABSENT, True),
    ("string-equals-if-exists-present", "StringEqualsIfExists", "aws:PrincipalTag/team", "red", "blue", False),
    ("string-not-equals-if-exists-absent", "StringNotEqualsIfExists", "aws:PrincipalTag/team", "red", ABSENT, True),
    ("string-key-case-insensitive", "StringEquals", "AWS:PRINCIPALTAG/TEAM", "red", "red", True),
    # Numeric
    ("numeric-equals", "NumericEquals", "aws:MultiFactorAuthAge", "10", 10, True),
    ("numeric-equals-decimal", "NumericEquals", "aws:MultiFactorAuthAge", "10.0", Decimal("10"), True),
    ("numeric-equals-json-number", "NumericEquals", "aws:MultiFactorAuthAge", 10, "10", True),
    ("numeric-not-equals", "NumericNotEquals", "aws:MultiFactorAuthAge", "10", 11, True),
    ("numeric-less-than", "NumericLessThan", "aws:MultiFactorAuthAge", "3600", 3599, True),
    ("numeric-less-than-boundary", "NumericLessThan", "aws:MultiFactorAuthAge", "3600", 3600, False),
    ("numeric-less-than-equals", "NumericLessThanEquals", "aws:MultiFactorAuthAge", "3600", 3600, True),
    ("numeric-greater-than", "NumericGreaterThan", "aws:MultiFactorAuthAge", "1.5", 2, True),
    ("numeric-greater-than-equals", "NumericGreaterThanEquals", "aws:MultiFactorAuthAge", "2", 2, True),
    ("numeric-non-number-request", "NumericLessThan", "aws:MultiFactorAuthAge", "10", "abc", False),
    ("numeric-bool-request", "NumericEquals", "aws:MultiFactorAuthAge", "1", True, False),
    ("numeric-absent", "NumericLessThan", "aws:MultiFactorAuthAge", "10", ABSENT, False),
    ("numeric-if-exists-absent", "NumericLessThanIfExists", "aws:MultiFactorAuthAge", "10", ABSENT, True),
    ("numeric-not-equals-absent", "NumericNotEquals", "aws:MultiFactorAuthAge", "10", ABSENT, True),
    # Date
    ("date-less-than", "DateLessThan", "aws:CurrentTime", "2024-05-01T12:00:01Z", NOON, True),
    ("date-less-than-boundary", "DateLessThan", "aws:CurrentTime", "2024-05-01T12:00:00Z", NOON, False),
    ("date-less-than-equals", "DateLessThanEquals", "aws:CurrentTime", "2024-05-01T12:00:00Z", NOON, True),
    ("date-equals-offset", "DateEquals", "aws:CurrentTime", "2024-05-01T14:00:00+02:00", NOON, True),
    ("date-not-equals", "DateNotEquals", "aws:CurrentTime", "2024-05-01T12:00:00Z", NOON, False),
    ("date-greater-than-day-only", "DateGreaterThan", "aws:CurrentTime", "2024-05-01", NOON, True),
    ("date-greater-than-equals", "DateGreaterThanEquals", "aws:CurrentTime", "2024-05-01T12:00:00Z", NOON, True),
    ("date-fractional-seconds", "DateLessThan", "aws:CurrentTime", "2024-05-01T12:00:00.5Z", NOON, True),
    ("date-epoch-policy-value", "DateEquals", "aws:CurrentTime", "1714564800", NOON, True),
    ("date-epoch-json-number", "DateLessThan", "aws:CurrentTime", 1714564801, NOON, True),
    ("date-epoch-request-value", "DateEquals", "aws:EpochTime", "2024-05-01T12:00:00Z", 1714564800, True),
    ("date-iso-string-request-value", "DateEquals", "aws:TokenIssueTime", "2024-05-01T12:00:00Z", "2024-05-01T12:00:00Z", True),
    ("date-naive-request-is-utc", "DateEquals", "aws:CurrentTime", "2024-05-01T12:00:00Z", dt.datetime(2024, 5, 1, 12), True),
    ("date-unparsable-request", "DateLessThan", "aws:CurrentTime", "2024-05-01", "never", False),
    ("date-absent", "DateLessThan", "aws:TokenIssueTime", "2024-05-01", ABSENT, False),
    ("date-not-equals-absent", "DateNotEquals", "aws:TokenIssueTime", "2024-05-01", ABSENT, True),
    # Bool
    ("bool-true", "Bool", "aws:MultiFactorAuthPresent", "true", True, True),
    ("bool-false-vs-true", "Bool", "aws:MultiFactorAuthPresent", "true", False, False),
    ("bool-json-boolean", "Bool", "aws:MultiFactorAuthPresent", True, True, True),
    ("bool-case-insensitive", "Bool", "aws:MultiFactorAuthPresent", "TRUE", "true", True),
    ("bool-absent", "Bool", "aws:MultiFactorAuthPresent", "false", ABSENT, False),
    ("bool-if-exists-absent", "BoolIfExists", "aws:MultiFactorAuthPresent", "false", ABSENT, True),
    # Binary
    ("binary-equals", "BinaryEquals", "aws:x", "AQID", b"\x01\x02\x03", True),
    ("binary-equals-base64-request", "BinaryEquals", "aws:x", "AQID", "AQID", True),
    ("binary-differs", "BinaryEquals", "aws:x", "AQID", b"\x01\x02", False),
    # IP
    ("ip-in-cidr", "IpAddress", "aws:SourceIp", "203.0.113.0/24", "203.0.113.7", True),
    ("ip-outside-cidr", "IpAddress", "aws:SourceIp", "203.0.113.0/24", "203.0.114.7", False),
    ("ip-bare-address", "IpAddress", "aws:SourceIp", "203.0.113.7", "203.0.113.7", True),
    ("ip-v6", "IpAddress", "aws:SourceIp", "2001:DB8::/32", "2001:db8:1::5", True),
    ("ip-v4-vs-v6-block", "IpAddress", "aws:SourceIp", "2001:DB8::/32", "10.0.0.1", False),
    ("ip-any-of", "IpAddress", "aws:SourceIp", ["10.0.0.0/8", "192.168.0.0/16"], "192.168.1.1", True),
    ("not-ip-outside", "NotIpAddress", "aws:SourceIp", "10.0.0.0/8", "11.0.0.1", True),
    ("not-ip-inside-any", "NotIpAddress", "aws:SourceIp", ["1.0.0.0/8", "10.0.0.0/8"], "10.0.0.1", False),
    ("not-ip-absent", "NotIpAddress", "aws:SourceIp", "10.0.0.0/8", ABSENT, True),
    ("ip-garbage-request", "IpAddress", "aws:SourceIp", "10.0.0.0/8", "not-an-ip", False),
    # ARN
    ("arn-equals", "ArnEquals", "aws:SourceArn", "arn:aws:iam::111111111111:role/R", "arn:aws:iam::111111111111:role/R", True),
    ("arn-like-segment", "ArnLike", "aws:SourceArn", "arn:aws:iam::*:role/*", "arn:aws:iam::111111111111:role/x/y", True),
    ("arn-equals-takes-wildcards", "ArnEquals", "aws:SourceArn", "arn:aws:iam::*:role/*", "arn:aws:iam::111111111111:role/x", True),
    ("arn-not-like", "ArnNotLike", "aws:SourceArn", "arn:aws:iam::*:role/*", "arn:aws:iam::1:user/x", True),
    ("arn-not-equals-hit", "ArnNotEquals", "aws:SourceArn", "arn:aws:iam::1:user/x", "arn:aws:iam::1:user/x", False),
    ("arn-like-not-an-arn", "ArnLike", "aws:SourceArn", "arn:aws:iam::*:role/*", "role/x", False),
    # Null
    ("null-true-absent", "Null", "aws:TokenIssueTime", "true", ABSENT, True),
    ("null-true-present", "Null", "aws:TokenIssueTime", "true", NOON, False),
    ("null-false-present", "Null", "aws:TokenIssueTime", "false", NOON, True),
    ("null-false-absent", "Null", "aws:TokenIssueTime", "false", ABSENT, False),
    ("null-json-boolean", "Null", "aws:TokenIssueTime", True, ABSENT, True),
    ("null-empty-list-is-absent", "Null", "aws:TagKeys", "true", [], True),
    # Set operators
    ("for-all-values-subset", "ForAllValues:StringEquals", "aws:TagKeys", ["a", "b"], ["a"], True),
    ("for-all-values-extra", "ForAllValues:StringEquals", "aws:TagKeys", ["a", "b"], ["a", "c"], False),
    ("for-all-values-empty", "ForAllValues:StringEquals", "aws:TagKeys", ["a"], [], True),
    ("for-all-values-absent", "ForAllValues:StringEquals", "aws:TagKeys", ["a"], ABSENT, True),
    ("for-all-values-single-value", "ForAllValues:StringEquals", "aws:TagKeys", ["a"], "a", True),
    ("for-any-value-hit", "ForAnyValue:StringEquals", "aws:TagKeys", ["a"], ["z", "a"], True),
    ("for-any-value-miss", "ForAnyValue:StringEquals", "aws:TagKeys", ["a"], ["z"], False),
    ("for-any-value-empty", "ForAnyValue:StringEquals", "aws:TagKeys", ["a"], [], False),
    ("for-any-value-absent", "ForAnyValue:StringEquals", "aws:TagKeys", ["a"], ABSENT, False),
    ("for-any-value-if-exists-absent", "ForAnyValue:StringEqualsIfExists", "aws:TagKeys", ["a"], ABSENT, True),
    ("for-all-values-not-equals", "ForAllValues:StringNotEquals", "aws:TagKeys", ["x"], ["a", "b"], True),
    ("for-all-values-not-equals-hit", "ForAllValues:StringNotEquals", "aws:TagKeys", ["x"], ["a", "x"], False),
    ("for-any-value-not-like", "ForAnyValue:StringNotLike", "aws:TagKeys", ["x*"], ["xa", "b"], True),
    (
        "for-any-value-like-org-paths",
        "ForAnyValue:StringLike",
        "aws:PrincipalOrgPaths",
        "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/*",
        ("o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-2/",),
        True,
    ),
    ("plain-operator-on-multivalued-acts-as-any", "StringEquals", "aws:TagKeys", "a", ["z", "a"], True),
    ("plain-operator-on-empty-list-is-absent", "StringEquals", "aws:TagKeys", "a", [], False),
    # the server passes aws:SourceIp already parsed; every operator reads it like the text
    ("ip-object-in-cidr", "IpAddress", "aws:SourceIp", "10.0.0.0/8", ipaddress.ip_address("10.1.2.3"), True),
    ("ip-object-outside-cidr", "NotIpAddress", "aws:SourceIp", "10.0.0.0/8", ipaddress.ip_address("192.0.2.1"), True),
    ("ip-object-as-string", "StringEquals", "aws:SourceIp", "192.0.2.1", ipaddress.ip_address("192.0.2.1"), True),
    ("ipv6-object-in-cidr", "IpAddress", "aws:SourceIp", "2001:db8::/32", ipaddress.ip_address("2001:db8::1"), True),
]


@pytest.mark.parametrize(("operator", "key", "values", "context_value", "expected"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_condition_operator(operator: str, key: str, values: object, context_value: object, expected: bool) -> None:
    statement = allow("iam:GetUser", Condition={operator: {key: values}})
    context = {} if context_value is ABSENT else {key.lower(): context_value}
    decision = decide(user(), "iam:GetUser", identity=[policy(statement)], context=context)
    assert decision.allowed is expected


def test_keys_under_one_operator_are_anded() -> None:
    statement = allow("iam:GetUser", Condition={"StringEquals": {"aws:PrincipalTag/a": "1", "aws:PrincipalTag/b": "2"}})
    identity = [policy(statement)]
    both = {"aws:PrincipalTag/a": "1", "aws:PrincipalTag/b": "2"}
    assert decide(user(), "iam:GetUser", identity=identity, context=both).allowed
    assert not decide(user(), "iam:GetUser", identity=identity, context={"aws:PrincipalTag/a": "1"}).allowed


def test_operators_are_anded() -> None:
    statement = allow("iam:GetUser", Condition={"Bool": {"aws:SecureTransport": "true"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})
    identity = [policy(statement)]
    good = {"aws:SecureTransport": True, "aws:SourceIp": "10.1.1.1"}
    assert decide(user(), "iam:GetUser", identity=identity, context=good).allowed
    bad = {"aws:SecureTransport": False, "aws:SourceIp": "10.1.1.1"}
    assert not decide(user(), "iam:GetUser", identity=identity, context=bad).allowed


def test_missing_condition_keys_are_reported() -> None:
    statement = allow(
        "iam:GetUser", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}, "StringEquals": {"aws:PrincipalTag/Team": "red"}}
    )
    decision = decide(user(), "iam:GetUser", identity=[policy(statement)], context={"aws:principaltag/team": "red"})
    assert decision.missing_context_keys == ("aws:MultiFactorAuthPresent",)


def test_ip_object_substitutes_as_a_policy_variable() -> None:
    statement = allow("iam:GetUser", "arn:aws:iam::*:user/from-${aws:SourceIp}")
    context = {"aws:sourceip": ipaddress.ip_address("192.0.2.7")}
    resource = "arn:aws:iam::111111111111:user/from-192.0.2.7"
    assert decide(user(), "iam:GetUser", resource, identity=[policy(statement)], context=context).allowed
