"""A policy's text with the statements the simulator matched marked: each
``MatchedStatements`` span (1-based line and column, both ends inclusive, lines split
at ``\\n``, as IAM reports them) is wrapped in ``<mark>``; everything else is escaped."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from markupsafe import Markup, escape


def offset(text: str, line: int, column: int) -> int | None:
    """The index in ``text`` of a 1-based (line, column), or None if the text has none."""
    if line < 1 or column < 1:
        return None
    start = 0
    for _ in range(line - 1):
        found = text.find("\n", start)
        if found < 0:
            return None
        start = found + 1
    end = text.find("\n", start)
    index = start + column - 1
    return index if index < (len(text) if end < 0 else end + 1) else None


def spans(text: str, statements: Iterable[Mapping[str, Any]]) -> list[tuple[int, int]]:
    """The (start, end-exclusive) offsets of the matched statements, sorted, overlaps
    merged; a position outside the text is left out."""
    found: list[tuple[int, int]] = []
    for statement in statements:
        start_at, end_at = statement.get("StartPosition") or {}, statement.get("EndPosition") or {}
        start = offset(text, int(start_at.get("Line", 0)), int(start_at.get("Column", 0)))
        end = offset(text, int(end_at.get("Line", 0)), int(end_at.get("Column", 0)))
        if start is not None and end is not None and start <= end:
            found.append((start, end + 1))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlight(text: str, statements: Iterable[Mapping[str, Any]]) -> Markup:
    """``text`` escaped, with each matched statement in ``<mark>``."""
    parts: list[str] = []
    at = 0
    for start, end in spans(text, statements):
        parts.append(escape(text[at:start]))
        parts.append(Markup("<mark>{}</mark>").format(text[start:end]))
        at = end
    parts.append(escape(text[at:]))
    return Markup("").join(parts)
