"""A presigned query in canonical form is read from the pairs authentication split
(``read_sent_form``): the same parameters and the same errors as ``read_form``."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera import errors
from tessera.auth import sigv4
from tessera.protocol.query import read_form, read_sent_form

FORM = "application/x-www-form-urlencoded; charset=utf-8"


def outcome(read, *args):
    try:
        return read(*args)
    except errors.MalformedRequest as error:
        return ("MalformedRequest", error.message)


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet="aZ09-_.~=&%+/:é2F3ACD8", max_size=40),
    st.sampled_from([(b"", None), (b"Action=GetCallerIdentity", FORM), (b"a=%zz", FORM), (b"a=1", "text/plain")]),
)
def test_a_canonical_query_reads_as_read_form_reads_it(raw, body):
    sent = sigv4.sent_pairs(raw)
    if sent is not None:
        assert outcome(read_sent_form, sent, *body) == outcome(read_form, body[0], body[1], raw)


@pytest.mark.parametrize(
    "raw",
    [
        "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A111111111111%3Arole%2Fr&RoleSessionName=s",
        "a=%C3%A9&b=%E2%82%AC",
        "a=%FF",  # not UTF-8
        "a=%C3",  # a truncated sequence
        "a=1&a=2",  # repeated
        "a%3D=1&a%3D=2",  # repeated, escaped
        "=",
        "a=&b=",
    ],
)
def test_sent_forms_of_sdk_queries_and_errors(raw):
    sent = sigv4.sent_pairs(raw)
    assert sent is not None
    assert outcome(read_sent_form, sent, b"", None) == outcome(read_form, b"", None, raw)
