"""The service models load once, expose the wire facts, and every pattern compiles."""

from __future__ import annotations

import pytest
from shape_examples import all_patterns, matches, string_matching

from tessera.protocol.json import encode_json_response, resolve_json_operation
from tessera.protocol.model import compile_pattern, service_spec
from tessera.protocol.query import encode_query_response, read_query_params, resolve_query_operation


@pytest.mark.parametrize(
    ("service", "protocol", "version", "namespace", "target_prefix"),
    [
        ("iam", "query", "2010-05-08", "https://iam.amazonaws.com/doc/2010-05-08/", None),
        ("sts", "query", "2011-06-15", "https://sts.amazonaws.com/doc/2011-06-15/", None),
        ("organizations", "json", "2016-11-28", None, "AWSOrganizationsV20161128"),
    ],
    ids=["iam", "sts", "organizations"],
)
def test_service_spec_exposes_wire_facts(
    service: str, protocol: str, version: str, namespace: str | None, target_prefix: str | None
) -> None:
    spec = service_spec(service)

    assert (spec.protocol, spec.api_version, spec.xml_namespace, spec.target_prefix) == (
        protocol,
        version,
        namespace,
        target_prefix,
    )


def test_service_spec_is_loaded_once() -> None:
    assert service_spec("iam") is service_spec("iam")


@pytest.mark.parametrize(
    ("service", "operation", "input_shape"),
    [
        ("sts", "AssumeRole", "AssumeRoleRequest"),
        ("iam", "CreateUser", "CreateUserRequest"),
        ("organizations", "CreateAccount", "CreateAccountRequest"),
    ],
    ids=["sts", "iam", "organizations"],
)
def test_operation_resolves_by_exact_name(service: str, operation: str, input_shape: str) -> None:
    spec = service_spec(service)

    model = spec.operation(operation)

    assert model is not None and model.input_shape.name == input_shape
    assert spec.operation(operation.lower()) is None
    assert spec.operation("NoSuchOperation") is None


def test_unknown_service_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown service"):
        service_spec("s3")


PATTERNS = sorted({p for s in ("iam", "sts", "organizations") for p in all_patterns(service_spec(s).model)})


@pytest.mark.parametrize("pattern", PATTERNS)
def test_every_model_pattern_compiles_and_matches_a_generated_example(pattern: str) -> None:
    compiled = compile_pattern(pattern)

    assert compiled is compile_pattern(pattern)
    assert compiled.fullmatch(string_matching(pattern)) is not None


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (r"[\w+=,.@-]*", "alice@example.com", True),
        (r"[\w+=,.@-]*", "caf\u00e9", False),
        (r"[\d]+", "\u0661", False),
        (r"[\w+=,.@-]*", "a b", False),
        (r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+", "\u65e5\u672c \u00e9 \u2167", True),
        (r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+", "a*b", False),
        (r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$", "team:dev", True),
        (r"^o-[a-z0-9]{10,32}$", "o-abcdefghij\n", False),
        (r"\d{12}", "1234567890123", False),
        (
            r"[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+",
            "arn:aws:iam::123456789012:role/\u00e9",
            True,
        ),
    ],
    ids=[
        "word-ascii",
        "word-not-unicode",
        "digit-not-unicode",
        "full-match-required",
        "unicode-categories",
        "category-excludes-symbols",
        "anchored-category-group",
        "dollar-does-not-skip-newline",
        "no-partial-match",
        "printable-unicode",
    ],
)
def test_patterns_match_with_java_semantics(pattern: str, text: str, expected: bool) -> None:
    assert matches(pattern, text) is expected


def test_unsupported_unicode_category_is_reported() -> None:
    with pytest.raises(ValueError, match="unsupported Unicode category"):
        compile_pattern(r"[\p{IsAlphabetic}]+")


def test_an_operation_resolves_to_one_object_that_every_stage_reads() -> None:
    form = [("Action", "GetUser"), ("Version", "2010-05-08"), ("UserName", "alice")]
    resolved = resolve_query_operation("iam", form)
    assert resolved is service_spec("iam").resolve("GetUser")
    assert (resolved.name, resolved.service) == ("GetUser", "iam")
    assert read_query_params(resolved, form) == {"UserName": "alice"}
    assert encode_query_response(resolved, {}, "r").startswith(b'<GetUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">')
    described = resolve_json_operation("AWSOrganizationsV20161128.DescribeOrganization")
    assert described is service_spec("organizations").resolve("DescribeOrganization")
    assert encode_json_response(described, None) == b"{}"
    assert service_spec("iam").resolve("NoSuchOperation") is None
