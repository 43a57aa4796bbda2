"""The SigV4 steps one by one: AWS's documented example, botocore's step methods as the
oracle for canonicalisation, and the Authorization-header parser."""

from __future__ import annotations

import datetime as dt
import hashlib
from urllib.parse import quote

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import normalize_url_path
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.auth import sigv4

# AWS General Reference, "Examples of the complete Signature Version 4 signing process":
# IAM ListUsers, secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 2015-08-30T12:36:00Z.
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
DOC_HEADERS = {
    "content-type": "application/x-www-form-urlencoded; charset=utf-8",
    "host": "iam.amazonaws.com",
    "x-amz-date": "20150830T123600Z",
}
DOC_SIGNED = ("content-type", "host", "x-amz-date")


def test_aws_documented_example_step_by_step():
    creq = sigv4.canonical_request(
        "GET",
        sigv4.canonical_uri("/"),
        sigv4.canonical_query_string("Action=ListUsers&Version=2010-05-08"),
        sigv4.canonical_headers(DOC_HEADERS, DOC_SIGNED),
        ";".join(DOC_SIGNED),
        sigv4.payload_hash(b""),
    )
    assert creq == (
        "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
        "content-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\n"
        "x-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert hashlib.sha256(creq.encode()).hexdigest() == "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    scope = sigv4.credential_scope("20150830", "us-east-1", "iam")
    assert scope == "20150830/us-east-1/iam/aws4_request"
    sts = sigv4.string_to_sign("20150830T123600Z", scope, creq)
    assert sts == (
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\n"
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    )
    key = sigv4.signing_key(DOC_SECRET, "20150830", "us-east-1", "iam")
    assert key.hex() == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    assert sigv4.signature(key, sts) == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"


# --- Canonical URI --------------------------------------------------------------------

PATHS = ["", "/", "/a/b", "/a/./b/../c", "//a//b//", "/a/b/..", "/../..", "/a%20b/c%2Fd", "/é/~user/", "/a b"]


@pytest.mark.parametrize("path", PATHS, ids=repr)
def test_canonical_uri_matches_botocore(path):
    assert sigv4.canonical_uri(path) == quote(normalize_url_path(path), safe="/~")


def test_canonical_uri_encodes_an_encoded_path_again():
    assert sigv4.canonical_uri("/a%20b") == "/a%2520b"


# --- Canonical query string -----------------------------------------------------------

QUERIES = {
    "empty": ("", ""),
    "sorted-by-name": ("b=2&a=1", "a=1&b=2"),
    "repeated-name-sorted-by-value": ("a=2&a=1&a=10", "a=1&a=10&a=2"),
    "name-without-value": ("flag&a=1", "a=1&flag="),
    "plus-is-a-space": ("a=b+c", "a=b%20c"),
    "encoded-plus-is-a-plus": ("a=b%2Bc", "a=b%2Bc"),
    "lower-hex-upper-cased": ("a=%c3%a9", "a=%C3%A9"),
    "unreserved-decoded": ("a=%7E%2D%5F%2E", "a=~-_."),
    "reserved-encoded": ("a=/:@!$'()*,;", "a=%2F%3A%40%21%24%27%28%29%2A%2C%3B"),
    "equals-in-value": ("a=b=c", "a=b%3Dc"),
    "raw-utf8": ("a=é", "a=%C3%A9"),
    "empty-items-skipped": ("&a=1&&", "a=1"),
}


@pytest.mark.parametrize(("raw", "canonical"), QUERIES.values(), ids=QUERIES.keys())
def test_canonical_query_string(raw, canonical):
    assert sigv4.canonical_query_string(raw) == canonical
    assert sigv4.canonical_query_string(raw.encode()) == canonical


def botocore_signer() -> SigV4Auth:
    return SigV4Auth(Credentials("AKIDEXAMPLE", DOC_SECRET), "sts", "us-east-1")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=12)), max_size=6))
def test_canonical_query_string_matches_botocore_for_any_parameters(params):
    signer = botocore_signer()
    expected = signer.canonical_query_string(AWSRequest("GET", "https://sts.amazonaws.com/", params=params))
    raw = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in params)
    assert sigv4.canonical_query_string(raw) == expected


def test_excluded_parameter_is_left_out():
    assert sigv4.canonical_query_string("X-Amz-Signature=abc&a=1", exclude={b"X-Amz-Signature"}) == "a=1"


SENT_FORMS = {
    "sdk-encoded": ("Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr", True),
    "utf8-escapes": ("a=%C3%A9", True),
    "empty-value": ("a=&b=1", True),
    "lower-case-hex": ("a=%c3%a9", False),
    "unreserved-escaped": ("a=%41", False),
    "plus": ("a=b+c", False),
    "reserved-unescaped": ("a=b/c", False),
    "equals-in-value": ("a=b=c", False),
    "no-equals": ("flag&a=1", False),
    "empty-item": ("a=1&&b=2", False),
    "bad-escape": ("a=%zz", False),
    "non-ascii": ("a=é", False),
}


@pytest.mark.parametrize(("raw", "canonical"), SENT_FORMS.values(), ids=SENT_FORMS.keys())
def test_only_an_already_canonical_query_is_taken_as_sent(raw, canonical):
    assert (sigv4.sent_pairs(raw) is not None) is canonical
    assert (sigv4.sent_pairs(raw.encode()) is not None) is canonical


def test_long_query_that_is_not_canonical_is_rejected_without_backtracking():
    # a regex that can split the run of letters many ways would not finish this
    assert sigv4.sent_pairs("a=" + "b" * 400 + "%2f") is None
    assert sigv4.sent_pairs(("a=" + "b" * 64 + "&") * 64 + "c") is None


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="aZ09-_.~=&%+/:éAFaf", max_size=24), st.sampled_from([(), (b"a",), (b"X-Amz-Signature",)]))
def test_canonical_form_as_sent_agrees_with_decoding_and_encoding_again(raw, exclude):
    slow = sigv4.canonical_query_from_pairs(sigv4.query_pairs(raw), exclude)
    assert sigv4.canonical_query_string(raw, exclude) == slow
    sent = sigv4.sent_pairs(raw)
    if sent is not None:
        assert sigv4.canonical_query_from_sent(sent, exclude) == slow


_SENT_NAMES = st.sampled_from(["a", "A", "a-b", "a.b", "a~", "ab", "X-Amz-Signature", "X-Amz-Signatur", "X-Amz-SignatureX", "%2F", "a%3D"])
_SENT_VALUES = st.lists(st.sampled_from(["a", "Z", "0", "-", "_", ".", "~", "%2F", "%3D", "%26", "%00"]), max_size=6).map("".join)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(_SENT_NAMES, _SENT_VALUES), min_size=1, max_size=8),
    st.sampled_from([None, "a", "X-Amz-Signature", "a-b"]),
)
def test_canonical_query_from_text_sorts_and_excludes_as_the_pairs_do(items, exclude):
    raw = "&".join(f"{name}={value}" for name, value in items)
    assert sigv4.canonical_text(raw) == raw
    sent = sigv4.pairs_of_canonical(raw)
    assert sent == [tuple(item.partition("=")[::2]) for item in raw.split("&")]
    assert sent == sigv4.sent_pairs(raw)
    excluded = () if exclude is None else (exclude.encode(),)
    assert sigv4.canonical_query_from_text(raw, exclude) == sigv4.canonical_query_from_sent(sent, excluded)
    assert sigv4.canonical_query_from_text(raw, exclude) == sigv4.canonical_query_from_pairs(sigv4.query_pairs(raw), excluded)


# --- Canonical headers ----------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.text(alphabet="abcxyz-", min_size=1, max_size=6).map(lambda name: "x-" + name),
        st.text(alphabet=" \tab,;:=~é", max_size=16),
        max_size=5,
    )
)
def test_canonical_headers_match_botocore(headers):
    signer = botocore_signer()
    request = AWSRequest("GET", "https://sts.amazonaws.com/", headers=headers)
    to_sign = signer.headers_to_sign(request)
    names = sorted(to_sign.keys())
    ours = sigv4.canonical_headers({**{k.lower(): v.strip() for k, v in headers.items()}, "host": "sts.amazonaws.com"}, names)
    assert ours == signer.canonical_headers(to_sign) + "\n"


def test_signed_header_absent_from_the_request_is_empty():
    assert sigv4.canonical_headers({"host": "h"}, ("host", "x-missing")) == "host:h\nx-missing:\n"


# --- Signature steps against botocore -------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    secret=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+", min_size=40, max_size=40),
    region=st.sampled_from(["us-east-1", "eu-west-1", "ap-southeast-7"]),
    service=st.sampled_from(["iam", "sts", "organizations"]),
    body=st.binary(max_size=64),
)
def test_string_to_sign_and_signature_match_botocore(secret, region, service, body):
    request = AWSRequest("POST", "https://example.amazonaws.com/", data=body, headers={"Content-Type": "text/plain"})
    signer = SigV4Auth(Credentials("AKIDEXAMPLE", secret), service, region)
    request.context["timestamp"] = "20240501T120000Z"
    request.headers["X-Amz-Date"] = "20240501T120000Z"
    creq = signer.canonical_request(request)
    expected_sts = signer.string_to_sign(request, creq)

    sts = sigv4.string_to_sign("20240501T120000Z", sigv4.credential_scope("20240501", region, service), creq)
    assert sts == expected_sts
    assert sigv4.signature(sigv4.signing_key(secret, "20240501", region, service), sts) == signer.signature(sts, request)
    assert sigv4.payload_hash(body) == signer.payload(request)


# --- Timestamps -----------------------------------------------------------------------


def test_timestamp_round_trips():
    when = dt.datetime(2024, 5, 1, 12, 0, 59, tzinfo=dt.UTC)
    assert sigv4.parse_timestamp("20240501T120059Z") == when
    assert sigv4.format_timestamp(when) == "20240501T120059Z"
    assert sigv4.format_timestamp(when.astimezone(dt.timezone(dt.timedelta(hours=2)))) == "20240501T120059Z"


@pytest.mark.parametrize(
    "value", ["", "20240501T120059", "2024-05-01T12:00:59Z", "20241301T120059Z", "2024050xT120059Z", "20240501 120059Z"]
)
def test_malformed_timestamp_is_rejected_with_aws_wording(value):
    with pytest.raises(sigv4.SignatureFormatError) as raised:
        sigv4.parse_timestamp(value)
    assert raised.value.message == (f"Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601")


# --- Authorization header -------------------------------------------------------------


def test_botocore_authorization_header_parses():
    header = (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    )
    parsed = sigv4.parse_authorization(header, has_date=True)
    assert parsed == sigv4.Authorization(
        sigv4.Credential("AKIDEXAMPLE", "20150830", "us-east-1", "iam", "aws4_request"),
        ("content-type", "host", "x-amz-date"),
        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
    )
    assert parsed.credential.scope == "20150830/us-east-1/iam/aws4_request"


@pytest.mark.parametrize(
    "header",
    [
        "AWS4-HMAC-SHA256 Credential=K/20150830/us-east-1/iam/aws4_request,SignedHeaders=host,Signature=ab",
        "  AWS4-HMAC-SHA256   Credential=K/20150830/us-east-1/iam/aws4_request ,  SignedHeaders=Host ,Signature=ab  ",
        "AWS4-HMAC-SHA256 Signature=ab, SignedHeaders=host, Credential=K/20150830/us-east-1/iam/aws4_request",
    ],
    ids=["no-spaces", "extra-spaces-and-upper-case-header", "reordered"],
)
def test_authorization_header_parsing_is_tolerant(header):
    parsed = sigv4.parse_authorization(header, has_date=True)
    assert (parsed.credential.access_key_id, parsed.signed_headers, parsed.signature) == ("K", ("host",), "ab")


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet="aZ09-_.~=&%+/:éAFaf27", max_size=32))
def test_canonical_form_is_recognised_as_its_pattern_defines_it(raw):
    assert sigv4._is_canonical(raw) is (sigv4._CANONICAL_QUERY.fullmatch(raw) is not None)


@pytest.mark.parametrize("code", [f"{byte:02X}" for byte in range(256)] + [f"{byte:02x}" for byte in range(256)])
def test_every_escape_is_recognised_as_the_pattern_defines_it(code):
    for raw in (f"a=%{code}", f"%{code}=b&c=d", f"a=b&c=x%{code}y"):
        assert sigv4._is_canonical(raw) is (sigv4._CANONICAL_QUERY.fullmatch(raw) is not None)
