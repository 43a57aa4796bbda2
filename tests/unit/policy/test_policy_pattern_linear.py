"""Wildcard matching: exact glob semantics (checked against a reference matcher) and a
cost linear in the text, whatever the pattern.

AWS: ``*`` matches any run of characters including none, ``?`` exactly one character
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String).
"""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.policy import pattern as pattern_module
from tessera.policy.pattern import ArnPattern, Pattern


def reference(pattern: str, text: str) -> bool:
    """fnmatch without its character classes: ``[`` escaped, so only ``*``/``?`` are special."""
    return fnmatch.fnmatchcase(text, pattern.replace("[", "[[]"))


ALPHABET = st.sampled_from("ab*?[:/\né")
TEXT = st.text(alphabet="ab[:/\né", max_size=14)


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=10), TEXT)
def test_matches_like_the_reference_glob(pattern: str, text: str) -> None:
    assert Pattern.compile(pattern).matches(text) is reference(pattern, text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab*?"), max_size=8), st.text(alphabet="ab", max_size=6), st.text(alphabet="ab*?", max_size=4))
def test_variables_are_literal_text_after_substitution(prefix: str, suffix: str, value: str) -> None:
    compiled = Pattern.compile(prefix + "${aws:username}" + suffix, variables=True)
    expected = Pattern.compile(prefix + value.replace("*", "${*}").replace("?", "${?}") + suffix, variables=True)
    for text in ("", "a", "ab", value, prefix + value + suffix, "ba" + value + "ab"):
        assert compiled.matches(text, {"aws:username": value}) is expected.matches(text)


CASES = [
    ("*?a?b*", "xxaxbyy", True),
    ("*?a?b*", "xxaxcyy", False),
    ("a*??*c", "abbc", True),
    ("a*??*c", "abc", False),
    ("*a?a?a*", "aaaaa", True),
    ("*a?a?a*", "aaaa", False),
    ("*??*", "ab", True),
    ("*???*", "ab", False),
    ("x*?b?*?b?*y", "xababababy", True),
    ("x*?b?*?b?*y", "xabababy", False),
]


@pytest.mark.parametrize(("pattern", "text", "expected"), CASES)
def test_question_marks_between_stars(pattern: str, text: str, expected: bool) -> None:
    assert Pattern.compile(pattern).matches(text) is expected
    assert reference(pattern, text) is expected


class Counter:
    """Counts the characters the matcher reads one at a time in Python: each index into
    the text, and each character a ``_segment_at`` probe may compare."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.steps = 0
        real_segment_at = pattern_module._segment_at
        counter = self

        def segment_at(segment: pattern_module.Segment, text: str, pos: int) -> bool:
            counter.steps += max(1, len(segment.parts))
            return real_segment_at(segment, text, pos)

        class CountingText(str):
            def __getitem__(self, index):  # type: ignore[no-untyped-def]
                counter.steps += 1
                return str.__getitem__(self, index)

        monkeypatch.setattr(pattern_module, "_segment_at", segment_at)
        self.text = CountingText


def test_cost_is_linear_in_the_text_for_many_question_marks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reported attack: ``*`` + many ``?a`` + ``b*`` against a long run of ``a``. The
    quadratic matcher tried every position and compared up to 2 000 characters at each."""
    counter = Counter(monkeypatch)
    text = counter.text("a" * 20_000)
    assert Pattern.compile("*" + "?a" * 1000 + "b*").matches(text) is False
    assert Pattern.compile("*" + "?a" * 1000 + "*").matches(text) is True
    assert counter.steps <= 3 * len(text)


def test_cost_is_linear_when_the_anchor_is_common(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = Counter(monkeypatch)
    text = counter.text("x" + "a" * 10_000 + "y")
    assert Pattern.compile("x*" + "a?" * 300 + "aab*y").matches(text) is False
    assert counter.steps <= 3 * len(text)


def test_only_question_marks_between_stars_is_a_length_check() -> None:
    assert Pattern.compile("*" + "?" * 500 + "*").matches("a" * 500)
    assert not Pattern.compile("*" + "?" * 500 + "*").matches("a" * 499)


def test_arn_patterns_keep_their_part_semantics() -> None:
    arn = ArnPattern.compile("arn:aws:iam::*:user/?ob*", variables=False)
    assert arn.matches("arn:aws:iam::111111111111:user/bob/x")
    assert not arn.matches("arn:aws:iam::111:111111111111:user/bob")
    assert not ArnPattern.compile("arn:aws:iam::?:user/*", variables=False).matches("arn:aws:iam::12:user/a")


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=10), TEXT)
def test_shift_and_matches_like_the_reference_glob(pattern: str, text: str) -> None:
    """The same property with every ``?`` segment searched by Shift-And (the path long
    segments take)."""
    saved = pattern_module.SHIFT_AND_FROM
    pattern_module.SHIFT_AND_FROM = 0
    try:
        assert Pattern.compile(pattern).matches(text) is reference(pattern, text)
    finally:
        pattern_module.SHIFT_AND_FROM = saved


class ConcatenationCounter(str):
    """A variable value that counts every ``+`` it takes part in."""

    concatenations = 0

    def __add__(self, other: str) -> str:
        ConcatenationCounter.concatenations += 1
        return str.__add__(self, other)

    def __radd__(self, other: str) -> str:
        ConcatenationCounter.concatenations += 1
        return str.__add__(other, self)


def test_variables_resolve_without_pairwise_concatenation() -> None:
    """A pattern of N variables is resolved by one join: appending each value to the
    text so far copied it every time, O(N² × value length) (8 000 variables of 100
    characters took a second per match)."""
    ConcatenationCounter.concatenations = 0
    value = ConcatenationCounter("v" * 10)
    compiled = Pattern.compile("x" + "${k}" * 2000 + "?" + "${k}" * 2000 + "*", variables=True)
    assert compiled.matches("x" + "v" * 20_000 + "!" + "v" * 20_000 + "tail", {"k": value})
    assert not compiled.matches("x" + "v" * 19_999 + "!" + "v" * 20_000, {"k": value})
    assert ConcatenationCounter.concatenations == 0
    assert compiled.resolve_literal({"k": value}) == "x" + "v" * 20_000 + "?" + "v" * 20_000 + "*"
    assert ConcatenationCounter.concatenations == 0


def test_long_segments_keep_masks_only_for_few_distinct_characters() -> None:
    """Shift-And masks take (distinct characters × length) bits; a compiled (cached)
    pattern keeps them only when that is at most 16 bytes per character, else they are
    rebuilt for each search. Matching is the same either way."""
    many = "?" + "".join(chr(0x4E00 + i) for i in range(1000))
    few = "?" + "".join(chr(0x61 + i % 20) for i in range(1000))
    for segment, kept in ((many, False), (few, True)):
        compiled = Pattern.compile("*" + segment + "*")
        for _ in range(2):
            assert compiled.matches("ab" + segment[1:] + "z")
            assert not compiled.matches("ab" + segment[1:-1] + "z")
        middle = compiled._segments[1]
        assert (middle._masks is not None) is kept
