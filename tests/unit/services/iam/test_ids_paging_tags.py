"""The pure parts of the IAM service: unique ids, pagination markers, tag rules."""

from __future__ import annotations

import pytest

from tessera.errors import InvalidInputException, LimitExceededException
from tessera.services.iam.paging import decode_marker, encode_marker, paginate
from tessera.services.iam.tags import (
    merge_tags,
    remove_tags,
    request_tag_context,
    resource_tag_context,
    validate_request_tags,
)
from tessera.services.ids import ALPHABET, new_unique_id


@pytest.mark.parametrize("prefix", ["AIDA", "AGPA", "AROA", "ANPA", "AIPA"])
def test_unique_id_is_prefix_plus_17_base32_characters(prefix: str) -> None:
    value = new_unique_id(prefix)
    assert value.startswith(prefix)
    assert len(value) == 21
    assert set(value[4:]) <= set(ALPHABET)


def test_unique_ids_do_not_repeat() -> None:
    assert len({new_unique_id("AIDA") for _ in range(2000)}) == 2000


@pytest.mark.parametrize("prefix", ["AID", "aida", "AID1", "AIDAX"], ids=["short", "lower", "digit", "long"])
def test_unique_id_refuses_malformed_prefix(prefix: str) -> None:
    with pytest.raises(ValueError, match="unique-id prefix must be four upper-case letters"):
        new_unique_id(prefix)


def test_pages_walk_every_item_once_in_key_order() -> None:
    items = [f"user{i:02d}" for i in range(25)]
    seen, marker = [], None
    while True:
        page = paginate(list(reversed(items)), str, marker, 10)
        seen += page.items
        if not page.is_truncated:
            break
        marker = page.next_marker
    assert seen == items


def test_marker_resumes_after_items_deleted_between_pages() -> None:
    items = [f"k{i}" for i in range(6)]
    first = paginate(items, str, None, 3)
    remaining = [i for i in items if i != "k4"]
    second = paginate(remaining, str, first.next_marker, 3)
    assert first.items == ["k0", "k1", "k2"]
    assert second.items == ["k3", "k5"] and not second.is_truncated


def test_default_page_is_100_items() -> None:
    page = paginate([f"{i:04d}" for i in range(150)], str)
    assert len(page.items) == 100 and page.is_truncated


def test_output_omits_marker_when_not_truncated() -> None:
    assert paginate(["a"], str).output("Users") == {"Users": ["a"], "IsTruncated": False}


def test_marker_round_trips_and_is_opaque() -> None:
    marker = encode_marker("bob|AIDA")
    assert "bob" not in marker
    assert decode_marker(marker) == "bob|AIDA"


@pytest.mark.parametrize("marker", ["not base64!", "Ym9i"], ids=["garbage", "foreign-base64"])
def test_invalid_marker_is_invalid_input(marker: str) -> None:
    with pytest.raises(InvalidInputException):
        paginate(["a"], str, marker)


def test_request_tags_refuse_reserved_prefix() -> None:
    with pytest.raises(InvalidInputException):
        validate_request_tags([{"Key": "aws:cost", "Value": "x"}])


def test_request_tags_refuse_keys_differing_only_in_case() -> None:
    with pytest.raises(InvalidInputException, match="case insensitive"):
        validate_request_tags([{"Key": "Dept", "Value": "a"}, {"Key": "dept", "Value": "b"}])


def test_request_tags_allow_fifty_and_refuse_fifty_one() -> None:
    tags = [{"Key": f"k{i}", "Value": ""} for i in range(51)]
    assert len(validate_request_tags(tags[:50])) == 50
    with pytest.raises(LimitExceededException):
        validate_request_tags(tags)


def test_merge_replaces_same_key_case_insensitively_and_caps_at_fifty() -> None:
    merged = merge_tags([{"Key": "Dept", "Value": "a"}], [{"Key": "dept", "Value": "b"}], "user bob")
    assert merged == [{"Key": "dept", "Value": "b"}]
    existing = [{"Key": f"k{i}", "Value": ""} for i in range(50)]
    with pytest.raises(LimitExceededException):
        merge_tags(existing, [{"Key": "extra", "Value": ""}], "user bob")


def test_remove_ignores_absent_keys() -> None:
    assert remove_tags([{"Key": "A", "Value": "1"}, {"Key": "b", "Value": "2"}], ["a", "zzz"]) == [{"Key": "b", "Value": "2"}]


def test_tag_condition_keys() -> None:
    tags = [{"Key": "team", "Value": "blue"}]
    assert request_tag_context(tags) == {"aws:RequestTag/team": "blue", "aws:TagKeys": ["team"]}
    assert request_tag_context([]) == {}
    assert resource_tag_context(tags) == {"aws:ResourceTag/team": "blue", "iam:ResourceTag/team": "blue"}
