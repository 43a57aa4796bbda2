"""``NextToken``/``MaxResults`` pagination for Organizations list operations.

The token is opaque to clients: the operation name and the offset of the next item,
base64url-encoded. A token minted by another operation, or not minted by us, is an
``InvalidInputException`` with reason ``INVALID_NEXT_TOKEN``. ``MaxResults`` is 1..20
in this API (the edge validates it); without it a page holds 20 items.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from tessera.services.organizations.errors import invalid_input

T = TypeVar("T")
DEFAULT_PAGE = 20


def encode_token(operation: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{operation}:{offset}".encode()).decode()


def decode_token(operation: str, token: str) -> int:
    try:
        name, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        value = int(offset)
    except (binascii.Error, UnicodeError, ValueError) as error:
        raise bad_token() from error
    if name != operation or value < 0:
        raise bad_token()
    return value


def bad_token() -> Exception:
    return invalid_input("INVALID_NEXT_TOKEN", "The specified NextToken is not valid.")


def page(operation: str, items: Sequence[T], params: Mapping[str, Any], result_key: str, size: int | None = None) -> dict[str, Any]:
    """``{result_key: items of this page}`` plus ``NextToken`` when more remain."""
    token = params.get("NextToken")
    start = decode_token(operation, token) if token else 0
    limit = int(params.get("MaxResults") or size or DEFAULT_PAGE)
    end = start + limit
    out: dict[str, Any] = {result_key: list(items[start:end])}
    if end < len(items):
        out["NextToken"] = encode_token(operation, end)
    return out
