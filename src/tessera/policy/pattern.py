"""Wildcard patterns (``*``, ``?``) with policy variables, matched without backtracking.

A pattern is tokenised once, at parse time, into elements: literal text, ``STAR``,
``QMARK`` and ``Variable``. A variable is replaced at match time by the request's value
*as literal text*, so a ``*`` inside a tag value never acts as a wildcard (the point of
``${*}``). Matching splits the pattern at each ``*`` into fixed-length segments and
places each segment at its leftmost possible position, which is exact for glob patterns
and never revisits text a previous segment consumed. A segment with ``?`` is found by a
fixed-length regex when short (C steps, at most its length per position) and by the
bit-parallel Shift-And automaton when long (one Python step per character), so no
pattern costs O(pattern × text) Python steps. Patterns with no variables precompute
their segments and pick a fast path (equality, prefix, suffix, "anything").

Sources: IAM User Guide, "IAM JSON policy elements: Action/Resource" (wildcards) and
"IAM policy elements: Variables and tags" (``${...}``, defaults, ``${*}``/``${?}``/``${$}``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final


class _Wildcard:
    """A wildcard element; identity-compared so no literal text can pose as one."""

    __slots__ = ("symbol",)

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol

    def __repr__(self) -> str:
        return self.symbol


STAR: Final = _Wildcard("*")
QMARK: Final = _Wildcard("?")

_FIXED_CHARACTERS = {"*": "*", "?": "?", "$": "$"}


@dataclass(frozen=True, slots=True)
class Variable:
    """``${key}`` or ``${key, 'default'}``; ``key`` is stored lower-cased for lookup."""

    key: str
    name: str
    default: str | None = None


Element = str | Variable | _Wildcard  # a literal run, STAR, QMARK or a Variable

_ANY, _EXACT, _PREFIX, _SUFFIX, _GENERAL = range(5)


def tokenize(text: str, *, variables: bool, wildcards: bool = True) -> tuple[Element, ...]:
    """Split ``text`` into elements. ``variables`` is False for 2008-10-17 policies and
    for elements where AWS does not substitute, so ``${...}`` then stays literal."""
    elements: list[Element] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if variables and char == "$" and text.startswith("${", i):
            close = text.find("}", i + 2)
            parsed = _variable(text[i + 2 : close]) if close != -1 else None
            if parsed is not None:
                if isinstance(parsed, str):
                    literal.append(parsed)
                else:
                    _flush(literal, elements)
                    elements.append(parsed)
                i = close + 1
                continue
        if wildcards and char in "*?":
            _flush(literal, elements)
            elements.append(STAR if char == "*" else QMARK)
        else:
            literal.append(char)
        i += 1
    _flush(literal, elements)
    return tuple(elements)


def _flush(literal: list[str], elements: list[Element]) -> None:
    if literal:
        elements.append("".join(literal))
        literal.clear()


def _variable(body: str) -> Variable | str | None:
    """``*``/``?``/``$`` → that literal character; ``key`` or ``key, 'default'`` → a
    Variable; anything else (``${}``) is not a variable and stays literal text."""
    if body in _FIXED_CHARACTERS:
        return _FIXED_CHARACTERS[body]
    default: str | None = None
    comma = body.find(",")
    if comma != -1:
        rest = body[comma + 1 :].strip()
        if len(rest) < 2 or rest[0] != "'" or rest[-1] != "'" or "'" in rest[1:-1]:
            return None
        default = rest[1:-1]
        body = body[:comma]
    name = body.strip()
    if not name or "{" in name or "'" in name:
        return None
    return Variable(name.lower(), name, default)


def variable_value(value: object) -> str | None:
    """The text a context value contributes to a pattern; None for multivalued or
    unusable values (AWS: multivalued keys cannot be policy variables)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    return None


def format_datetime(value: dt.datetime) -> str:
    """ISO 8601 UTC with a ``Z``, the form AWS uses for ``aws:CurrentTime``."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class Pattern:
    """A compiled wildcard pattern; ``matches`` never raises."""

    __slots__ = ("_kind", "_literal", "_segments", "elements", "source", "variables")

    def __init__(self, source: str, elements: tuple[Element, ...]) -> None:
        self.source = source
        self.elements = elements
        self.variables = tuple(e for e in elements if isinstance(e, Variable))
        self._kind, self._literal = _GENERAL, ""
        self._segments: tuple[Segment, ...] = ()
        if not self.variables:
            self._kind, self._literal = _classify(elements)
            self._segments = _segments(elements)

    @classmethod
    def compile(cls, text: str, *, variables: bool = False, fold_case: bool = False) -> Pattern:
        """Compile ``text``; with ``fold_case`` both sides are lower-cased (actions)."""
        source = text.lower() if fold_case else text
        return cls(text, tokenize(source, variables=variables))

    @property
    def is_literal(self) -> bool:
        return self._kind == _EXACT

    @property
    def literal(self) -> str:
        """The exact text matched, when ``is_literal``."""
        return self._literal

    def matches(self, text: str, context: Mapping[str, object] | None = None) -> bool:
        """True if ``text`` matches; variables resolve from ``context`` (lower-cased
        keys). An unresolvable variable means no match."""
        kind = self._kind
        if kind == _ANY:
            return True
        if kind == _EXACT:
            return text == self._literal
        if kind == _PREFIX:
            return text.startswith(self._literal)
        if kind == _SUFFIX:
            return text.endswith(self._literal)
        if not self.variables:
            return _match_segments(self._segments, text)
        resolved = resolve(self.elements, context or {})
        return resolved is not None and _match_segments(_segments(resolved), text)

    def resolve_literal(self, context: Mapping[str, object]) -> str | None:
        """For wildcard-free use (StringEquals): the text after substitution, or None
        when a variable is unresolvable. ``*``/``?`` are ordinary characters here."""
        if not self.variables:
            return self.source
        resolved = resolve(self.elements, context)
        if resolved is None:
            return None
        return "".join(e.symbol if isinstance(e, _Wildcard) else e for e in resolved)

    def __repr__(self) -> str:
        return f"Pattern({self.source!r})"


def resolve(elements: tuple[Element, ...], context: Mapping[str, object]) -> tuple[str | _Wildcard, ...] | None:
    """Replace each Variable by its value (a literal run); None if any is unresolvable."""
    out: list[str | _Wildcard] = []
    for element in elements:
        if isinstance(element, Variable):
            value = variable_value(context.get(element.key))
            if value is None:
                value = element.default
            if value is None:
                return None
            if value:
                out.append(value)
        else:
            out.append(element)
    return tuple(out)


def _classify(elements: tuple[Element, ...]) -> tuple[int, str]:
    stars = sum(1 for e in elements if e is STAR)
    has_qmark = any(e is QMARK for e in elements)
    literal = "".join(e for e in elements if isinstance(e, str))
    if has_qmark:
        return _GENERAL, ""
    if stars == 0:
        return _EXACT, literal
    if elements == (STAR,):
        return _ANY, ""
    if stars == 1 and len(elements) == 2:
        return (_PREFIX, literal) if elements[1] is STAR else (_SUFFIX, literal)
    return _GENERAL, ""


Part = str | _Wildcard  # a literal run or QMARK


class Segment:
    """The fixed-length run between two ``*``: literal runs and ``?`` markers, with what
    searching for it needs (its length, its longest literal run, and — built on first
    use — its regex or its Shift-And character masks)."""

    __slots__ = ("_any", "_masks", "_regex", "anchor", "length", "offset", "parts")

    def __init__(self, parts: tuple[Part, ...]) -> None:
        self.parts = parts
        self.length = sum(len(part) if isinstance(part, str) else 1 for part in parts)
        self.anchor, self.offset = "", 0
        position = 0
        for part in parts:
            if isinstance(part, str) and len(part) > len(self.anchor):
                self.anchor, self.offset = part, position
            position += len(part) if isinstance(part, str) else 1
        self._masks: dict[str, int] | None = None
        self._any = 0
        self._regex: re.Pattern[str] | None = None

    def regex(self) -> re.Pattern[str]:
        """The segment as a fixed-length regex (literal runs escaped, ``?`` as ``.``):
        no quantifier, so a search is at most (positions × length) steps, in C."""
        if self._regex is None:
            source = "".join(re.escape(part) if isinstance(part, str) else "." for part in self.parts)
            self._regex = re.compile(source, re.DOTALL)
        return self._regex

    def masks(self) -> tuple[dict[str, int], int]:
        """``masks[c]`` has bit i set when position i is ``c`` or ``?``; a character absent
        from the segment matches only the ``?`` positions (the second value).

        The masks take (distinct characters × length) bits: kept with the segment (so in
        a cached compiled policy) only up to MASKS_KEPT_CHARACTERS distinct characters,
        at most 16 bytes per character of the segment; beyond, they are built for each
        search, which then costs at most twice the pass it serves (building is one step
        per segment character, the pass at least one per segment character)."""
        if self._masks is not None:
            return self._masks, self._any
        any_mask, bit = 0, 1
        masks: dict[str, int] = {}
        for part in self.parts:
            if isinstance(part, str):
                for char in part:
                    masks[char] = masks.get(char, 0) | bit
                    bit <<= 1
            else:
                any_mask |= bit
                bit <<= 1
        for char in masks:
            masks[char] |= any_mask
        if len(masks) <= MASKS_KEPT_CHARACTERS:
            self._any = any_mask
            self._masks = masks
        return masks, any_mask

    def __repr__(self) -> str:
        return f"Segment({self.parts!r})"


def _segments(elements: tuple[Element, ...]) -> tuple[Segment, ...]:
    """Split at each STAR; merge adjacent literal runs. n stars → n+1 segments.
    Only called on variable-free (or resolved) elements.

    Adjacent runs (a resolved pattern has one per variable value) are collected and
    joined once, so the cost is linear in the resolved length: appending each run to
    the previous one copied the growing text every time, O(runs² × value length)."""
    segments: list[Segment] = []
    current: list[Part] = []
    run: list[str] = []
    for element in elements:
        if isinstance(element, str):
            run.append(element)
            continue
        if run:
            current.append("".join(run))
            run.clear()
        if element is STAR:
            segments.append(Segment(tuple(current)))
            current = []
        elif not isinstance(element, Variable):
            current.append(element)
    if run:
        current.append("".join(run))
    segments.append(Segment(tuple(current)))
    return tuple(segments)


def _segment_at(segment: Segment, text: str, pos: int) -> bool:
    """Whether ``segment`` matches ``text`` at ``pos`` (O(parts): each literal run is one
    ``startswith``)."""
    if pos + segment.length > len(text):
        return False
    for part in segment.parts:
        if not isinstance(part, str):
            pos += 1
        elif text.startswith(part, pos):
            pos += len(part)
        else:
            return False
    return True


#: A long segment keeps its Shift-And masks only up to this many distinct characters
#: (128 × length bits: 16 bytes per segment character); a segment of 1 850 distinct
#: characters kept 470 KB of masks in a 2 KB policy, against a cache estimate of 130 KB.
MASKS_KEPT_CHARACTERS = 128

#: Segments up to this length are searched with a regex (C, at most length steps per
#: position: ~1 ns each); longer ones with Shift-And (Python, one step per character:
#: ~400 ns with a long segment), so a search costs O(n · min(m, SHIFT_AND_FROM)) C-level
#: steps at worst: ~1 ns · n · min(m, 384).
SHIFT_AND_FROM = 384


def _find_segment(segment: Segment, text: str, start: int, limit: int) -> int:
    """Leftmost position ≥ start where ``segment`` fits entirely before ``limit``.

    A literal-only segment is ``str.find``. Otherwise the segment's longest literal run
    must occur where the segment could (one ``str.find``); from there a short segment
    is a fixed-length regex search and a long one the bit-parallel Shift-And automaton,
    which reads the text once, each step a shift, an OR and an AND on a
    ``segment.length``-bit integer. Neither is ever O(n · m) Python steps."""
    parts, length = segment.parts, segment.length
    if len(parts) == 1 and isinstance(parts[0], str):
        return text.find(parts[0], start, limit)
    if limit - start < length:
        return -1
    anchor, offset = segment.anchor, segment.offset
    if not anchor:  # only ``?``: any ``length`` characters fit
        return start
    first = text.find(anchor, start + offset, limit - (length - offset - len(anchor)))
    if first < 0:
        return -1
    if length < SHIFT_AND_FROM:
        found = segment.regex().search(text, first - offset, limit)
        return found.start() if found is not None else -1
    return _shift_and(segment, text, first - offset, limit)


def _shift_and(segment: Segment, text: str, start: int, limit: int) -> int:
    """Shift-And (Baeza-Yates and Gonnet): after reading ``text[index]``, bit i of
    ``state`` is set when the last i+1 characters match the segment's first i+1
    positions; the first time the top bit is set, a whole occurrence ends there."""
    masks, any_mask = segment.masks()
    length = segment.length
    accept = 1 << (length - 1)
    state = 0
    get = masks.get
    for index in range(start, limit):
        state = ((state << 1) | 1) & get(text[index], any_mask)
        if state & accept:
            return index - length + 1
    return -1


def _match_segments(segments: tuple[Segment, ...], text: str) -> bool:
    """Anchored first and last segments; each middle segment at its leftmost place
    after the previous one (exact for globs: a later placement never helps). Every
    search starts where the previous one ended, so the text is read once in all."""
    first, last = segments[0], segments[-1]
    if len(segments) == 1:
        return first.length == len(text) and _segment_at(first, text, 0)
    head = first.length
    tail_start = len(text) - last.length
    if tail_start < head or not _segment_at(first, text, 0) or not _segment_at(last, text, tail_start):
        return False
    pos = head
    for segment in segments[1:-1]:
        if not segment.parts:
            continue
        found = _find_segment(segment, text, pos, tail_start)
        if found < 0:
            return False
        pos = found + segment.length
    return True


ARN_PARTS = 6
MIN_SPANNING_PARTS = 3  # arn, partition and at least the service before the spanning part


@dataclass(frozen=True, slots=True)
class ArnPattern:
    """An ARN pattern matched segment-wise: the first five ``:``-separated parts each
    match on their own (a ``*`` there cannot cross a colon); the sixth, the resource id,
    matches as a whole. ``"*"`` alone matches any resource, ARN or not.

    A resource pattern (``spanning``) may stop before the sixth part when its last part
    ends in ``*`` (``arn:aws:sns:us-east-1:*``, ``arn:aws:dynamodb:*``): that ``*`` crosses
    colons, so the last part matches the rest of the ARN as a whole ("If the * wildcard is
    the last character of a resource ARN segment, it can expand to match beyond the colon
    boundaries", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
    Condition patterns (``ArnLike``) compare all six parts separately."""

    source: str
    parts: tuple[Pattern, ...]
    match_all: bool
    exact: str | None
    maxsplit: int = ARN_PARTS - 1

    @classmethod
    def compile(cls, text: str, *, variables: bool, variables_everywhere: bool = False, spanning: bool = False) -> ArnPattern:
        if text == "*":
            return cls(text, (), True, None)
        raw = text.split(":", ARN_PARTS - 1)
        parts = tuple(Pattern.compile(part, variables=variables and (variables_everywhere or index == 5)) for index, part in enumerate(raw))
        exact = ":".join(p.literal for p in parts) if all(p.is_literal for p in parts) else None
        maxsplit = len(raw) - 1 if spanning and is_spanning_arn(text) else ARN_PARTS - 1
        return cls(text, parts, False, exact, maxsplit)

    @property
    def variables(self) -> tuple[Variable, ...]:
        return tuple(v for part in self.parts for v in part.variables)

    def matches(self, arn: str, context: Mapping[str, object] | None = None) -> bool:
        if self.match_all:
            return True
        if self.exact is not None:
            return arn == self.exact
        pieces = arn.split(":", self.maxsplit)
        if len(pieces) != len(self.parts):
            return False
        return all(part.matches(piece, context) for part, piece in zip(self.parts, pieces, strict=False))


def is_spanning_arn(text: str) -> bool:
    """A resource ARN cut short by a trailing ``*`` that spans the parts it leaves out
    (``arn:aws:sns:us-east-1:*``): ``arn:``, the partition and at least a service part,
    fewer than six parts in all, the last ending in ``*``."""
    count = text.count(":") + 1
    return text.startswith("arn:") and MIN_SPANNING_PARTS <= count < ARN_PARTS and text.endswith("*")
