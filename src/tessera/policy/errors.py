"""The one exception the policy engine raises: a policy document IAM would refuse.

The engine knows nothing of HTTP; it only names the AWS error code the document earns
(``MalformedPolicyDocument``, ``LimitExceeded`` or ``PackedPolicyTooLarge``) so the
service layer can translate it into the matching ``tessera.errors`` class without
re-deriving which check failed.
"""

from __future__ import annotations

MALFORMED = "MalformedPolicyDocument"
LIMIT_EXCEEDED = "LimitExceeded"
PACKED_TOO_LARGE = "PackedPolicyTooLarge"


class PolicyError(Exception):
    """A policy document failed parsing, validation or a size limit.

    ``reason`` is the AWS-style text (``Policy statement must contain resources.``);
    ``path`` (``Statement[1].Condition``), ``line`` and ``column`` (1-based) say where,
    when known. ``message`` combines both and is what a client should see.
    """

    def __init__(
        self,
        reason: str,
        *,
        code: str = MALFORMED,
        path: str = "",
        line: int = 0,
        column: int = 0,
    ) -> None:
        self.code = code
        self.reason = reason
        self.path = path
        self.line = line
        self.column = column
        self.message = reason + _location_suffix(path, line, column)
        super().__init__(self.message)


def _location_suffix(path: str, line: int, column: int) -> str:
    parts = []
    if path:
        parts.append(path)
    if line:
        parts.append(f"line {line}, column {column}")
    return f" (at {', '.join(parts)})" if parts else ""
