"""IAM's Marker/MaxItems pagination (https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListUsers.html).

A marker is opaque to clients. Ours is the sort key of the first item of the next page,
base64url-encoded: resuming from a key rather than an offset stays correct when
entities are created or deleted between two pages (nothing is skipped or repeated
except the items that changed).
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tessera.errors import InvalidInputException

T = TypeVar("T")

DEFAULT_MAX_ITEMS = 100
_PREFIX = "t1:"


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_marker: str | None

    @property
    def is_truncated(self) -> bool:
        return self.next_marker is not None

    def output(self, member: str, render: Callable[[T], Any] | None = None) -> dict[str, Any]:
        """The output members of a paginated IAM response: ``member``, IsTruncated, Marker."""
        out: dict[str, Any] = {
            member: [render(i) for i in self.items] if render else list(self.items),
            "IsTruncated": self.is_truncated,
        }
        if self.next_marker is not None:
            out["Marker"] = self.next_marker
        return out


def encode_marker(key: str) -> str:
    return base64.urlsafe_b64encode((_PREFIX + key).encode("utf-8")).decode("ascii")


def decode_marker(marker: str) -> str:
    """The sort key a marker resumes from; InvalidInput when it is not one of ours."""
    try:
        text = base64.urlsafe_b64decode(marker.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as e:
        raise InvalidInputException("Invalid Marker.") from e
    if not text.startswith(_PREFIX):
        raise InvalidInputException("Invalid Marker.")
    return text[len(_PREFIX) :]


def paginate(
    items: Sequence[T],
    key: Callable[[T], str],
    marker: str | None = None,
    max_items: int | None = None,
) -> Page[T]:
    """One page of ``items`` ordered by ``key`` (keys must be unique), from ``marker``."""
    limit = max_items or DEFAULT_MAX_ITEMS
    ordered = sorted(items, key=key)
    if marker:
        start_key = decode_marker(marker)
        ordered = [i for i in ordered if key(i) >= start_key]
    page = ordered[:limit]
    next_marker = encode_marker(key(ordered[limit])) if len(ordered) > limit else None
    return Page(page, next_marker)


def ordered_page(pairs: Iterable[tuple[str, T]], max_items: int | None = None) -> Page[T]:
    """One page from ``(sort key, item)`` pairs already in key order and already past
    the marker: reads at most one item beyond the page (so a long, presorted source
    costs what the page costs)."""
    limit = max_items or DEFAULT_MAX_ITEMS
    taken = list(itertools.islice(pairs, limit + 1))
    next_marker = encode_marker(taken[limit][0]) if len(taken) > limit else None
    return Page([item for _, item in taken[:limit]], next_marker)
