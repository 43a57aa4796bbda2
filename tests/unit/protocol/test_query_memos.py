"""What the Query protocol reads once per operation: the resolved operation by name, an
input without members (no tree of the form built), and GetCallerIdentity's answer text up
to the request id, kept per set of values; each gives what the general path gives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera import errors
from tessera.protocol import query
from tessera.protocol.model import service_spec
from tessera.protocol.query import KEPT_ANSWERS, encode_query_response, read_query_params
from tessera.protocol.xml import escape_text
from tessera.service_models import resolve_operation, service_model

QUERY_SERVICES = ("iam", "sts")


@pytest.mark.parametrize("service", [*QUERY_SERVICES, "organizations", "tessera-authz", "cloudtrail"])
def test_a_service_resolves_each_operation_to_its_one_object(service: str) -> None:
    spec = service_spec(service)
    for name in sorted(spec.operation_names):
        resolved = spec.resolve(name)
        assert resolved is resolve_operation(service, name) and resolved is spec.resolve(name)
        assert resolved is not None and resolved.name == name == service_model(service).operation_model(name).name
    assert spec.resolve("NoSuchOperation") is None and spec.resolve(sorted(spec.operation_names)[0].lower()) is None
    assert set(spec._resolved) <= spec.operation_names  # bounded by the model


def _read_reference(operation: Any, form: list[tuple[str, str]]) -> dict[str, Any]:
    """``read_query_params`` by the general path: the form's tree, then validation."""
    shape = operation.model.input_shape
    params = query._read_structure(shape, query._build_tree(form), "") if shape is not None else {}
    violations = query.find_violations(shape, params)
    if violations:
        raise errors.ValidationError(query.validation_message(violations))
    return params


def _memberless(service: str) -> list[str]:
    model = service_model(service)
    found = []
    for name in sorted(model.operation_names):
        shape = model.operation_model(name).input_shape
        if shape is None or not shape.members:
            found.append(name)
    return found


@pytest.mark.parametrize("service", QUERY_SERVICES)
def test_an_input_without_members_reads_as_the_general_path_reads_it(service: str) -> None:
    names = _memberless(service)
    assert service != "sts" or "GetCallerIdentity" in names
    form = [("Action", "X"), ("Version", "v"), ("X-Amz-Signature", "ab"), ("Tags.member.1.Key", "k"), ("A.b", "")]
    for name in names:
        operation = service_spec(service).resolve(name)
        assert operation is not None
        params = read_query_params(operation, form)
        assert params == _read_reference(operation, form) == {}
        assert params is not read_query_params(operation, form)  # a fresh dict each time


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["RoleArn", "RoleSessionName", "DurationSeconds", "Tags.member.1.Key", "X"]), st.text(max_size=12)),
        max_size=6,
    )
)
def test_an_input_with_members_reads_as_the_general_path_reads_it(form: list[tuple[str, str]]) -> None:
    operation = service_spec("sts").resolve("AssumeRole")
    assert operation is not None

    def outcome(read: Any) -> Any:
        try:
            return read(operation, form)
        except errors.ValidationError as error:
            return ("ValidationError", error.message)

    assert outcome(read_query_params) == outcome(_read_reference)


def _written(result: dict[str, Any], request_id: str) -> bytes:
    """GetCallerIdentity's answer as the general writer writes it."""
    operation = service_spec("sts").resolve("GetCallerIdentity")
    assert operation is not None
    envelope = query._envelope(operation)
    out = [envelope.head]
    assert envelope.write_result is not None
    envelope.write_result(out, result)
    out += [envelope.middle, escape_text(request_id), envelope.tail]
    return "".join(out).encode("utf-8")


_value = st.one_of(st.none(), st.text(alphabet='a<&>\r"é:/1', max_size=8), st.integers(0, 3), st.booleans(), st.floats(0, 2))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.fixed_dictionaries({"UserId": _value, "Account": _value, "Arn": _value}), min_size=1, max_size=4),
    st.text(alphabet="0123456789abcdef-<&", max_size=40),
)
def test_get_caller_identity_answers_as_written_whatever_was_kept(results: list[dict[str, Any]], request_id: str) -> None:
    operation = service_spec("sts").resolve("GetCallerIdentity")
    assert operation is not None
    for result in results + results:  # the second time from what was kept
        assert encode_query_response(operation, result, request_id) == _written(result, request_id)


def test_equal_values_of_other_types_are_never_kept() -> None:
    operation = service_spec("sts").resolve("GetCallerIdentity")
    assert operation is not None
    for value in (1, True, 1.0):  # equal keys, different text
        assert encode_query_response(operation, {"Account": value}, "r") == _written({"Account": value}, "r")


def test_kept_answers_are_bounded() -> None:
    operation = service_spec("sts").resolve("GetCallerIdentity")
    assert operation is not None
    kept = query._envelope(operation).kept
    assert kept is not None
    for i in range(KEPT_ANSWERS * 2 + 5):
        result = {"UserId": f"AIDA{i}", "Account": "111111111111", "Arn": f"arn:aws:iam::111111111111:user/u{i}"}
        assert encode_query_response(operation, result, "r") == _written(result, "r")
        assert len(kept) <= KEPT_ANSWERS


def test_only_listed_operations_keep_answers() -> None:
    for service in QUERY_SERVICES:
        for name in service_spec(service).operation_names:
            operation = service_spec(service).resolve(name)
            assert operation is not None
            if (service, name) != ("sts", "GetCallerIdentity"):
                assert query._envelope(operation).kept is None
