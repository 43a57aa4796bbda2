"""Parsing and validation: what IAM accepts, what it refuses, and where the error is."""

from __future__ import annotations

import json

import pytest
from policyhelp import doc

from tessera.policy import (
    LIMIT_EXCEEDED,
    MALFORMED,
    PACKED_TOO_LARGE,
    Effect,
    PolicyError,
    PolicyType,
    parse_policy,
    policy_size,
)

I, R, T, BND, S, SCP = (  # noqa: E741 -- the policy types by initial, to keep the tables below readable
    PolicyType.IDENTITY,
    PolicyType.RESOURCE,
    PolicyType.TRUST,
    PolicyType.BOUNDARY,
    PolicyType.SESSION,
    PolicyType.SCP,
)
ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}
TRUST_OK = {"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "sts:AssumeRole"}


def _error(text: str, kind: PolicyType = I, **kwargs: object) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, kind, **kwargs)  # type: ignore[arg-type]
    return caught.value


REJECTED = [
    ("not-json", "{", I, "Syntax errors in policy."),
    ("top-level-array", "[]", I, "Syntax errors in policy."),
    ("trailing-text", '{"Statement": []} x', I, "Syntax errors in policy."),
    ("duplicate-member", '{"Statement": {"Effect": "Allow", "Effect": "Deny"}}', I, "Syntax errors in policy."),
    ("unknown-top-level", doc(ALLOW_ALL).replace('"Version"', '"Versio"'), I, "Has prohibited field Versio"),
    ("missing-statement", '{"Version": "2012-10-17"}', I, "Missing required field Statement"),
    ("empty-statement-list", '{"Version": "2012-10-17", "Statement": []}', I, "The policy failed legacy parsing"),
    ("statement-string", '{"Version": "2012-10-17", "Statement": "x"}', I, "The policy failed legacy parsing"),
    ("bad-version", doc(ALLOW_ALL, version="2012-10-18"), I, 'The policy version "2012-10-18" is not supported'),
    ("lower-case-effect", doc({**ALLOW_ALL, "Effect": "allow"}), I, 'Invalid effect "allow"'),
    ("missing-effect", doc({"Action": "*", "Resource": "*"}), I, "Missing required field Effect"),
    ("unknown-element", doc({**ALLOW_ALL, "Actions": "x:y"}), I, "Has prohibited field Actions"),
    ("miscased-element", doc({**ALLOW_ALL, "resource": "*"}), I, "Has prohibited field resource"),
    ("principal-in-identity", doc({**ALLOW_ALL, "Principal": "*"}), I, "Policy document should not specify a principal."),
    ("not-principal-in-session", doc({**ALLOW_ALL, "NotPrincipal": "*"}), S, "Policy document should not specify a principal."),
    ("principal-in-boundary", doc({**ALLOW_ALL, "Principal": "*"}), BND, "Policy document should not specify a principal."),
    ("principal-in-scp", doc({**ALLOW_ALL, "Principal": "*"}), SCP, "Has prohibited field Principal"),
    ("trust-without-principal", doc({"Effect": "Allow", "Action": "sts:AssumeRole"}), T, "Missing required field Principal"),
    ("trust-with-resource", doc({**TRUST_OK, "Resource": "*"}), T, "Has prohibited field Resource"),
    (
        "trust-with-not-principal",
        doc({**{k: v for k, v in TRUST_OK.items() if k != "Principal"}, "NotPrincipal": {"AWS": "111111111111"}}),
        T,
        "Has prohibited field NotPrincipal",
    ),
    ("trust-non-sts-action", doc({**TRUST_OK, "Action": "iam:CreateUser"}), T, "is not an STS role-assumption action"),
    ("resource-policy-without-principal", doc(ALLOW_ALL), R, "Missing required field Principal"),
    ("no-action", doc({"Effect": "Allow", "Resource": "*"}), I, "Policy statement must contain actions."),
    ("empty-action-list", doc({**ALLOW_ALL, "Action": []}), I, "Policy statement must contain actions."),
    ("action-and-not-action", doc({**ALLOW_ALL, "NotAction": "iam:*"}), I, "both Action and NotAction"),
    ("action-without-vendor", doc({**ALLOW_ALL, "Action": "CreateUser"}), I, "Actions/Conditions must be prefaced by a vendor"),
    ("action-not-string", doc({**ALLOW_ALL, "Action": 7}), I, "The policy failed legacy parsing"),
    ("no-resource", doc({"Effect": "Allow", "Action": "*"}), I, "Policy statement must contain resources."),
    ("no-resource-in-session", doc({"Effect": "Allow", "Action": "*"}), S, "Policy statement must contain resources."),
    ("resource-not-arn", doc({**ALLOW_ALL, "Resource": "bucket"}), I, 'Resource bucket must be in ARN format or "*".'),
    ("resource-short-arn", doc({**ALLOW_ALL, "Resource": "arn:aws:iam"}), I, "must be in ARN format"),
    ("resource-short-arn-no-star", doc({**ALLOW_ALL, "Resource": "arn:aws:sns:us-east-1"}), I, "must be in ARN format"),
    ("resource-short-arn-star-inside", doc({**ALLOW_ALL, "Resource": "arn:aws:sns:*:x"}), I, "must be in ARN format"),
    ("resource-short-arn-only-partition", doc({**ALLOW_ALL, "Resource": "arn:*"}), I, 'Resource arn:* must be in ARN format or "*".'),
    ("resource-star-not-arn", doc({**ALLOW_ALL, "Resource": "sns:*"}), I, "must be in ARN format"),
    ("not-resource-short-arn-no-star", doc({"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:sns"}), I, "must be in ARN format"),
    ("bad-sid", doc({**ALLOW_ALL, "Sid": "no spaces"}), I, "Statement IDs (SID) must be alpha-numeric."),
    (
        "duplicate-sid",
        doc({**ALLOW_ALL, "Sid": "A"}, {**ALLOW_ALL, "Sid": "A"}),
        I,
        "Statement IDs (SID) in a single policy must be unique.",
    ),
    ("unknown-operator", doc({**ALLOW_ALL, "Condition": {"StringEqualz": {"aws:x": "y"}}}), I, 'Unknown condition operator "StringEqualz"'),
    (
        "unknown-set-operator",
        doc({**ALLOW_ALL, "Condition": {"ForSomeValues:StringEquals": {"aws:x": "y"}}}),
        I,
        "Unknown condition operator",
    ),
    ("null-if-exists", doc({**ALLOW_ALL, "Condition": {"NullIfExists": {"aws:x": "true"}}}), I, "Unknown condition operator"),
    (
        "condition-key-without-vendor",
        doc({**ALLOW_ALL, "Condition": {"StringEquals": {"x": "y"}}}),
        I,
        "Actions/Conditions must be prefaced by a vendor",
    ),
    ("condition-not-object", doc({**ALLOW_ALL, "Condition": ["x"]}), I, "must be an object"),
    ("condition-operator-not-object", doc({**ALLOW_ALL, "Condition": {"StringEquals": "x"}}), I, "must map condition keys to values"),
    (
        "condition-value-object",
        doc({**ALLOW_ALL, "Condition": {"StringEquals": {"aws:x": {"a": 1}}}}),
        I,
        "not a string, number or boolean",
    ),
    ("condition-value-null", doc({**ALLOW_ALL, "Condition": {"StringEquals": {"aws:x": None}}}), I, "not a string, number or boolean"),
    ("numeric-not-number", doc({**ALLOW_ALL, "Condition": {"NumericLessThan": {"aws:x": "ten"}}}), I, '"ten" is not a number'),
    (
        "date-not-date",
        doc({**ALLOW_ALL, "Condition": {"DateLessThan": {"aws:CurrentTime": "soon"}}}),
        I,
        "is not an ISO 8601 date or epoch time",
    ),
    ("date-bad-month", doc({**ALLOW_ALL, "Condition": {"DateLessThan": {"aws:CurrentTime": "2024-13-01"}}}), I, "is not an ISO 8601 date"),
    ("bool-not-bool", doc({**ALLOW_ALL, "Condition": {"Bool": {"aws:SecureTransport": "yes"}}}), I, 'is not "true" or "false"'),
    ("null-not-bool", doc({**ALLOW_ALL, "Condition": {"Null": {"aws:x": "maybe"}}}), I, 'takes "true" or "false"'),
    (
        "ip-not-ip",
        doc({**ALLOW_ALL, "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.256/8"}}}),
        I,
        "is not an IP address or CIDR block",
    ),
    ("binary-not-base64", doc({**ALLOW_ALL, "Condition": {"BinaryEquals": {"aws:x": "@@@"}}}), I, "is not base64"),
    (
        "principal-partial-wildcard",
        doc({**TRUST_OK, "Principal": {"AWS": "arn:aws:iam::111111111111:user/*"}}),
        T,
        'Invalid principal in policy: "AWS":"arn:aws:iam::111111111111:user/*"',
    ),
    ("principal-not-arn", doc({**TRUST_OK, "Principal": {"AWS": "alice"}}), T, "Invalid principal in policy"),
    ("principal-unknown-type", doc({**TRUST_OK, "Principal": {"Amazon": "*"}}), T, "unknown principal type"),
    ("principal-plain-string", doc({**TRUST_OK, "Principal": "111111111111"}), T, "Invalid principal"),
    *(
        (
            f"federated-{name}",
            doc({**TRUST_OK, "Action": "sts:AssumeRoleWithWebIdentity", "Principal": {"Federated": value}}),
            T,
            "Federated principals must be valid domain names or SAML metadata ARNs",
        )
        for name, value in (
            ("space", "not a domain"),
            ("url", "https://accounts.google.com"),
            ("other-arn", "arn:aws:iam::111111111111:role/R"),
            ("leading-dot", ".example.com"),
            ("underscore", "idp_example.com"),
        )
    ),
]


@pytest.mark.parametrize(("text", "kind", "reason"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED])
def test_invalid_documents_are_rejected_as_malformed(text: str, kind: PolicyType, reason: str) -> None:
    error = _error(text, kind)
    assert error.code == MALFORMED
    assert reason in error.message


ACCEPTED = [
    ("statement-object", '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}', I),
    ("no-version", '{"Statement":[{"Effect":"Deny","NotAction":"iam:*","NotResource":"arn:aws:iam::1:user/x"}]}', I),
    ("old-version", doc(ALLOW_ALL, version="2008-10-17"), I),
    ("id-element", '{"Version":"2012-10-17","Id":"x","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}', I),
    ("trust-account", doc(TRUST_OK), T),
    ("trust-everything", doc({**TRUST_OK, "Principal": "*"}), T),
    (
        "trust-all-forms",
        doc(
            {
                **TRUST_OK,
                "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
                "Principal": {
                    "AWS": [
                        "arn:aws:iam::111111111111:root",
                        "arn:aws:iam::111111111111:user/path/bob",
                        "arn:aws:iam::111111111111:role/R",
                        "arn:aws:sts::111111111111:assumed-role/R/s",
                        "arn:aws:sts::111111111111:federated-user/f",
                        "AIDAEXAMPLEUSER00001",
                        "*",
                    ],
                    "Service": "ec2.amazonaws.com",
                },
            }
        ),
        T,
    ),
    ("trust-federated", doc({**TRUST_OK, "Action": "sts:AssumeRoleWithWebIdentity", "Principal": {"Federated": "accounts.google.com"}}), T),
    (
        "trust-federated-forms",
        doc(
            {
                **TRUST_OK,
                "Action": ["sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML"],
                "Principal": {
                    "Federated": [
                        "cognito-identity.amazonaws.com",
                        "arn:aws:iam::111111111111:saml-provider/Corp",
                        "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com",
                        "arn:aws:iam::111111111111:oidc-provider/idp.example.com:8443/realms/main",
                        "arn:aws:iam::111111111111:oidc-provider/tenant.auth0.com/",
                    ]
                },
            }
        ),
        T,
    ),
    ("trust-wildcard-action", doc({**TRUST_OK, "Action": "sts:*"}), T),
    ("resource-not-principal", doc({**ALLOW_ALL, "NotPrincipal": {"AWS": "111111111111"}}), R),
    ("scp", doc(ALLOW_ALL), SCP),
    (
        "every-operator",
        doc(
            {
                **ALLOW_ALL,
                "Condition": {
                    "StringEquals": {"aws:a": "x"},
                    "StringNotEqualsIgnoreCase": {"aws:b": ["x", "y"]},
                    "StringLike": {"aws:c": "a*"},
                    "NumericLessThanEquals": {"aws:d": 5},
                    "NumericGreaterThan": {"aws:e": "1.5"},
                    "DateGreaterThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"},
                    "DateLessThan": {"aws:EpochTime": 1735689600},
                    "Bool": {"aws:SecureTransport": True},
                    "BinaryEquals": {"aws:g": "AQID"},
                    "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]},
                    "NotIpAddress": {"aws:SourceIp": "192.0.2.1"},
                    "ArnLike": {"aws:SourceArn": "arn:aws:s3:::b/*"},
                    "ArnNotEqualsIfExists": {"aws:h": "arn:aws:iam::1:role/x"},
                    "Null": {"aws:i": "false"},
                    "ForAllValues:StringLike": {"aws:TagKeys": ["a*"]},
                    "ForAnyValue:StringEqualsIfExists": {"aws:j": "x"},
                },
            }
        ),
        I,
    ),
    ("resource-short-arn-account-star", doc({**ALLOW_ALL, "Resource": "arn:aws:sns:us-east-1:*"}), I),
    ("resource-short-arn-region-star", doc({**ALLOW_ALL, "Resource": ["arn:aws:dynamodb:*", "arn:aws:iam::*"]}), I),
    ("resource-short-arn-service-star", doc({**ALLOW_ALL, "Resource": "arn:aws:*"}), I),
    ("not-resource-short-arn", doc({"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:sns:*"}), I),
    ("resource-policy-short-arn", doc({**ALLOW_ALL, "Principal": {"AWS": "111111111111"}, "Resource": "arn:aws:sns:us-east-1:*"}), R),
    ("boundary-short-arn", doc({**ALLOW_ALL, "Resource": "arn:aws:sns:us-*"}), BND),
    ("session-short-arn", doc({**ALLOW_ALL, "Resource": "arn:aws:sns:us-east-1:*"}), S),
    ("scp-short-arn", doc({**ALLOW_ALL, "Resource": "arn:aws:dynamodb:*"}), SCP),
]


def test_short_arn_resource_keeps_its_text() -> None:
    statement = parse_policy(doc({**ALLOW_ALL, "Resource": "arn:aws:sns:us-east-1:*"}), I).statements[0]
    assert statement.resources is not None and [r.source for r in statement.resources] == ["arn:aws:sns:us-east-1:*"]


@pytest.mark.parametrize(("text", "kind"), [a[1:] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED])
def test_valid_documents_parse(text: str, kind: PolicyType) -> None:
    policy = parse_policy(text, kind, policy_id="x")
    assert policy.text == text
    assert policy.id == "x"
    assert policy.type is kind
    assert policy.statements


def test_missing_version_means_2008_10_17() -> None:
    policy = parse_policy('{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}', I)
    assert policy.version == "2008-10-17"


def test_statement_fields_are_exposed() -> None:
    policy = parse_policy(doc({"Sid": "One", "Effect": "Deny", "Action": "iam:*", "Resource": "*"}), I)
    (statement,) = policy.statements
    assert (statement.index, statement.sid, statement.effect) == (0, "One", Effect.DENY)


def test_error_reports_statement_path_and_line() -> None:
    text = doc({"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Allow", "Action": "*"})
    error = _error(text)
    assert error.path == "Statement[1].Resource"
    assert (error.line, error.column) == (9, 5)
    assert error.message == "Policy statement must contain resources. (at Statement[1].Resource, line 9, column 5)"


def test_syntax_error_reports_line_and_column() -> None:
    error = _error('{\n  "Statement": [\n    {"Effect": "Allow",,}\n  ]\n}')
    assert (error.line, error.column) == (3, 24)


def test_statement_span_covers_the_braces() -> None:
    text = '{\n "Statement": [\n  {"Effect": "Allow",\n   "Action": "*", "Resource": "*"}\n ]\n}'
    (statement,) = parse_policy(text, I).statements
    assert (statement.span.start.line, statement.span.start.column) == (3, 3)
    assert (statement.span.end.line, statement.span.end.column) == (4, 34)


SIZES = [
    ("compact", '{"a":"b c"}', 11),
    ("whitespace-outside-strings-ignored", '{ "a" :\n\t"b c" }', 11),
    ("escaped-quote-inside-string", '{"a":"b\\" c"}', 13),
]


@pytest.mark.parametrize(("text", "size"), [s[1:] for s in SIZES], ids=[s[0] for s in SIZES])
def test_policy_size_excludes_whitespace_outside_strings(text: str, size: int) -> None:
    assert policy_size(text) == size


def test_size_limit_exceeded_is_limit_exceeded() -> None:
    text = doc(ALLOW_ALL)
    parse_policy(text, I, max_size=policy_size(text))
    error = _error(text, I, max_size=policy_size(text) - 1)
    assert error.code == LIMIT_EXCEEDED
    assert "Maximum policy size of" in error.message


def test_trust_policy_size_names_the_role_quota() -> None:
    error = _error(doc(TRUST_OK), T, max_size=10)
    assert (error.code, error.message) == (LIMIT_EXCEEDED, "Cannot exceed quota for ACLSizePerRole: 10")


def test_session_policy_size_is_packed_policy_too_large() -> None:
    text = doc(ALLOW_ALL)
    error = _error(text, S, max_size=policy_size(text) // 2)
    assert error.code == PACKED_TOO_LARGE
    assert error.message.startswith("Packed policy consumes 2")
    assert error.message.endswith("% of allotted space, please use smaller policy.")


def test_json_escapes_and_numbers_are_read() -> None:
    text = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iam:\u0047etUser",
                    "Resource": "arn:aws:iam::1:user/\u00e9",
                    "Condition": {"NumericEquals": {"aws:n": [1, -2.5, 1e3]}},
                }
            ],
        },
        ensure_ascii=True,
    )
    (statement,) = parse_policy(text, I).statements
    assert statement.element["Action"] == "iam:GetUser"
    assert statement.element["Resource"] == "arn:aws:iam::1:user/\u00e9"


@pytest.mark.parametrize(
    "number",
    ["1" * 5000, "-" + "9" * 4301, "1e999999999999999999999", "1.5E-999999999999999999999"],
    ids=["5000-digits", "negative-4301-digits", "huge-exponent", "tiny-exponent"],
)
def test_numbers_no_one_can_compare_are_malformed_not_a_crash(number: str) -> None:
    """Well-formed JSON numbers beyond what Python converts (int digits) or ``decimal``
    represents (exponent) are a PolicyError, never a ValueError/InvalidOperation."""
    text = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*",'
        f'"Condition":{{"NumericLessThan":{{"s3:max-keys":{number}}}}}}}]}}'
    )
    with pytest.raises(PolicyError, match="Number out of range"):
        parse_policy(text, PolicyType.IDENTITY)
