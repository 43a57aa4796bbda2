"""Build valid example values from botocore shapes, for the oracle tests.

``example_value(shape)`` fills every member of a structure (optional ones too), one
or more elements per list, one entry per map, and strings that satisfy the shape's
pattern, length and enum. Strings for patterns are generated from the pattern itself
(parsed with the stdlib's regex parser), preferring readable characters, so the
examples exercise the real constraints rather than a hand-kept table.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re._constants as sre  # the stdlib's own regex AST; tests only
import re._parser as sre_parse
from typing import Any

from botocore.model import Shape

from tessera.protocol.model import compile_pattern

EXAMPLE_TIME = dt.datetime(2024, 5, 1, 12, 34, 56, tzinfo=dt.UTC)
PREFERRED_CHARS = "aZ1/-_.:@ é"
MAX_DEPTH = 6


def example_value(shape: Shape, depth: int = 0, seed: int = 0) -> Any:
    """A valid value for ``shape``; ``seed`` varies strings between siblings."""
    kind = shape.type_name
    if kind == "structure":
        if depth > MAX_DEPTH:
            return {}
        return {name: example_value(member, depth + 1, seed + i) for i, (name, member) in enumerate(shape.members.items())}
    if kind == "list":
        count = max(2, shape.metadata.get("min", 0))
        count = min(count, shape.metadata.get("max", count))
        return [example_value(shape.member, depth + 1, seed + i) for i in range(count)]
    if kind == "map":
        key = example_value(shape.key, depth + 1, seed)
        return {key: example_value(shape.value, depth + 1, seed + 1)}
    if kind == "string":
        return example_string(shape, seed)
    if kind in ("integer", "long"):
        low, high = shape.metadata.get("min", 7), shape.metadata.get("max")
        return low if high is None else min(low, high)
    if kind == "boolean":
        return seed % 2 == 0
    if kind == "timestamp":
        return EXAMPLE_TIME
    if kind == "blob":
        return b"\x00\x01 binary \xff"
    if kind in ("float", "double"):
        return 1.5
    raise AssertionError(f"no example for shape type {kind}")


def example_string(shape: Shape, seed: int = 0) -> str:
    enum = shape.metadata.get("enum")
    if enum:
        return enum[seed % len(enum)]
    low, high = shape.metadata.get("min", 1), shape.metadata.get("max", 10_000)
    pattern = shape.metadata.get("pattern")
    if pattern is None:
        text = f"value-{seed}-" + "x" * low
        return text[: max(low, min(high, len(text)))]
    return string_matching(pattern, low, high)


@functools.cache
def string_matching(pattern: str, low: int = 0, high: int = 10_000) -> str:
    """The first generated string that fully matches ``pattern`` with length in [low, high]."""
    compiled = compile_pattern(pattern)
    tree = sre_parse.parse(compiled.pattern, compiled.flags)
    for repeat in [*range(1, 65), low, min(high, 4096)]:
        text = _generate(tree, repeat)
        if low <= len(text) <= high and compiled.fullmatch(text):
            return text
    raise AssertionError(f"could not generate a string for {pattern!r} within [{low}, {high}]")


def _generate(nodes: Any, repeat: int) -> str:
    out: list[str] = []
    for op, arg in nodes:
        if op is sre.LITERAL:
            out.append(chr(arg))
        elif op is sre.NOT_LITERAL:
            out.append("a" if chr(arg) != "a" else "b")
        elif op is sre.ANY:
            out.append("a")
        elif op is sre.IN:
            out.append(_class_member(arg))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, high, body = arg
            count = max(low, min(repeat, high))
            out.extend(_generate(body, repeat) for _ in range(count))
        elif op is sre.SUBPATTERN:
            out.append(_generate(arg[-1], repeat))
        elif op is sre.BRANCH:
            out.append(_generate(arg[1][0], repeat))
        elif op is sre.CATEGORY:
            out.append(_class_member([(op, arg)]))
        # AT (anchors) and ASSERT/ASSERT_NOT (lookarounds) produce no text
    return "".join(out)


def _class_member(items: list[tuple[Any, Any]]) -> str:
    negate = bool(items) and items[0][0] is sre.NEGATE
    body = items[1:] if negate else items
    for char in itertools.chain(PREFERRED_CHARS, map(chr, range(0x21, 0x2000))):
        if _in_class(char, body) != negate:
            return char
    raise AssertionError(f"empty character class {items!r}")


_CATEGORIES = {
    sre.CATEGORY_DIGIT: lambda c: c.isascii() and c.isdigit(),
    sre.CATEGORY_NOT_DIGIT: lambda c: not (c.isascii() and c.isdigit()),
    sre.CATEGORY_WORD: lambda c: c.isascii() and (c.isalnum() or c == "_"),
    sre.CATEGORY_NOT_WORD: lambda c: not (c.isascii() and (c.isalnum() or c == "_")),
    sre.CATEGORY_SPACE: lambda c: c in " \t\n\r\f\v",
    sre.CATEGORY_NOT_SPACE: lambda c: c not in " \t\n\r\f\v",
}


def _in_class(char: str, items: list[tuple[Any, Any]]) -> bool:
    code = ord(char)
    for op, arg in items:
        if op is sre.LITERAL and code == arg:
            return True
        if op is sre.RANGE and arg[0] <= code <= arg[1]:
            return True
        if op is sre.CATEGORY and _CATEGORIES[arg](char):
            return True
    return False


def normalise(value: Any) -> Any:
    """Compare botocore-parsed and original values modulo timestamp representation."""
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def all_patterns(model: Any) -> set[str]:
    """Every distinct ``pattern`` in a botocore ServiceModel."""
    return {model.shape_for(name).metadata["pattern"] for name in model.shape_names if "pattern" in model.shape_for(name).metadata}


def matches(pattern: str, text: str) -> bool:
    return compile_pattern(pattern).fullmatch(text) is not None


__all__ = ["EXAMPLE_TIME", "all_patterns", "example_value", "matches", "normalise", "string_matching"]
