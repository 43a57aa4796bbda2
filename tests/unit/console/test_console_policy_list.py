"""The policy list's paging and name filter (tessera.console.pages.policies)."""

from __future__ import annotations

import pytest

from tessera.console.pages.policies import named_like, page_of


@pytest.mark.parametrize(
    ("count", "number", "expected"),
    [(0, 1, (1, 1, 0)), (250, 1, (1, 3, 100)), (250, 3, (3, 3, 50)), (250, 9, (3, 3, 50)), (250, 0, (1, 3, 100))],
    ids=["empty", "first", "last", "past-the-end", "before-the-start"],
)
def test_page_of_clamps_the_page_number(count: int, number: int, expected: tuple[int, int, int]) -> None:
    shown = page_of(list(range(count)), number, 100)
    assert (shown.number, shown.pages, len(shown.items)) == expected
    assert shown.total == count


def test_named_like_ignores_case_and_puts_the_exact_name_first() -> None:
    items = [{"PolicyName": name} for name in ("AmazonS3ReadOnlyAccess", "ReadOnlyAccessExtra", "ReadOnlyAccess", "Admin")]
    assert [item["PolicyName"] for item in named_like(items, "readonlyaccess")] == [
        "ReadOnlyAccess",
        "ReadOnlyAccessExtra",
        "AmazonS3ReadOnlyAccess",
    ]
