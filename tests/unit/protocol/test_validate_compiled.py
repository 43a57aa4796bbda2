"""``find_violations`` answers valid input from compiled per-shape validators: each
constraint they check must still be found. For every operation of the JSON and Query
models, a valid example has no violation, and each single constraint broken in it is
reported."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.model import Shape
from shape_examples import example_value

from tessera.protocol.model import compile_pattern, service_spec
from tessera.protocol.validate import find_violations

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
