"""The public surface other packages code against, pinned."""

from __future__ import annotations

import tessera.policy
from tessera.policy import PolicyType, parse_policy, serialise

EXPECTED = {
    "LIMIT_EXCEEDED",
    "MALFORMED",
    "PACKED_TOO_LARGE",
    "VERSION_2008",
    "VERSION_2012",
    "Decision",
    "DecisionMemo",
    "DecisionResult",
    "Effect",
    "MatchedStatement",
    "Policy",
    "PolicyError",
    "PolicySet",
    "PolicyType",
    "PreparedSet",
    "Principal",
    "Request",
    "Statement",
    "evaluate",
    "lowered_names",
    "parse_policy",
    "policy_size",
    "policy_size_exceeds",
    "principal_context",
    "serialise",
}


def test_all_is_pinned() -> None:
    assert set(tessera.policy.__all__) == EXPECTED
    assert all(hasattr(tessera.policy, name) for name in tessera.policy.__all__)


def test_enum_values_are_the_wire_strings() -> None:
    assert [r.value for r in tessera.policy.DecisionResult] == ["allowed", "explicitDeny", "implicitDeny"]
    assert {t.name for t in PolicyType} == {"IDENTITY", "RESOURCE", "TRUST", "BOUNDARY", "SESSION", "SCP"}


def test_policy_error_codes() -> None:
    assert (tessera.policy.MALFORMED, tessera.policy.LIMIT_EXCEEDED, tessera.policy.PACKED_TOO_LARGE) == (
        "MalformedPolicyDocument",
        "LimitExceeded",
        "PackedPolicyTooLarge",
    )


def test_canonical_form_is_compact_and_ordered() -> None:
    text = '{"Statement": {"Resource": "*", "Action": ["iam:Get*"], "Effect": "Allow", "Sid": "A"}}'
    assert serialise(parse_policy(text, PolicyType.IDENTITY)) == (
        '{"Version":"2008-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":["iam:Get*"],"Resource":"*"}]}'
    )
    numbers = (
        '{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*",'
        ' "Condition": {"NumericLessThan": {"aws:x": [1, 2.50, 1e3]}}}}'
    )
    assert '"NumericLessThan":{"aws:x":[1,2.50,1E+3]}' in serialise(parse_policy(numbers, PolicyType.IDENTITY))
