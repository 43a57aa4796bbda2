"""JSON text → plain values, remembering where each object sits in the text.

IAM's simulator reports the start and end position of every deciding statement, and a
validation error is more useful with a line number, so the stdlib ``json`` module (which
forgets positions) is not enough. This reader implements RFC 8259 exactly, produces
``JsonObject`` (a ``dict`` carrying its span) for objects, ``list`` for arrays, ``int`` or
``Decimal`` for numbers (never ``float``: numeric conditions compare exactly) and rejects
duplicate member names, which IAM would otherwise resolve in an undocumented way.
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass
from decimal import Decimal

from tessera.policy.errors import PolicyError

_WHITESPACE = " \t\n\r"
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_NUMBER_CHARS = frozenset("0123456789+-.eE")
_MAX_DEPTH = 64
_STRING_STOP = re.compile(r'["\\\x00-\x1f]')  # end quote, escape, or a forbidden control char
_WHITESPACE_RUN = re.compile(r"[ \t\n\r]*")  # skipped in C: a client may pad a document


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column in the policy text."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Span:
    start: Position
    end: Position


class JsonObject(dict):  # type: ignore[type-arg]
    """A JSON object plus the offsets of its opening and closing braces."""

    start: int
    end: int


class _Lines:
    """Offset → (line, column), counted when asked (positions are wanted only for a
    few objects and errors; a padded text's million newlines need no index)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._offset, self._line, self._line_start = 0, 1, 0  # as of _offset

    def position(self, offset: int) -> Position:
        """Asked in increasing order (statement by statement), so each call reads only
        the text since the last: all positions of a text cost one pass over it."""
        text = self._text
        if offset < self._offset:
            self._offset, self._line, self._line_start = 0, 1, 0
        newlines = text.count("\n", self._offset, offset)
        if newlines:
            self._line += newlines
            self._line_start = text.rfind("\n", self._offset, offset) + 1
        self._offset = offset
        return Position(self._line, offset - self._line_start + 1)


class SourceText:
    """A parsed JSON document and the means to turn object offsets into positions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._lines = _Lines(text)
        self.value = _Reader(text, self._lines).document()

    def position(self, offset: int) -> Position:
        return self._lines.position(offset)

    def span(self, obj: JsonObject) -> Span:
        """Start is the opening brace, end the closing brace (both inclusive)."""
        return Span(self.position(obj.start), self.position(obj.end - 1))


class _Reader:
    def __init__(self, text: str, lines: _Lines) -> None:
        self.text = text
        self.pos = 0
        self.lines = lines

    def fail(self, what: str) -> PolicyError:
        where = self.lines.position(min(self.pos, len(self.text)))
        return PolicyError(f"Syntax errors in policy. {what}", line=where.line, column=where.column)

    def document(self) -> object:
        self.skip_ws()
        value = self.value(0)
        self.skip_ws()
        if self.pos != len(self.text):
            raise self.fail("Unexpected text after the JSON document.")
        return value

    def skip_ws(self) -> None:
        match = _WHITESPACE_RUN.match(self.text, self.pos)
        self.pos = match.end() if match is not None else self.pos

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.fail(f"Expected '{char}'.")
        self.pos += 1

    def value(self, depth: int) -> object:
        if depth > _MAX_DEPTH:
            raise self.fail("Nesting is too deep.")
        char = self.peek()
        if char == "{":
            return self.object(depth)
        if char == "[":
            return self.array(depth)
        if char == '"':
            return self.string()
        if char in "-0123456789":
            return self.number()
        for word, result in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return result
        raise self.fail("Expected a JSON value." if char else "Unexpected end of text.")

    def object(self, depth: int) -> JsonObject:
        result = JsonObject()
        result.start = self.pos
        self.pos += 1
        self.skip_ws()
        if self.peek() == "}":
            self.pos += 1
            result.end = self.pos
            return result
        while True:
            self.skip_ws()
            if self.peek() != '"':
                raise self.fail("Expected a quoted member name.")
            key = self.string()
            if key in result:
                raise self.fail(f'Duplicate member "{key}".')
            self.skip_ws()
            self.expect(":")
            self.skip_ws()
            result[key] = self.value(depth + 1)
            self.skip_ws()
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect("}")
            result.end = self.pos
            return result

    def array(self, depth: int) -> list[builtins.object]:  # ``object`` is a method of this class
        self.pos += 1
        items: list[builtins.object] = []
        self.skip_ws()
        if self.peek() == "]":
            self.pos += 1
            return items
        while True:
            self.skip_ws()
            items.append(self.value(depth + 1))
            self.skip_ws()
            if self.peek() == ",":
                self.pos += 1
                continue
            self.expect("]")
            return items

    def string(self) -> str:
        text = self.text
        self.pos += 1
        chunks: list[str] = []
        start = self.pos
        while True:
            stop = _STRING_STOP.search(text, self.pos)
            if stop is None:
                self.pos = len(text)
                raise self.fail("Unterminated string.")
            self.pos = stop.start()
            char = text[self.pos]
            if char == '"':
                chunks.append(text[start : self.pos])
                self.pos += 1
                return "".join(chunks)
            if char == "\\":
                chunks.append(text[start : self.pos])
                chunks.append(self.escape())
                start = self.pos
                continue
            raise self.fail("Control character in string.")

    def escape(self) -> str:
        code = self.text[self.pos + 1 : self.pos + 2]
        if code in _ESCAPES:
            self.pos += 2
            return _ESCAPES[code]
        if code != "u":
            raise self.fail("Invalid escape in string.")
        first = self.hex4(self.pos + 2)
        self.pos += 6
        if 0xD800 <= first < 0xDC00 and self.text.startswith("\\u", self.pos):
            second = self.hex4(self.pos + 2)
            if 0xDC00 <= second < 0xE000:
                self.pos += 6
                return chr(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
        return chr(first)

    def hex4(self, at: int) -> int:
        digits = self.text[at : at + 4]
        if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise self.fail("Invalid \\u escape in string.")
        return int(digits, 16)

    def number(self) -> int | Decimal:
        start = self.pos
        text = self.text
        while self.pos < len(text) and text[self.pos] in _NUMBER_CHARS:
            self.pos += 1
        literal = text[start : self.pos]
        if not _is_json_number(literal):
            self.pos = start
            raise self.fail(f"Invalid number {literal}.")
        try:
            if all(c in "-0123456789" for c in literal):
                return int(literal)
            return Decimal(literal)
        except (ValueError, ArithmeticError):
            # An integer beyond Python's digit limit for str → int (4300 by default) or
            # an exponent beyond what ``decimal`` represents: well-formed JSON, but no
            # number a policy can compare with; IAM refuses it as malformed.
            self.pos = start
            raise self.fail(f"Number out of range {literal[:32]}{'…' if len(literal) > 32 else ''}.") from None


def _is_json_number(literal: str) -> bool:
    """RFC 8259 number grammar, checked by hand so no regex is built per call."""
    i, n = 0, len(literal)
    if i < n and literal[i] == "-":
        i += 1
    if i >= n or not literal[i].isdigit():
        return False
    if literal[i] == "0":
        i += 1
    else:
        while i < n and literal[i].isdigit():
            i += 1
    if i < n and literal[i] == ".":
        i += 1
        if i >= n or not literal[i].isdigit():
            return False
        while i < n and literal[i].isdigit():
            i += 1
    if i < n and literal[i] in "eE":
        i += 1
        if i < n and literal[i] in "+-":
            i += 1
        if i >= n or not literal[i].isdigit():
            return False
        while i < n and literal[i].isdigit():
            i += 1
    return i == n
