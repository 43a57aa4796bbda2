"""Presigned (query-string) SigV4 against botocore's ``SigV4QueryAuth``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from urllib.parse import quote

import pytest
from botocore.awsrequest import AWSRequest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.auth import presign, sigv4
from tessera.auth.authenticate import HttpRequest, verify
from tessera.errors import (
    AccessDenied,
    IncompleteSignature,
    InvalidClientTokenId,
    MissingAuthenticationToken,
    SignatureDoesNotMatch,
)

STS = "https://sts.amazonaws.com/"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
GET_CALLER_IDENTITY = STS + "?Action=GetCallerIdentity&Version=2011-06-15"

VECTORS = {
    "get-caller-identity-url": (lambda: AWSRequest("GET", GET_CALLER_IDENTITY), False),
    "get-caller-identity-with-session-token": (lambda: AWSRequest("GET", GET_CALLER_IDENTITY), True),
    "form-body-moved-into-query": (
        lambda: AWSRequest(
            "POST",
            STS,
            data={"Action": "AssumeRole", "RoleSessionName": "a+b=c@d", "RoleArn": "arn:aws:iam::123456789012:role/x"},
            headers={"Content-Type": FORM},
        ),
        False,
    ),
    "eks-style-signed-extra-header": (
        lambda: AWSRequest("GET", GET_CALLER_IDENTITY, headers={"x-k8s-aws-id": "my-cluster"}),
        True,
    ),
}


def tessera_steps(server: HttpRequest) -> tuple[str, str]:
    query = presign.read_presigned(server.raw_query)
    assert query is not None
    params = query.params
    creq = presign.canonical_request_of(server.method, server.path, query, server.headers, sigv4.payload_hash(server.body))
    pairs = sigv4.query_pairs(server.raw_query)
    decoded = presign.presigned_canonical_request(
        server.method, server.path, pairs, server.headers, presign.parse_presigned(pairs), sigv4.payload_hash(server.body)
    )
    assert decoded == creq, "the pair-decoding path disagrees with read_presigned"
    return creq, sigv4.string_to_sign(params.timestamp, params.credential.scope, creq)


@pytest.mark.parametrize(("build", "session"), VECTORS.values(), ids=VECTORS.keys())
def test_botocore_presigned_url_verifies(build, session, oracle, resolver):
    request = build()
    botocore = oracle.sign_query(request, "sts", session=session)
    server = oracle.received(request)

    creq, sts = tessera_steps(server)
    assert creq == botocore.canonical_request, "canonical request differs"
    assert sts == botocore.string_to_sign, "string to sign differs"
    verified = verify(server, oracle.signed_at(request), resolver)

    assert verified.caller == (oracle.SESSION if session else oracle.ALICE)
    assert (verified.service, verified.region) == ("sts", "us-east-1")
    assert "authorization" not in server.headers


@pytest.fixture
def presigned(oracle):
    request = AWSRequest("GET", GET_CALLER_IDENTITY)
    oracle.sign_query(request, "sts", expires=900)
    return oracle.received(request), oracle.signed_at(request)


def with_query(request: HttpRequest, old: str, new: str) -> HttpRequest:
    query = request.raw_query.decode()
    assert old in query
    return dataclasses.replace(request, raw_query=query.replace(old, new).encode())


def basic(when: dt.datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%SZ")


@pytest.mark.parametrize("seconds", [0, 899, 900], ids=lambda s: f"after-{s}s")
def test_presigned_url_is_valid_until_it_expires(seconds, presigned, resolver):
    request, signed_at = presigned
    verify(request, signed_at + dt.timedelta(seconds=seconds), resolver)


def test_expired_presigned_url_does_not_match(presigned, resolver):
    request, signed_at = presigned
    now = signed_at + dt.timedelta(seconds=901)
    with pytest.raises(SignatureDoesNotMatch) as raised:
        verify(request, now, resolver)
    assert raised.value.message == (
        f"Signature expired: {basic(signed_at)} is now earlier than {basic(now - dt.timedelta(seconds=900))} ({basic(now)} - 900 sec.)"
    )


def test_presigned_url_dated_beyond_the_skew_window_is_not_yet_current(presigned, resolver):
    request, signed_at = presigned
    now = signed_at - dt.timedelta(minutes=16)
    with pytest.raises(SignatureDoesNotMatch) as raised:
        verify(request, now, resolver)
    assert raised.value.message == (
        f"Signature not yet current: {basic(signed_at)} is still later than "
        f"{basic(now + dt.timedelta(minutes=15))} ({basic(now)} + 15 min.)"
    )


REQUIRED = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"]


def without(request: HttpRequest, name: str) -> HttpRequest:
    query = "&".join(item for item in request.raw_query.decode().split("&") if not item.startswith(name + "="))
    return dataclasses.replace(request, raw_query=query)


@pytest.mark.parametrize("missing", REQUIRED[1:])
def test_missing_presign_parameter_is_named(missing, presigned, resolver):
    request, now = presigned
    with pytest.raises(IncompleteSignature) as raised:
        verify(without(request, missing), now, resolver)
    assert raised.value.message == (f"AWS query-string parameters must include '{missing}'. Re-examine the query-string parameters.")


def test_url_without_x_amz_algorithm_is_missing_authentication_token(presigned, resolver):
    request, now = presigned
    with pytest.raises(MissingAuthenticationToken):
        verify(without(request, "X-Amz-Algorithm"), now, resolver)


def test_every_missing_presign_parameter_is_listed_in_order():
    with pytest.raises(IncompleteSignature) as raised:
        presign.parse_presigned([(b"Action", b"GetCallerIdentity")])
    assert raised.value.message == (
        " ".join(f"AWS query-string parameters must include '{name}'." for name in REQUIRED) + " Re-examine the query-string parameters."
    )


def test_query_sent_in_another_encoding_reads_the_same(presigned):
    request, _ = presigned
    raw = request.raw_query if isinstance(request.raw_query, str) else request.raw_query.decode()
    assert "%2F" in raw and sigv4.sent_pairs(raw) is not None
    lower_hex = raw.replace("%2F", "%2f")
    assert sigv4.sent_pairs(lower_hex) is None
    assert presign.read_presigned(lower_hex) == presign.read_presigned(raw)


def test_query_without_x_amz_algorithm_is_not_read_as_presigned():
    assert presign.read_presigned("Action=GetCallerIdentity&X-Amz-Signature=00") is None
    assert presign.read_presigned("Action=GetCallerIdentity&X-Amz-Signature=0+0") is None
    assert presign.read_presigned("") is None


def test_query_without_x_amz_algorithm_is_not_presigned():
    assert not presign.is_presigned(sigv4.query_pairs("Action=GetCallerIdentity&X-Amz-Signature=00"))
    assert presign.is_presigned(sigv4.query_pairs("X-Amz-Algorithm=AWS4-HMAC-SHA256"))


@pytest.mark.parametrize(
    ("expires", "message"),
    [
        ("604801", "X-Amz-Expires must be less than a week (in seconds) that is 604800"),
        ("-1", "X-Amz-Expires must be non-negative"),
        ("soon", "X-Amz-Expires should be a number"),
        ("%C2%B2%C2%B2", "X-Amz-Expires should be a number"),
        ("%D9%A1%D9%A2%D9%A0", "X-Amz-Expires should be a number"),
        ("", "X-Amz-Expires should be a number"),
        ("-", "X-Amz-Expires should be a number"),
        ("1" * 5000, "X-Amz-Expires must be less than a week (in seconds) that is 604800"),
        ("-" + "1" * 5000, "X-Amz-Expires must be non-negative"),
        ("0" * 5000 + "604801", "X-Amz-Expires must be less than a week (in seconds) that is 604800"),
    ],
    ids=[
        "over-a-week",
        "negative",
        "not-a-number",
        "superscript-digits",
        "arabic-indic-digits",
        "empty",
        "bare-minus",
        "5000-digits",
        "5000-digits-negative",
        "leading-zeros-over-a-week",
    ],
)
def test_out_of_range_expiry_is_incomplete_signature(expires, message, presigned, resolver):
    request, now = presigned
    with pytest.raises(IncompleteSignature) as raised:
        verify(with_query(request, "X-Amz-Expires=900", f"X-Amz-Expires={expires}"), now, resolver)
    assert raised.value.message == message


def test_absent_expiry_defaults_to_fifteen_minutes(presigned):
    request, _ = presigned
    pairs = [pair for pair in sigv4.query_pairs(request.raw_query) if pair[0] != b"X-Amz-Expires"]
    assert presign.parse_presigned(pairs).expires == presign.DEFAULT_EXPIRES == 900


TAMPERING = {
    "operation-changed": ("Action=GetCallerIdentity", "Action=GetSessionToken"),
    "expiry-extended": ("X-Amz-Expires=900", "X-Amz-Expires=3600"),
    "parameter-added": ("Version=2011-06-15", "Version=2011-06-15&DurationSeconds=900"),
    "signature-altered": ("X-Amz-Signature=", "X-Amz-Signature=f"),
}


@pytest.mark.parametrize(("old", "new"), TAMPERING.values(), ids=TAMPERING.keys())
def test_tampered_presigned_url_does_not_match(old, new, presigned, resolver):
    request, now = presigned
    with pytest.raises(SignatureDoesNotMatch):
        verify(with_query(request, old, new), now, resolver)


def test_presigned_session_token_is_checked_by_the_resolver(oracle, resolver):
    request = AWSRequest("GET", GET_CALLER_IDENTITY)
    oracle.sign_query(request, "sts", session=True)
    server = oracle.received(request)
    token = quote(oracle.SESSION_TOKEN, safe="-_.~")
    with pytest.raises(InvalidClientTokenId):
        verify(with_query(server, f"X-Amz-Security-Token={token}", "X-Amz-Security-Token=forged"), oracle.signed_at(request), resolver)


@pytest.mark.parametrize("header", ["x-amz-target", "x-amz-security-token", "x-amz-date", "x-amz-anything"])
def test_presigned_url_with_an_unsigned_amz_header_is_refused(header, presigned, resolver):
    """A presigned URL signs ``host`` only: an ``x-amz-*`` header added to it is refused
    before anything else, whatever it says."""
    request, now = presigned
    headers = dict(request.headers)
    headers[header] = "AWSOrganizationsV20161128.ListAccounts"
    with pytest.raises(AccessDenied) as raised:
        verify(dataclasses.replace(request, headers=headers), now, resolver)
    assert raised.value.message == f"There were headers present in the request which were not signed: {header}"


def test_leading_zeros_in_expires_are_read_as_the_number(presigned):
    request, _ = presigned
    raw = request.raw_query if isinstance(request.raw_query, str) else request.raw_query.decode()
    pairs = sigv4.query_pairs(raw.replace("X-Amz-Expires=900", "X-Amz-Expires=000900"))
    assert presign.parse_presigned(pairs).expires == 900


def _expires_as_the_pattern_reads_it(value):
    match = re.fullmatch(r"(-?)0*([0-9]*)", value) if value.isascii() else None
    if match is None or value in ("", "-"):
        return "X-Amz-Expires should be a number"
    sign, digits = match.groups()
    if sign and digits:
        return "X-Amz-Expires must be non-negative"
    if len(digits) > 6 or int(digits or "0") > presign.MAX_EXPIRES:
        return f"X-Amz-Expires must be less than a week (in seconds) that is {presign.MAX_EXPIRES}"
    return int(digits or "0")


@pytest.mark.parametrize(
    "value", ["0", "00", "1", "1800", "0001800", "604800", "604801", "999999", "9999999", "-0", "-1", "", "-", "+1", "1 ", "١٢", "1e3"]
)
def test_expires_reads_as_its_pattern_defines_it(value):
    try:
        read = presign._parse_expires(value)
    except IncompleteSignature as error:
        read = error.message
    assert read == _expires_as_the_pattern_reads_it(value)


_PRESIGN_VALUES = {
    "X-Amz-Algorithm": ["AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", "%2F"],
    "X-Amz-Credential": ["AKID%2F20240501%2Fus-east-1%2Fsts%2Faws4_request", "AKID%2F20240501", "AKID"],
    "X-Amz-Date": ["20240501T120000Z", "20240501T1200", "20241301T120000Z"],
    "X-Amz-Expires": ["900", "0", "604801", "-1", "x"],
    "X-Amz-SignedHeaders": ["host", "host%3Bx-amz-date", "Host"],
    "X-Amz-Signature": ["ab12", "%2F"],
    "X-Amz-Security-Token": ["tok%2Fen%3D", "token"],
    "Action": ["GetCallerIdentity"],
}


def _outcome(read):
    try:
        return read()
    except IncompleteSignature as error:
        return ("IncompleteSignature", error.message)


_PRESIGN_ITEMS = st.sampled_from([(name, value) for name, values in _PRESIGN_VALUES.items() for value in values])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PRESIGN_ITEMS, max_size=10))
def test_a_query_read_as_sent_reads_as_its_decoded_pairs(items):
    raw = "&".join(f"{name}={value}" for name, value in items)
    pairs = sigv4.query_pairs(raw)

    def slow():
        if not presign.is_presigned(pairs):
            return None
        return presign.PresignedQuery(presign.parse_presigned(pairs), sigv4.canonical_query_from_pairs(pairs, {b"X-Amz-Signature"}))

    assert _outcome(lambda: presign.read_presigned(raw)) == _outcome(slow)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=presign.MAX_EXPIRES),
    st.integers(min_value=-2, max_value=2),
    st.integers(min_value=0, max_value=999_999),
    st.sampled_from([dt.timedelta(minutes=15), dt.timedelta(seconds=1, microseconds=1), dt.timedelta(0)]),
)
def test_presigned_window_is_the_timedelta_rule(expires, seconds, microseconds, skew):
    signed_at = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    params = presign.PresignedParams(None, "20240501T120000Z", signed_at, expires, ("host",), "", None)  # type: ignore[arg-type]
    for now in (
        signed_at + dt.timedelta(seconds=expires + seconds, microseconds=microseconds),
        signed_at - skew + dt.timedelta(seconds=seconds, microseconds=microseconds),
    ):
        inside = now - dt.timedelta(seconds=expires) <= signed_at <= now + skew
        try:
            presign.check_presigned_window(params, now, skew)
        except SignatureDoesNotMatch:
            assert not inside
        else:
            assert inside
