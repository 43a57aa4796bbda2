"""Memoised parsers keep only short client texts, in a bounded cache."""

from __future__ import annotations

import contextlib

from tessera.auth import presign, sigv4
from tessera.auth.memo import MAX_LENGTH, memoised


def counting_parser(maxsize: int = 4):
    calls: list[str] = []

    @memoised(maxsize=maxsize)
    def parse(text: str) -> str:
        calls.append(text)
        return text.upper()

    return parse, calls


def test_short_texts_are_parsed_once() -> None:
    parse, calls = counting_parser()
    assert parse("abc") == parse("abc") == "ABC"
    assert calls == ["abc"]


def test_long_texts_are_parsed_every_time_and_not_kept() -> None:
    parse, calls = counting_parser()
    long = "x" * (MAX_LENGTH + 1)
    assert parse(long) == parse(long) == long.upper()
    assert calls == [long, long]


def test_the_cache_is_bounded() -> None:
    parse, calls = counting_parser(maxsize=2)
    for text in ("a", "b", "c", "a"):
        parse(text)
    assert calls == ["a", "b", "c", "a"]  # "a" was evicted by "c"


def test_errors_are_not_cached() -> None:
    attempts: list[str] = []

    @memoised(maxsize=4)
    def parse(text: str) -> int:
        attempts.append(text)
        return int(text)

    for _ in range(2):
        with contextlib.suppress(ValueError):
            parse("nope")
    assert attempts == ["nope", "nope"]


def test_request_path_parsers_still_parse_long_input() -> None:
    long_credential = "AKIA" + "X" * 400 + "/20240501/us-east-1/sts/aws4_request"
    assert sigv4.parse_credential(long_credential).access_key_id == "AKIA" + "X" * 400
    headers = ";".join(["host"] + [f"x-h{i}" for i in range(100)])
    assert presign._signed_headers(headers)[:2] == ("host", "x-h0")
