"""The simulator's marking of deciding statements in a policy's text."""

from __future__ import annotations

import pytest

from tessera.console.highlight import highlight, offset, spans
from tessera.policy import PolicyType, parse_policy

POLICY = """{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "A", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
    {
      "Sid": "B",
      "Effect": "Deny",
      "Action": "s3:Delete<*>",
      "Resource": "*"
    }
  ]
}"""


def _at(start: tuple[int, int], end: tuple[int, int]) -> dict[str, dict[str, int]]:
    return {"StartPosition": {"Line": start[0], "Column": start[1]}, "EndPosition": {"Line": end[0], "Column": end[1]}}


@pytest.mark.parametrize(
    ("line", "column", "expected"),
    [(1, 1, 0), (2, 3, 4), (4, 5, POLICY.index('{"Sid": "A"')), (0, 1, None), (1, 0, None), (99, 1, None), (1, 5, None)],
    ids=["first", "second-line", "statement", "line-zero", "column-zero", "past-the-end", "past-the-line"],
)
def test_offset_reads_one_based_lines_and_columns(line: int, column: int, expected: int | None) -> None:
    assert offset(POLICY, line, column) == expected


def test_the_engine_positions_mark_exactly_the_statement() -> None:
    policy = parse_policy(POLICY, PolicyType.IDENTITY, policy_id="p")
    span = policy.statements[1].span
    assert (span.start.line, span.start.column, span.end.line, span.end.column) == (5, 5, 10, 5)
    text = str(highlight(POLICY, [_at((5, 5), (10, 5))]))
    marked = text[text.index("<mark>") + 6 : text.index("</mark>")]
    assert marked.startswith("{") and marked.endswith("}") and "&#34;Sid&#34;: &#34;B&#34;" in marked


def test_text_is_escaped_inside_and_outside_the_mark() -> None:
    text = str(highlight(POLICY, [_at((5, 5), (10, 5))]))
    assert "<*>" not in text and "&lt;*&gt;" in text
    assert text.count("<mark>") == 1 and text.count("</mark>") == 1


def test_overlapping_and_repeated_spans_are_merged_and_bad_ones_dropped() -> None:
    found = spans(POLICY, [_at((4, 5), (4, 10)), _at((4, 8), (4, 20)), _at((4, 5), (4, 10)), _at((50, 1), (51, 1))])
    start = POLICY.index('{"Sid": "A"')
    assert found == [(start, start + 16)]


def test_no_statement_means_the_text_escaped() -> None:
    assert str(highlight("<a>", [])) == "&lt;a&gt;"
