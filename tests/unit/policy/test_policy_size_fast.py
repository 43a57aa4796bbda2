"""``policy_size`` counts as IAM counts (whitespace outside strings is free) without a
Python loop per character, and ``policy_size_exceeds`` refuses a huge text at once."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.policy import policy_size, policy_size_exceeds


def reference_size(text: str) -> int:
    """The character-by-character definition."""
    size, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            size += 1
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char not in " \t\r\n":
            size += 1
            in_string = char == '"'
    return size


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=' "\\\t\r\na{}:', max_size=30))
def test_same_count_as_the_character_by_character_definition(text: str) -> None:
    assert policy_size(text) == reference_size(text)
    for limit in (0, 3, 10, 30):
        assert policy_size_exceeds(text, limit) is (reference_size(text) > limit)


def test_megabyte_texts_are_measured_without_a_loop_per_character() -> None:
    whitespace_in_string = '{"Sid":"' + " " * (1 << 20) + '"}'
    assert policy_size(whitespace_in_string) == len(whitespace_in_string)
    assert policy_size(" " * (1 << 20) + "{}") == 2
    assert policy_size_exceeds("x" * (1 << 20), 2048)


def test_a_padded_document_reads_with_exact_positions() -> None:
    """Whitespace padding is skipped in C and lines are counted once, in order; the
    positions the simulator reports stay exact."""
    from tessera.policy import PolicyType, parse_policy

    statement = '{"Effect":"Allow","Action":"s3:*","Resource":"*"}'
    text = '{"Version":"2012-10-17",' + "\n" * 100_000 + '"Statement":[' + statement + ",\n   " + statement + "]}"
    compiled = parse_policy(text, PolicyType.SESSION)
    first, second = (s.span for s in compiled.statements)
    assert (first.start.line, first.start.column) == (100_001, 14)
    assert (second.start.line, second.start.column) == (100_002, 4)
    assert (second.end.line, second.end.column) == (100_002, 3 + len(statement))
