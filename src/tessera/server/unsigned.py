"""Which unsigned requests are worth decoding: the pre-decode guard of the calls AWS
serves without a signature (``OperationSpec.unsigned``: AssumeRoleWithWebIdentity,
AssumeRoleWithSAML).

Anyone can send an unsigned request, so one is decoded only when its raw text could be
such a call: its ``Action=`` item names one, it is no longer than the largest legal one
and it has no more ``&``-separated items than a legal one can use. Each check is a scan
of the raw bytes (``bytes.count``, ``bytes.find``); nothing is percent-decoded before all
three hold.

The bounds are computed once from botocore's STS model, per unsigned operation, and the
largest is kept:

- bytes: for each member, its name percent-encoded (3 bytes a character), ``=``, its
  longest value percent-encoded and ``&``. A value's longest encoding is its ``max``
  length times 3 (``%XX``) times the most UTF-8 bytes one character allowed by the
  member's ``pattern`` takes (4 without a pattern). The credentials themselves,
  ``SAMLAssertion`` (base64) and ``WebIdentityToken`` (a JWT, base64url and dots), are
  ASCII text: a character of theirs counts 3 bytes. Numbers count 20 characters. A list
  counts ``MAX_LIST_MEMBERS`` members (``PolicyArns``: at most 10, docs/sts.md).
- items: ``Action``, ``Version``, one per scalar member, ``MAX_LIST_MEMBERS`` per list
  (plus its empty form ``Name=``), and ``EXTRA_ITEMS`` unknown parameters (AWS ignores
  those; clients add none).

The bounds are some 610 KB (AssumeRoleWithSAML) and 35 items (AssumeRoleWithWebIdentity). A 1 MiB body of 100 000
tiny parameters, which took a second of CPU to decode twice, is refused
``MissingAuthenticationToken`` after a count of its ``&``."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from botocore.model import Shape

from tessera.protocol.model import service_spec
from tessera.services.operations import registered

MAX_LIST_MEMBERS = 10
"""``PolicyArns``, the one list of the unsigned operations, takes at most 10 ARNs."""
EXTRA_ITEMS = 16
"""Unknown parameters a legal unsigned request may carry (ignored, as AWS does)."""
ASCII_MEMBERS = frozenset({"SAMLAssertion", "WebIdentityToken"})
"""Members whose text is base64 or a JWT: ASCII whatever the model's pattern says."""
NUMBER_CHARS = 20
ENCODED = 3  # bytes of one percent-encoded byte


@dataclass(frozen=True)
class UnsignedBounds:
    names: frozenset[str]  # the operations served unsigned
    max_bytes: int  # raw query + body
    max_items: int  # ``&``-separated items of the raw query and body together
    markers: tuple[bytes, ...]  # ``&Action=NAME&`` for each


@functools.cache
def unsigned_bounds() -> UnsignedBounds:
    names = sorted(spec.name for spec in registered() if spec.unsigned and spec.service == "sts")
    spec = service_spec("sts")
    max_bytes = max_items = 0
    for name in names:
        model = spec.operation(name)
        size, items = _request_bounds(name, model.input_shape if model is not None else None)
        max_bytes, max_items = max(max_bytes, size), max(max_items, items)
    markers = tuple(f"&Action={name}&".encode() for name in names)
    return UnsignedBounds(frozenset(names), max_bytes, max_items, markers)


def may_be_unsigned(raw_query: str, body: bytes) -> bool:
    """Whether an unsigned Query request may name an operation served unsigned: cheap
    scans only, before anything of it is decoded."""
    bounds = unsigned_bounds()
    if len(raw_query) + len(body) > bounds.max_bytes:
        return False
    items = (raw_query.count("&") + 1 if raw_query else 0) + (body.count(b"&") + 1 if body else 0)
    if items > bounds.max_items:
        return False
    for data in (raw_query.encode("utf-8", "surrogateescape"), body):
        if data:
            framed = b"&" + data + b"&"
            if any(marker in framed for marker in bounds.markers):
                return True
    return False


def _request_bounds(operation: str, shape: Shape | None) -> tuple[int, int]:
    size = _item_bytes("Action", len(operation)) + _item_bytes("Version", len("2011-06-15"))
    items = 2 + EXTRA_ITEMS
    members = getattr(shape, "members", {}) if shape is not None else {}
    for member_name, member in members.items():
        if member.type_name == "list":
            entry = f"{member_name}.member.{MAX_LIST_MEMBERS}"
            for element_name, element in getattr(member.member, "members", {"": member.member}).items():
                key = f"{entry}.{element_name}" if element_name else entry
                size += MAX_LIST_MEMBERS * _item_bytes(key, _value_bytes(element_name, element))
            size += _item_bytes(member_name, 0)
            items += MAX_LIST_MEMBERS * max(1, len(getattr(member.member, "members", {}))) + 1
        else:
            size += _item_bytes(member_name, _value_bytes(member_name, member))
            items += 1
    # ``&`` joining the unknown items and their (short) names count in the bytes too
    return size + EXTRA_ITEMS * _item_bytes("X" * 16, 16), items


def _item_bytes(name: str, value_bytes: int) -> int:
    return len(name) * ENCODED + 1 + value_bytes + 1


def _value_bytes(name: str, shape: Shape) -> int:
    if shape.type_name in ("integer", "long", "float", "double", "boolean"):
        return NUMBER_CHARS
    length = int(shape.metadata.get("max", 0)) or 0
    if name in ASCII_MEMBERS:
        return length * ENCODED
    return length * ENCODED * _utf8_bytes(shape.metadata.get("pattern"))


_CODE_POINT = re.compile(r"\\u([0-9A-Fa-f]{4,6})")


def _utf8_bytes(pattern: str | None) -> int:
    """The most UTF-8 bytes one character a model pattern allows can take (4 if the
    pattern names no code points: ``\\w``, ``.``, or no pattern)."""
    points = [int(hex_digits, 16) for hex_digits in _CODE_POINT.findall(pattern or "")]
    if not points or any(point > 0x10FFFF for point in points):
        return 4
    top = max(points)
    return 1 if top < 0x80 else 2 if top < 0x800 else 3 if top < 0x10000 else 4
