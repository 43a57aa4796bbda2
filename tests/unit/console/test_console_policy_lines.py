"""Pointing at the line of a refused policy document (tessera.console.policy_lines)."""

from __future__ import annotations

import json

from tessera.console.policy_lines import Location, locate, numbered
from tessera.policy import PolicyType

BROKEN = "\n".join(
    [
        "{",
        '  "Version": "2012-10-17",',
        '  "Statement": [',
        '    {"Effect": "Allow",',
        '     "Principal": {"AWS": "x"}',
        '     "Action": "sts:AssumeRole"}]}',
    ]
)


def test_the_position_in_the_message_is_taken_as_it_is() -> None:
    message = "Syntax errors in policy. Expected '}'. (at line 6, column 6)"
    assert locate(message, "", PolicyType.TRUST) == Location(6, 6)


def test_a_path_and_position_in_the_message() -> None:
    message = "Missing required field Principal (at Statement[0].Principal, line 1, column 38)"
    assert locate(message, "", PolicyType.TRUST) == Location(1, 38)


def test_without_a_position_the_text_is_parsed_to_find_one() -> None:
    found = locate("Syntax errors in policy.", BROKEN, PolicyType.TRUST)
    assert found is not None and found.line == 6


def test_no_position_when_the_engine_accepts_the_text() -> None:
    """IAM refuses a principal that does not exist; the document itself is well formed."""
    ghost = "arn:aws:iam::123456789012:user/ghost"
    text = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ghost}, "Action": "sts:AssumeRole"}]}
    )
    assert locate('Invalid principal in policy: "AWS":"arn:aws:iam::123456789012:user/ghost"', text, PolicyType.TRUST) is None


def test_numbered_lines() -> None:
    assert numbered("a\nb") == [(1, "a"), (2, "b")]
