"""``find_violations`` answers valid input from compiled per-shape validators: each
constraint they check must still be found. For every operation of the JSON and Query
models, a valid example has no violation, and each single constraint broken in it is
reported."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.model import Shape
from botocore.serialize import create_serializer
from hypothesis import given, settings
from hypothesis import strategies as st
from shape_examples import example_value

from tessera import errors
from tessera.protocol.json import _decode_body, cloudtrail_invalid, invalid_input, read_json_params, read_json_request
from tessera.protocol.model import compile_pattern, service_spec
from tessera.protocol.validate import find_violations
from tessera.service_models import Operation

SERVICES = ("tessera-authz", "organizations", "iam", "sts")


def _operations() -> Iterator[tuple[str, str]]:
    for service in SERVICES:
        for name in sorted(service_spec(service).operation_names):
            yield service, name


def _broken(shape: Shape, value: Any) -> Iterator[Any]:
    """Copies of ``value`` with one constraint of ``shape`` (or of a member) broken."""
    kind, meta = shape.type_name, shape.metadata
    if kind == "string":
        if meta.get("max") is not None:
            yield "a" * (meta["max"] + 1)
        if meta.get("min", 0) >= 1:
            yield ""
        if meta.get("enum"):
            yield "not-a-member-of-the-enum"
        if meta.get("pattern") and compile_pattern(meta["pattern"]).fullmatch("\x00") is None:
            yield "\x00"
    elif kind == "structure":
        for name in shape.required_members:
            if name in value:
                yield {k: v for k, v in value.items() if k != name}
        for name, member in shape.members.items():
            if name in value:
                for bad in _broken(member, value[name]):
                    yield {**value, name: bad}
    elif kind == "list" and value:
        if meta.get("max") is not None and meta["max"] <= 100:
            yield [value[0]] * (meta["max"] + 1)
        for bad in _broken(shape.member, value[0]):
            yield [bad, *value[1:]]
    elif kind in ("integer", "long") and isinstance(value, int):
        if meta.get("max") is not None:
            yield meta["max"] + 1
        if meta.get("min") is not None:
            yield meta["min"] - 1


@pytest.mark.parametrize(("service", "operation"), list(_operations()))
def test_every_broken_constraint_is_found(service: str, operation: str) -> None:
    shape = service_spec(service).model.operation_model(operation).input_shape
    if shape is None:
        return
    valid = example_value(shape)
    assert find_violations(shape, copy.deepcopy(valid)) == []
    for broken in _broken(shape, valid):
        assert find_violations(shape, broken), broken


JSON_SERVICES = ("tessera-authz", "organizations", "cloudtrail")


def _json_operations() -> Iterator[tuple[str, str]]:
    for service in JSON_SERVICES:
        for name in sorted(service_spec(service).operation_names):
            yield service, name


def _reference(operation: Operation, body: bytes) -> object:
    """``read_json_request`` as two walks: read, then validate."""
    shape = operation.model.input_shape
    try:
        params = read_json_params(shape, _decode_body(body)) if shape is not None else {}
        violations = find_violations(shape, params)
        if violations:
            raise (cloudtrail_invalid if operation.service == "cloudtrail" else invalid_input)(violations[0])
    except errors.TesseraError as error:
        return (type(error), error.code, error.message, getattr(error, "reason", None))
    return params


def _outcome(operation: Operation, body: bytes) -> object:
    try:
        return read_json_request(operation, body)
    except errors.TesseraError as error:
        return (type(error), error.code, error.message, getattr(error, "reason", None))


@pytest.mark.parametrize(("service", "operation"), list(_json_operations()))
def test_reading_and_checking_in_one_walk_answers_as_two(service: str, operation: str) -> None:
    """Valid, broken and mistyped bodies: the same params, or the same first error."""
    resolved = service_spec(service).resolve(operation)
    assert resolved is not None
    shape = resolved.model.input_shape
    if shape is None:
        return
    serializer = create_serializer("json", include_validation=False)
    valid = example_value(shape)
    values = [valid, *_broken(shape, valid)]
    bodies = [serializer.serialize_to_request(value, resolved.model)["body"] for value in values]
    bodies += [b"", b"{}", b'{"a": 1}', json.dumps(dict.fromkeys(shape.members, 7)).encode()]
    bodies += [json.dumps({name: [None, {}]}).encode() for name in shape.members]
    for body in bodies:
        body = body if isinstance(body, bytes) else body.encode()
        assert _outcome(resolved, body) == _reference(resolved, body), body


_PATTERN_TEXT = st.text(alphabet=st.sampled_from("aZ09-_.:/!#\x00 é~"), max_size=80)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_PATTERN_TEXT, _PATTERN_TEXT, _PATTERN_TEXT, _PATTERN_TEXT), min_size=1, max_size=4))
def test_remembered_pattern_checks_answer_as_the_pattern(texts: list[tuple[str, str, str, str]]) -> None:
    """A string's pattern check is remembered per text (short texts only): each body,
    read again once its texts are remembered, answers as the two walks that match
    every time, valid or not, short or long."""
    resolved = service_spec("tessera-authz").resolve("AuthorizeRequest")
    assert resolved is not None
    bodies = []
    for service, method, header, address in texts:
        request = {
            "Method": method,
            "Path": "/",
            "Headers": [{"Name": header, "Value": "v"}, {"Name": "Host", "Value": "h"}],
            "SourceIp": address,
        }
        bodies.append(json.dumps({"Service": service, "Request": request, "Action": "notes:GetNote", "Resource": "*"}).encode())
    for body in [*bodies, *bodies]:
        assert _outcome(resolved, body) == _reference(resolved, body), body
