"""Constraint violations produce AWS's ValidationError text, table-driven.

Expected strings follow real AWS responses: lowerCamel member paths
(``sAMLAssertion``), ``tags.N.member.key`` for list elements, pattern before length,
``Value null`` for missing members and no value echoed for sensitive members.
"""

from __future__ import annotations

import pytest

from tessera import errors
from tessera.protocol.query import parse_query_request

ROLE_ARN = "arn:aws:iam::123456789012:role/demo"
STS = [("Version", "2011-06-15")]
IAM = [("Version", "2010-05-08")]

CASES = [
    (
        "sts",
        [("Action", "AssumeRole"), ("RoleArn", ROLE_ARN), ("RoleSessionName", "a b")],
        "1 validation error detected: Value 'a b' at 'roleSessionName' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: [\w+=,.@-]*",
    ),
    (
        "sts",
        [("Action", "AssumeRole"), ("RoleArn", ROLE_ARN), ("RoleSessionName", "s" * 65)],
        f"1 validation error detected: Value '{'s' * 65}' at 'roleSessionName' failed to satisfy constraint: "
        "Member must have length less than or equal to 64",
    ),
    (
        "sts",
        [("Action", "AssumeRole"), ("RoleArn", ROLE_ARN), ("RoleSessionName", "s")],
        "1 validation error detected: Value 's' at 'roleSessionName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 2",
    ),
    (
        "sts",
        [("Action", "AssumeRole"), ("RoleArn", ROLE_ARN)],
        "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null",
    ),
    (
        "sts",
        [("Action", "AssumeRole"), ("RoleArn", ""), ("RoleSessionName", "ok")],
        "2 validation errors detected: Value '' at 'roleArn' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: "
        r"[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+; "
        "Value '' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20",
    ),
    (
        "sts",
        [("Action", "AssumeRole"), ("RoleArn", ROLE_ARN), ("RoleSessionName", "ok"), ("DurationSeconds", "899")],
        "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value greater than or equal to 900",
    ),
    (
        "sts",
        [("Action", "GetSessionToken"), ("DurationSeconds", "129601")],
        "1 validation error detected: Value '129601' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value less than or equal to 129600",
    ),
    (
        "sts",
        [("Action", "AssumeRole")],
        "2 validation errors detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null; "
        "Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null",
    ),
    (
        "sts",
        [("Action", "AssumeRoleWithSAML"), ("RoleArn", ROLE_ARN), ("PrincipalArn", ROLE_ARN), ("SAMLAssertion", "abc")],
        "1 validation error detected: Value at 'sAMLAssertion' failed to satisfy constraint: "
        "Member must have length greater than or equal to 4",
    ),
    (
        "sts",
        [
            ("Action", "AssumeRole"),
            ("RoleArn", ROLE_ARN),
            ("RoleSessionName", "ok"),
            *[(f"TransitiveTagKeys.member.{i}", f"k{i}") for i in range(1, 52)],
        ],
        "1 validation error detected: Value '[" + ", ".join(f"k{i}" for i in range(1, 52)) + "]' "
        "at 'transitiveTagKeys' failed to satisfy constraint: Member must have length less than or equal to 50",
    ),
    (
        "iam",
        [
            ("Action", "CreateUser"),
            ("UserName", "bob"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "a"),
            ("Tags.member.2.Key", "cost"),
            ("Tags.member.2.Value", "x!y"),
        ],
        "1 validation error detected: Value 'x!y' at 'tags.2.member.value' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*",
    ),
    (
        "iam",
        [("Action", "CreateUser"), ("UserName", "bob"), ("Tags.member.1.Value", "a")],
        "1 validation error detected: Value null at 'tags.1.member.key' failed to satisfy constraint: Member must not be null",
    ),
    (
        "iam",
        [("Action", "UpdateAccessKey"), ("AccessKeyId", "AKIAIOSFODNN7EXAMPLE"), ("Status", "Enabled")],
        "1 validation error detected: Value 'Enabled' at 'status' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Active, Inactive, Expired]",
    ),
    (
        "iam",
        [("Action", "ChangePassword"), ("OldPassword", ""), ("NewPassword", "new\x01")],
        r"3 validation errors detected: Value at 'oldPassword' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+; "
        r"Value at 'oldPassword' failed to satisfy constraint: Member must have length greater than or equal to 1; "
        r"Value at 'newPassword' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+",
    ),
    (
        "iam",
        [("Action", "ListUsers"), ("MaxItems", "0"), ("PathPrefix", "no-slash")],
        r"2 validation errors detected: Value 'no-slash' at 'pathPrefix' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: \u002F[\u0021-\u007F]*; "
        "Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1",
    ),
    (
        "iam",
        [("Action", "CreateAccountAlias"), ("AccountAlias", "my--alias")],
        "1 validation error detected: Value 'my--alias' at 'accountAlias' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: ^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$",
    ),
    (
        "iam",
        [("Action", "CreateUser"), ("UserName", "bob"), ("Tags", "")],
        None,
    ),
]


@pytest.mark.parametrize(
    ("service", "form", "message"),
    CASES,
    ids=[
        "pattern",
        "too-long",
        "too-short",
        "missing-required",
        "pattern-then-length",
        "below-minimum",
        "above-maximum",
        "several-missing-in-model-order",
        "sensitive-not-echoed-and-lower-camel",
        "list-too-long",
        "list-element-path",
        "missing-member-of-list-element",
        "enum",
        "sensitive-password",
        "members-in-model-order",
        "java-lookahead",
        "empty-optional-list-is-valid",
    ],
)
def test_validation_error_message(service: str, form: list[tuple[str, str]], message: str | None) -> None:
    full_form = (STS if service == "sts" else IAM) + form

    if message is None:
        parse_query_request(service, full_form)
        return
    with pytest.raises(errors.ValidationError) as raised:
        parse_query_request(service, full_form)

    assert raised.value.message == message
    assert (raised.value.code, raised.value.status) == ("ValidationError", 400)


@pytest.mark.parametrize(
    ("value", "valid"),
    [("caf\u00e9", True), ("\u65e5\u672c", True), ("a\u00a0b", True), ("12", True), ("a!b", False), ("\U0001f600", False)],
    ids=["latin-letter", "cjk", "no-break-space", "digits", "punctuation", "emoji"],
)
def test_tag_values_use_unicode_categories_like_java(value: str, valid: bool) -> None:
    form = [*IAM, ("Action", "TagUser"), ("UserName", "bob"), ("Tags.member.1.Key", "k"), ("Tags.member.1.Value", value)]

    if valid:
        assert parse_query_request("iam", form)[1]["Tags"] == [{"Key": "k", "Value": value}]
    else:
        with pytest.raises(errors.ValidationError):
            parse_query_request("iam", form)


@pytest.mark.parametrize("name", ["caf\u00e9", "\u0661\u0662"], ids=["accented-letter", "arabic-digits"])
def test_word_class_is_ascii_only_like_java(name: str) -> None:
    with pytest.raises(errors.ValidationError):
        parse_query_request("iam", [*IAM, ("Action", "CreateUser"), ("UserName", name)])
