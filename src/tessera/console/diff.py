"""Line differences between two policy documents, as the console shows them.

Both documents are pretty-printed first (``pretty_json``: two-space indentation, the
author's key order), so a difference in layout alone never shows as a change, and each
changed statement element lands on a line of its own. The lines are compared with
``difflib.SequenceMatcher`` and grouped into hunks with a few lines of context, like a
unified diff. Each line says what it is (``kind``), so a page can mark it with a sign
and words, not with colour alone.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Literal

Opcode = tuple[Literal["replace", "delete", "insert", "equal"], int, int, int, int]

CONTEXT = 3
"""Unchanged lines shown around each change."""
MATCH_LIMIT = 250_000
"""The most line pairs (old lines × new lines) compared for a minimal diff: difflib's
matching is quadratic in the worst case (two 6 KB documents of one-item lines took 30 s);
past this, the lines between the common beginning and end are shown as replaced."""

Kind = Literal["same", "added", "removed", "gap"]


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: Kind  # "gap" stands for unchanged lines left out between two hunks
    text: str
    old: int | None = None  # 1-based line number in the old document
    new: int | None = None  # 1-based line number in the new document


@dataclass(frozen=True, slots=True)
class Diff:
    lines: list[DiffLine]
    added: int
    removed: int

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


def pretty_json(text: str) -> str:
    """``text`` indented by two spaces, keys in their original order; the text as it is
    when it is not JSON (an invalid document still shows)."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def diff_documents(old: str, new: str, context: int = CONTEXT) -> Diff:
    """The differences from policy document ``old`` to ``new`` (JSON texts)."""
    before = pretty_json(old).splitlines()
    after = pretty_json(new).splitlines()
    if before == after:
        return Diff([], 0, 0)
    if len(before) * len(after) > MATCH_LIMIT:
        matcher: difflib.SequenceMatcher[str] = _Coarse(before, after)
    else:
        matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    if before == after:
        return Diff([], 0, 0)
    lines: list[DiffLine] = []
    added = removed = 0
    for number, group in enumerate(matcher.get_grouped_opcodes(context)):
        if number or group[0][1] > 0:
            lines.append(DiffLine("gap", ""))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [DiffLine("same", before[i], i + 1, j1 + i - i1 + 1) for i in range(i1, i2)]
                continue
            lines += [DiffLine("removed", before[i], old=i + 1) for i in range(i1, i2)]
            lines += [DiffLine("added", after[j], new=j + 1) for j in range(j1, j2)]
            removed += i2 - i1
            added += j2 - j1
    if lines and lines[-1].kind != "gap" and _last_old(lines) < len(before):
        lines.append(DiffLine("gap", ""))
    return Diff(lines, added, removed)


class _Coarse(difflib.SequenceMatcher):  # type: ignore[type-arg]
    """A linear diff: the common first and last lines kept, everything between replaced."""

    def __init__(self, before: list[str], after: list[str]) -> None:
        super().__init__(None, before, after, autojunk=False)
        head = 0
        while head < min(len(before), len(after)) and before[head] == after[head]:
            head += 1
        tail = 0
        while tail < min(len(before), len(after)) - head and before[-1 - tail] == after[-1 - tail]:
            tail += 1
        ops: list[Opcode] = [("equal", 0, head, 0, head), ("replace", head, len(before) - tail, head, len(after) - tail)]
        ops.append(("equal", len(before) - tail, len(before), len(after) - tail, len(after)))
        self._coarse = [op for op in ops if op[2] > op[1] or op[4] > op[3]]

    def get_opcodes(self) -> list[Opcode]:
        return self._coarse


def _last_old(lines: list[DiffLine]) -> int:
    return max((line.old for line in lines if line.old is not None), default=0)
