"""``tessera.arn.Arn``: the one place an ARN is split into its fields."""

from __future__ import annotations

import pytest

from tessera.arn import Arn


def test_fields() -> None:
    text = "arn:aws:iam::123456789012:role/path/to/name"
    arn = Arn.parse(text)
    assert arn == Arn("aws", "iam", "", "123456789012", "role/path/to/name")
    assert arn is not None
    assert (arn.resource_type, arn.resource_path, arn.resource_name) == ("role", "/path/to/", "name")


def test_resource_keeps_further_colons() -> None:
    arn = Arn.parse("arn:aws:sqs:us-east-1:123456789012:queue:with:colons")
    assert arn is not None
    assert (arn.region, arn.resource, arn.resource_type, arn.resource_name) == (
        "us-east-1",
        "queue:with:colons",
        "queue:with:colons",
        "queue:with:colons",
    )


@pytest.mark.parametrize(
    ("resource", "kind", "path", "name"),
    [
        ("user/bob", "user", "/", "bob"),
        ("root", "root", "/", "root"),
        ("user/", "user", "/", ""),
        ("user/a/", "user", "/a/", ""),
        ("user//bob", "user", "//", "bob"),
        ("/x", "", "/", "x"),
        ("", "", "/", ""),
    ],
)
def test_resource_type_path_and_name(resource: str, kind: str, path: str, name: str) -> None:
    arn = Arn("aws", "iam", "", "123456789012", resource)
    assert (arn.resource_type, arn.resource_path, arn.resource_name) == (kind, path, name)


@pytest.mark.parametrize("text", ["", "*", "arn", "arn:aws:iam::123456789012", "xrn:aws:iam::123456789012:user/x", "ARN:aws:iam::1:user/x"])
def test_not_an_arn(text: str) -> None:
    assert Arn.parse(text) is None


def test_fields_are_not_judged() -> None:
    assert Arn.parse("arn:::::") == Arn("", "", "", "", "")


def test_any_prefix() -> None:
    assert Arn.parse("xrn:aws:iam::1:user/x", any_prefix=True) == Arn("aws", "iam", "", "1", "user/x")
    assert Arn.parse("xrn:aws:iam::1", any_prefix=True) is None
