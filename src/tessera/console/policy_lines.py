"""Where in a policy document the API's refusal points, for an editor that shows it.

``MalformedPolicyDocument`` messages from Tessera end with ``(at …, line N, column M)``
when the engine knows the position. When a message carries none, the text is parsed
here with the same engine only to find a line to point at: the API's refusal and its
message remain the judgement shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tessera.policy import PolicyError, PolicyType, parse_policy

_POSITION = re.compile(r"\bline (\d+), column (\d+)\)?\s*\Z")


@dataclass(frozen=True)
class Location:
    line: int  # 1-based
    column: int  # 1-based; 0 when unknown


def locate(message: str, text: str, policy_type: PolicyType) -> Location | None:
    """The line (and column) of ``text`` that ``message`` refers to, if any can be found."""
    found = _POSITION.search(message)
    if found is not None:
        return Location(int(found.group(1)), int(found.group(2)))
    try:
        parse_policy(text, policy_type)
    except PolicyError as error:
        if error.line:
            return Location(error.line, error.column)
    return None


def numbered(text: str) -> list[tuple[int, str]]:
    """``text``'s lines with their 1-based numbers."""
    return list(enumerate(text.split("\n"), start=1))
