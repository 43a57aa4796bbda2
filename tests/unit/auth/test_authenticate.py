"""verify() against botocore's own signer: every vector boto3 could send verifies, and every
alteration fails with AWS's code and wording."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.auth import sigv4
from tessera.auth.authenticate import (
    AuthSettings,
    HttpRequest,
    SigningKeyCache,
    check_all_amz_headers_signed,
    check_service,
    headers_from_raw,
    verify,
)
from tessera.errors import (
    SIGNATURE_MISMATCH_MESSAGE,
    AccessDenied,
    IncompleteSignature,
    InvalidClientTokenId,
    MissingAuthenticationToken,
    SignatureDoesNotMatch,
)

FORM = "application/x-www-form-urlencoded; charset=utf-8"
STS = "https://sts.amazonaws.com/"
IAM = "https://iam.amazonaws.com/"


@dataclass(frozen=True)
class Vector:
    id: str
    service: str
    build: Callable[[], AWSRequest]
    session: bool = False
    region: str = "us-east-1"


def form(url: str, params: dict[str, str], **headers: str) -> Callable[[], AWSRequest]:
    """A Query-protocol POST as boto3 sends it: form body, form content type."""
    return lambda: AWSRequest("POST", url, data=params, headers={"Content-Type": FORM, **headers})


VECTORS = [
    Vector("sts-get-caller-identity", "sts", form(STS, {"Action": "GetCallerIdentity", "Version": "2011-06-15"})),
    Vector(
        "sts-assume-role-special-characters",
        "sts",
        form(
            STS,
            {
                "Action": "AssumeRole",
                "Version": "2011-06-15",
                "RoleArn": "arn:aws:iam::123456789012:role/path/deploy",
                "RoleSessionName": "a+b=c@d,e.f-g",
                "ExternalId": "ext/id:with~tilde and space",
                "Policy": json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Sid": "é ü 中"}]}),
            },
        ),
    ),
    Vector("iam-list-users-with-session-token", "iam", form(IAM, {"Action": "ListUsers", "Version": "2010-05-08"}), session=True),
    Vector(
        "sts-regional-endpoint-and-region",
        "sts",
        form("https://sts.eu-west-1.amazonaws.com/", {"Action": "GetCallerIdentity", "Version": "2011-06-15"}),
        region="eu-west-1",
    ),
    Vector(
        "get-with-encoded-query-string",
        "sts",
        lambda: AWSRequest(
            "GET",
            STS + "?Version=2011-06-15&Action=GetCallerIdentity&Extra=a%20b%2Bc%2F~%C3%A9%3D&Empty=&Dup=2&Dup=1",
        ),
    ),
    Vector(
        "get-with-botocore-params",
        "iam",
        lambda: AWSRequest("GET", IAM, params={"Action": "ListUsers", "Version": "2010-05-08", "PathPrefix": "/a/+c~*'()!é"}),
        session=True,
    ),
    Vector(
        "organizations-json",
        "organizations",
        lambda: AWSRequest(
            "POST",
            "https://organizations.us-east-1.amazonaws.com/",
            data=b'{"MaxResults": 5}',
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "AWSOrganizationsV20161128.ListAccounts",
            },
        ),
    ),
    Vector(
        "unusual-header-spacing",
        "sts",
        form(
            STS,
            {"Action": "GetCallerIdentity", "Version": "2011-06-15"},
            **{"X-Custom-Spacing": "  lots   of \t  inner   space  ", "X-Empty": ""},
        ),
    ),
    Vector("local-endpoint-with-port", "sts", form("http://localhost:8686/", {"Action": "GetCallerIdentity", "Version": "2011-06-15"})),
    Vector(
        "date-header-instead-of-x-amz-date",
        "iam",
        form(IAM, {"Action": "ListRoles", "Version": "2010-05-08"}, Date="Mon, 01 Jan 2024 00:00:00 GMT"),
    ),
    Vector(
        "declared-content-sha256",
        "sts",
        form(
            STS,
            {"Action": "GetCallerIdentity", "Version": "2011-06-15"},
            **{"X-Amz-Content-SHA256": hashlib.sha256(b"Action=GetCallerIdentity&Version=2011-06-15").hexdigest()},
        ),
    ),
    Vector(
        "path-with-dot-and-empty-segments",
        "sts",
        form("https://sts.amazonaws.com/a/./b/../c//d%20e/", {"Action": "GetCallerIdentity", "Version": "2011-06-15"}),
    ),
]


def tessera_steps(server: HttpRequest) -> tuple[str, str]:
    """Tessera's canonical request and string to sign, composed from the public steps."""
    auth = sigv4.parse_authorization(server.headers["authorization"], has_date=True)
    if "x-amz-date" in server.headers:
        timestamp = server.headers["x-amz-date"]
    else:
        timestamp = sigv4.format_timestamp(email.utils.parsedate_to_datetime(server.headers["date"]))
    creq = sigv4.canonical_request(
        server.method,
        sigv4.canonical_uri(server.path),
        sigv4.canonical_query_string(server.raw_query),
        sigv4.canonical_headers(server.headers, auth.signed_headers),
        ";".join(auth.signed_headers),
        server.headers.get("x-amz-content-sha256", sigv4.payload_hash(server.body)),
    )
    return creq, sigv4.string_to_sign(timestamp, auth.credential.scope, creq)


@pytest.mark.parametrize("vector", VECTORS, ids=[v.id for v in VECTORS])
def test_botocore_signed_request_verifies(vector, oracle, resolver):
    request = vector.build()
    botocore = oracle.sign_header(request, vector.service, session=vector.session, region=vector.region)
    server = oracle.received(request)

    creq, sts = tessera_steps(server)
    assert creq == botocore.canonical_request, "canonical request differs"
    assert sts == botocore.string_to_sign, "string to sign differs"
    verified = verify(server, oracle.signed_at(request), resolver)

    expected_caller = oracle.SESSION if vector.session else oracle.ALICE
    assert (verified.caller, verified.access_key_id) == (expected_caller, expected_caller.access_key_id)
    assert (verified.region, verified.service) == (vector.region, vector.service)
    assert verified.signed_headers == tuple(sorted(verified.signed_headers))
    assert "host" in verified.signed_headers


@pytest.fixture
def signed(oracle):
    """A boto3-style STS POST signed with botocore: (server request, signing time)."""
    request = AWSRequest("POST", STS, data={"Action": "GetCallerIdentity", "Version": "2011-06-15"}, headers={"Content-Type": FORM})
    oracle.sign_header(request, "sts")
    return oracle.received(request), oracle.signed_at(request)


def with_headers(request: HttpRequest, **changes: str | None) -> HttpRequest:
    """``content_type="x"`` sets ``content-type``; ``None`` removes the header."""
    headers = dict(request.headers)
    for name, value in changes.items():
        if value is None:
            headers.pop(name.replace("_", "-"), None)
        else:
            headers[name.replace("_", "-")] = value
    return dataclasses.replace(request, headers=headers)


def with_authorization(request: HttpRequest, old: str, new: str) -> HttpRequest:
    return with_headers(request, authorization=request.headers["authorization"].replace(old, new))


# --- Signature mismatches -------------------------------------------------------------

ALTERATIONS = {
    "altered-body": lambda r: dataclasses.replace(r, body=r.body.replace(b"GetCallerIdentity", b"GetSessionToken")),
    "appended-body": lambda r: dataclasses.replace(r, body=r.body + b"&DurationSeconds=900"),
    "altered-signed-header": lambda r: with_headers(r, content_type="application/x-www-form-urlencoded"),
    "altered-host": lambda r: with_headers(r, host="sts.amazonaws.com:443"),
    "removed-signed-header": lambda r: with_headers(r, content_type=None),
    "added-query-parameter": lambda r: dataclasses.replace(r, raw_query=b"Action=DeleteUser"),
    "altered-method": lambda r: dataclasses.replace(r, method="PUT"),
    "altered-path": lambda r: dataclasses.replace(r, path="/other"),
    "altered-signature": lambda r: with_authorization(r, "Signature=", "Signature=0"),
    "signed-headers-reduced": lambda r: with_authorization(r, "content-type;", ""),
}


@pytest.mark.parametrize("alter", ALTERATIONS.values(), ids=ALTERATIONS.keys())
def test_altered_request_does_not_match(alter, signed, resolver):
    request, now = signed
    with pytest.raises(SignatureDoesNotMatch) as raised:
        verify(alter(request), now, resolver)
    assert raised.value.message == SIGNATURE_MISMATCH_MESSAGE


def test_wrong_secret_does_not_match(signed, resolver, oracle):
    request, now = signed
    resolver.keys[oracle.ACCESS_KEY] = ("the-wrong-secret", oracle.ALICE, None)
    with pytest.raises(SignatureDoesNotMatch):
        verify(request, now, resolver, cache=SigningKeyCache())


def test_debug_mismatch_message_shows_canonical_request_and_string_to_sign(signed, resolver):
    request, now = signed
    altered = dataclasses.replace(request, body=b"Action=GetSessionToken&Version=2011-06-15")
    with pytest.raises(SignatureDoesNotMatch) as raised:
        verify(altered, now, resolver, AuthSettings(debug=True))
    creq, sts = tessera_steps(altered)
    assert raised.value.message == (
        f"{SIGNATURE_MISMATCH_MESSAGE}\n\nThe Canonical String for this request should have been\n'{creq}'\n\n"
        f"The String-to-Sign should have been\n'{sts}'\n"
    )


# --- Credential resolution ------------------------------------------------------------


def test_unknown_access_key_is_invalid_client_token_id(signed, resolver, oracle):
    request, now = signed
    del resolver.keys[oracle.ACCESS_KEY]
    with pytest.raises(InvalidClientTokenId) as raised:
        verify(request, now, resolver)
    assert raised.value.message == "The security token included in the request is invalid."


def test_session_token_is_passed_to_the_resolver(oracle, resolver):
    request = AWSRequest("POST", STS, data={"Action": "GetCallerIdentity", "Version": "2011-06-15"}, headers={"Content-Type": FORM})
    oracle.sign_header(request, "sts", session=True)
    server = oracle.received(request)
    now = oracle.signed_at(request)
    assert verify(server, now, resolver).caller == oracle.SESSION
    with pytest.raises(InvalidClientTokenId):
        verify(with_headers(server, x_amz_security_token=None), now, resolver)


# --- Timestamps -----------------------------------------------------------------------


def basic(when: dt.datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%SZ")


@pytest.mark.parametrize("minutes", [-15, -14, 0, 14, 15], ids=lambda m: f"{m:+d}min")
def test_timestamp_within_fifteen_minutes_is_accepted(minutes, signed, resolver):
    request, signed_at = signed
    verify(request, signed_at + dt.timedelta(minutes=minutes), resolver)


def test_timestamp_sixteen_minutes_old_is_expired(signed, resolver):
    request, signed_at = signed
    now = signed_at + dt.timedelta(minutes=16)
    with pytest.raises(SignatureDoesNotMatch) as raised:
        verify(request, now, resolver)
    assert raised.value.message == (
        f"Signature expired: {basic(signed_at)} is now earlier than {basic(now - dt.timedelta(minutes=15))} ({basic(now)} - 15 min.)"
    )


def test_timestamp_sixteen_minutes_ahead_is_not_yet_current(signed, resolver):
    request, signed_at = signed
    now = signed_at - dt.timedelta(minutes=16)
    with pytest.raises(SignatureDoesNotMatch) as raised:
        verify(request, now, resolver)
    assert raised.value.message == (
        f"Signature not yet current: {basic(signed_at)} is still later than "
        f"{basic(now + dt.timedelta(minutes=15))} ({basic(now)} + 15 min.)"
    )


def test_clock_skew_window_is_configurable(signed, resolver):
    request, signed_at = signed
    now = signed_at + dt.timedelta(minutes=6)
    with pytest.raises(SignatureDoesNotMatch, match=r"\(\d{8}T\d{6}Z - 5 min\.\)$"):
        verify(request, now, resolver, AuthSettings(clock_skew=dt.timedelta(minutes=5)))


def test_malformed_x_amz_date_is_incomplete_signature(signed, resolver):
    request, now = signed
    with pytest.raises(IncompleteSignature) as raised:
        verify(with_headers(request, x_amz_date="2024-05-01T12:00:00Z"), now, resolver)
    assert raised.value.message == (
        "Date must be in ISO-8601 'basic format'. Got '2024-05-01T12:00:00Z'. See http://en.wikipedia.org/wiki/ISO_8601"
    )


# --- Credential scope -----------------------------------------------------------------


def test_scope_date_must_match_the_timestamp(signed, resolver):
    request, now = signed
    stamp = request.headers["x-amz-date"]
    other = (now + dt.timedelta(days=1)).strftime("%Y%m%d")
    with pytest.raises(SignatureDoesNotMatch) as raised:
        verify(with_authorization(request, f"/{stamp[:8]}/", f"/{other}/"), now, resolver)
    assert raised.value.message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        f"'{other}' != '{stamp[:8]}', from '{stamp}'."
    )


@pytest.mark.parametrize(
    ("old", "new", "settings", "message"),
    [
        ("/sts/", "/s3/", AuthSettings(), "Credential should be scoped to correct service: 's3'."),
        ("/sts/", "/iam/", AuthSettings(services=frozenset({"sts"})), "Credential should be scoped to correct service: 'iam'."),
        (
            "/us-east-1/",
            "/mars-1/",
            AuthSettings(regions=frozenset({"us-east-1"})),
            "Credential should be scoped to a valid region, not 'mars-1'.",
        ),
        (
            "/aws4_request",
            "/aws5_request",
            AuthSettings(),
            "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'.",
        ),
    ],
    ids=["foreign-service", "service-not-served", "region-not-allowed", "bad-terminator"],
)
def test_bad_credential_scope_does_not_match(old, new, settings, message, signed, resolver):
    request, now = signed
    with pytest.raises(SignatureDoesNotMatch) as raised:
        verify(with_authorization(request, old, new), now, resolver, settings)
    assert raised.value.message == message


def test_any_region_is_accepted_by_default(oracle, resolver):
    request = AWSRequest("POST", STS, data={"Action": "GetCallerIdentity", "Version": "2011-06-15"}, headers={"Content-Type": FORM})
    oracle.sign_header(request, "sts", region="ap-southeast-7")
    assert verify(oracle.received(request), oracle.signed_at(request), resolver).region == "ap-southeast-7"


# --- Malformed Authorization ----------------------------------------------------------

AUTH = "AWS4-HMAC-SHA256"
CRED = "Credential=AKIAQYLPMN5HHHFPZAM2/20240501/us-east-1/sts/aws4_request"
SIGNED = "SignedHeaders=content-type;host;x-amz-date"
SIG = "Signature=" + "0" * 64
INCOMPLETE = {
    "no-credential": (f"{AUTH} {SIGNED}, {SIG}", "Authorization header requires 'Credential' parameter."),
    "no-signature": (f"{AUTH} {CRED}, {SIGNED}", "Authorization header requires 'Signature' parameter."),
    "no-signed-headers": (f"{AUTH} {CRED}, {SIG}", "Authorization header requires 'SignedHeaders' parameter."),
    "nothing-but-algorithm": (
        f"{AUTH} Foo=bar",
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter.",
    ),
    "bearer-token": (
        "eyJhbGciOiJIUzI1NiJ9.e30.sig",
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter.",
    ),
}


@pytest.mark.parametrize(("header", "sentences"), INCOMPLETE.values(), ids=INCOMPLETE.keys())
def test_missing_authorization_parts_are_named(header, sentences, signed, resolver):
    request, now = signed
    with pytest.raises(IncompleteSignature) as raised:
        verify(with_headers(request, authorization=header), now, resolver)
    assert raised.value.message == f"{sentences} Authorization={header}"
    assert raised.value.status == 400


def test_missing_date_is_reported_with_the_other_parts(signed, resolver):
    request, now = signed
    header = f"{AUTH} Foo=bar"
    with pytest.raises(IncompleteSignature) as raised:
        verify(with_headers(request, authorization=header, x_amz_date=None), now, resolver)
    assert raised.value.message == (
        "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. "
        "Authorization header requires 'SignedHeaders' parameter. "
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        f"Authorization={header}"
    )


MALFORMED = {
    "space-after-credential-equals": (
        f"{AUTH} Credential= AKIAQYLPMN5HHHFPZAM2/20240501/us-east-1/sts/aws4_request, {SIGNED}, {SIG}",
        "'AKIAQYLPMN5HHHFPZAM2/20240501/us-east-1/sts/aws4_request' not a valid key=value pair (missing equal-sign) "
        f"in Authorization header: '{AUTH} Credential= AKIAQYLPMN5HHHFPZAM2/20240501/us-east-1/sts/aws4_request, {SIGNED}, {SIG}'.",
    ),
    "header-name-repeated-in-value": (
        f"Authorization: {AUTH} {CRED}, {SIGNED}, {SIG}",
        f"'{AUTH}' not a valid key=value pair (missing equal-sign) in Authorization header: "
        f"'Authorization: {AUTH} {CRED}, {SIGNED}, {SIG}'.",
    ),
    "short-credential": (
        f"{AUTH} Credential=AKIAQYLPMN5HHHFPZAM2/20240501/sts, {SIGNED}, {SIG}",
        "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
        "got 'AKIAQYLPMN5HHHFPZAM2/20240501/sts'",
    ),
    "sigv4a": (f"AWS4-ECDSA-P256-SHA256 {CRED}, {SIGNED}, {SIG}", "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'."),
    "host-not-signed": (
        f"{AUTH} {CRED}, SignedHeaders=content-type;x-amz-date, {SIG}",
        "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    ),
}


@pytest.mark.parametrize(("header", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_authorization_is_incomplete_signature(header, message, signed, resolver):
    request, now = signed
    with pytest.raises(IncompleteSignature) as raised:
        verify(with_headers(request, authorization=header), now, resolver)
    assert raised.value.message == message


def test_request_without_any_signature_is_missing_authentication_token(resolver):
    request = HttpRequest("POST", "/", b"", {"host": "sts.amazonaws.com"}, b"Action=GetCallerIdentity")
    with pytest.raises(MissingAuthenticationToken) as raised:
        verify(request, dt.datetime(2024, 5, 1, tzinfo=dt.UTC), resolver)
    assert raised.value.message == "Request is missing Authentication Token"


# --- Payload --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ("UNSIGNED-PAYLOAD", "x-amz-content-sha256 'UNSIGNED-PAYLOAD' is not accepted by this service; sign the payload."),
        (sigv4.EMPTY_PAYLOAD_SHA256, "The provided 'x-amz-content-sha256' header does not match what was computed."),
    ],
    ids=["unsigned-payload", "digest-of-another-body"],
)
def test_declared_payload_hash_must_be_the_body_digest(declared, message, oracle, resolver):
    request = AWSRequest(
        "POST",
        STS,
        data={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
        headers={"Content-Type": FORM, "X-Amz-Content-SHA256": declared},
    )
    oracle.sign_header(request, "sts")
    with pytest.raises(SignatureDoesNotMatch) as raised:
        verify(oracle.received(request), oracle.signed_at(request), resolver)
    assert raised.value.message == message


def _s3_signed(oracle, *, presign: bool) -> AWSRequest:
    """A PUT signed as botocore signs S3 over HTTPS with payload signing off (the body left
    unsigned: ``X-Amz-Content-SHA256: UNSIGNED-PAYLOAD``), or a presigned S3 GET URL."""
    request = AWSRequest("GET" if presign else "PUT", "https://bucket.example.com/key", data=None if presign else b"object body")
    request.context["payload_signing_enabled"] = False
    if presign:
        S3SigV4QueryAuth(oracle.credentials(False), "s3", "us-east-1", expires=300).add_auth(request)
    else:
        SigV4Auth(oracle.credentials(False), "s3", "us-east-1").add_auth(request)
        assert request.headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    return request


@pytest.mark.parametrize("presign", [False, True], ids=["header", "presigned"])
def test_unsigned_payload_only_where_the_service_takes_it(oracle, resolver, presign):
    request = _s3_signed(oracle, presign=presign)
    received = oracle.received(request)
    settings = AuthSettings(services=frozenset({"s3"}))
    now = oracle.signed_at(request)
    with pytest.raises(SignatureDoesNotMatch):
        verify(received, now, resolver, settings)
    taken = dataclasses.replace(received, unsigned_payload=True)
    assert verify(taken, now, resolver, settings).caller == oracle.ALICE
    other_body = dataclasses.replace(taken, body=b"another body")  # the body is not signed
    assert verify(other_body, now, resolver, settings).caller == oracle.ALICE
    other_path = dataclasses.replace(taken, path="/other")
    with pytest.raises(SignatureDoesNotMatch):
        verify(other_path, now, resolver, settings)


@pytest.mark.parametrize("presign", [False, True], ids=["header", "presigned"])
def test_the_path_as_sent_only_where_the_service_signs_it_so(oracle, resolver, presign):
    """S3's signers neither normalise the path nor encode it again; other services do both."""
    request = AWSRequest("GET", "https://bucket.example.com/photos/my%20cat%2Bdog.jpg")
    auth = (
        S3SigV4QueryAuth(oracle.credentials(False), "s3", "us-east-1", expires=300)
        if presign
        else S3SigV4Auth(oracle.credentials(False), "s3", "us-east-1")
    )
    auth.add_auth(request)
    received = dataclasses.replace(oracle.received(request), unsigned_payload=True)
    settings = AuthSettings(services=frozenset({"s3"}))
    now = oracle.signed_at(request)
    with pytest.raises(SignatureDoesNotMatch):
        verify(received, now, resolver, settings)
    assert verify(dataclasses.replace(received, path_as_sent=True), now, resolver, settings).caller == oracle.ALICE


def test_a_body_digest_stands_for_the_body(oracle, resolver):
    request = AWSRequest("POST", STS, data={"Action": "GetCallerIdentity", "Version": "2011-06-15"}, headers={"Content-Type": FORM})
    oracle.sign_header(request, "sts")
    received = oracle.received(request)
    digest = dataclasses.replace(received, body=b"", body_sha256=hashlib.sha256(received.body).hexdigest().upper())
    assert verify(digest, oracle.signed_at(request), resolver).caller == oracle.ALICE
    wrong = dataclasses.replace(digest, body_sha256=sigv4.EMPTY_PAYLOAD_SHA256)
    with pytest.raises(SignatureDoesNotMatch):
        verify(wrong, oracle.signed_at(request), resolver)


# --- Headers and the signing-key cache ------------------------------------------------


def test_repeated_headers_are_trimmed_and_joined_in_arrival_order():
    raw = [(b"Host", b"sts.amazonaws.com"), (b"X-Multi", b"  one "), (b"x-multi", b"two  three"), ("X-Latin", b"caf\xe9")]
    headers = headers_from_raw(raw)
    assert headers == {"host": "sts.amazonaws.com", "x-multi": "one,two  three", "x-latin": "café"}
    assert sigv4.canonical_headers(headers, ("x-multi",)) == "x-multi:one,two three\n"


def test_signing_key_cache_is_bounded_and_signs_with_the_derived_key():
    cache = SigningKeyCache(maxsize=2)
    message = "AWS4-HMAC-SHA256\n20240501T000000Z\nscope\nhash"
    for date in ("20240501", "20240502", "20240503"):
        signer = cache.signer("secret", date, "us-east-1", "sts")
        assert signer.signature(message) == sigv4.signature(sigv4.signing_key("secret", date, "us-east-1", "sts"), message)
        assert cache.signer("secret", date, "us-east-1", "sts") is signer
    assert len(cache) == 2
    other = cache.signer("other", "20240503", "us-east-1", "sts")
    assert other.signature(message) != cache.signer("secret", "20240503", "us-east-1", "sts").signature(message)


@pytest.mark.parametrize("message", ["", "a", "é" * 100, "x" * 64, "y" * 10_000])
@pytest.mark.parametrize("key", [b"", b"k" * 32, b"z" * 64, b"w" * 65, b"v" * 200])
def test_signer_is_hmac_sha256(key: bytes, message: str):
    assert sigv4.Signer(key).signature(message) == sigv4.signature(key, message)
    signer = sigv4.Signer(key)
    assert signer.signature(message) == signer.signature(message)  # the precomputed states are not consumed


# --- Unsigned x-amz-* headers and the scope's service ----------------------------------


@pytest.mark.parametrize("header", ["x-amz-target", "x-amz-security-token", "x-amz-content-sha256", "x-amz-meta"])
def test_unsigned_amz_header_is_refused_before_the_key_is_looked_up(header, signed, resolver):
    request, now = signed
    resolver.keys.clear()  # nothing about the key may be learnt: the refusal comes first
    with pytest.raises(AccessDenied) as raised:
        verify(with_headers(request, **{header.replace("-", "_"): "x"}), now, resolver)
    assert raised.value.message == f"There were headers present in the request which were not signed: {header}"


def test_signed_amz_headers_are_accepted(oracle, resolver):
    request = AWSRequest(
        "POST",
        STS,
        data={"Action": "GetCallerIdentity", "Version": "2011-06-15"},
        headers={"Content-Type": FORM, "X-Amz-Meta": "signed"},
    )
    oracle.sign_header(request, "sts")
    verified = verify(oracle.received(request), oracle.signed_at(request), resolver)
    assert "x-amz-meta" in verified.signed_headers


def test_non_amz_headers_may_be_unsigned(signed, resolver):
    request, now = signed
    headers = {"user_agent": "anything", "x_amzn_trace_id": "Root=1", "content_encoding": "gzip", "x_amz_cf_id": "cf"}
    verify(with_headers(request, **headers), now, resolver)


@pytest.mark.parametrize(("scope", "service"), [("sts", "organizations"), ("sts", "iam"), ("iam", "sts"), ("organizations", "sts")])
def test_operation_service_must_be_the_scope_service(scope, service, signed, resolver):
    request, now = signed
    verified = verify(request, now, resolver)
    verified.service = scope
    with pytest.raises(SignatureDoesNotMatch) as raised:
        check_service(verified, service)
    assert raised.value.message == f"Credential should be scoped to correct service: '{service}'."


def test_operation_of_the_scope_service_passes(signed, resolver):
    request, now = signed
    check_service(verify(request, now, resolver), "sts")


@pytest.mark.parametrize("date", ["\u0662\u0660240501T120000Z", "2024\u00b2501T120000Z", "２０２４0501T120000Z"])
def test_timestamp_with_other_scripts_digits_is_incomplete(date):
    with pytest.raises(sigv4.SignatureFormatError):
        sigv4.parse_timestamp(date)


@pytest.mark.parametrize(
    "date",
    [
        "Mon, 01 Jan 99999999999999999999 00:00:00 GMT",
        "Mon, 01 Jan " + "9" * 5000 + " 00:00:00 GMT",
        "Mon, 01 Jan 2024 99999999999999999999:00:00 GMT",
        "Mon, 01 Jan 2024 00:00:00 +99999999999999999999",
        "Mon, \u0661 Jan 2024 00:00:00 GMT",
    ],
    ids=["20-digit-year", "5000-digit-year", "20-digit-hour", "20-digit-offset", "arabic-indic-day"],
)
def test_unreadable_date_header_is_incomplete_signature(date, signed, resolver):
    request, now = signed
    with pytest.raises(IncompleteSignature) as raised:
        verify(with_headers(request, x_amz_date=None, date=date), now, resolver)
    assert raised.value.message.startswith("Unable to parse the 'Date' header")


_HEADER_NAMES = st.sampled_from(
    ["host", "user-agent", "x-amz-date", "x-amz-target", "x-amz-cf-id", "x-amzn-trace-id", "x-amz-security-token"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_HEADER_NAMES, unique=True), st.lists(_HEADER_NAMES), st.booleans())
def test_unsigned_amz_headers_are_those_the_rule_names(present, signed, as_set):
    headers = dict.fromkeys(present, "v")
    expected = sorted(name for name in present if name.startswith("x-amz-") and name != "x-amz-cf-id" and name not in signed)
    signed_headers = frozenset(signed) if as_set else tuple(signed)
    if not expected:
        check_all_amz_headers_signed(headers, signed_headers)
        return
    with pytest.raises(AccessDenied) as raised:
        check_all_amz_headers_signed(headers, signed_headers)
    assert raised.value.message == f"There were headers present in the request which were not signed: {', '.join(expected)}"
