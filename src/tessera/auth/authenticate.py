"""Request authentication: an HTTP request and a credential lookup in, the verified caller
out, or one of the auth errors of ``tessera.errors``
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).

    request = HttpRequest("POST", "/", b"", headers_from_raw(scope["headers"]), body)
    verified = verify(request, clock.now(), resolver)     # -> Verified(caller, …, service)

``resolver`` is anything with ``resolve(access_key_id, security_token) ->
ResolvedCredential``; it raises ``InvalidClientTokenId`` (unknown or inactive key, missing
or wrong session token, a token sent with an AKIA key) and ``ExpiredToken`` itself.

Order of checks, cheapest and stateless first, so nothing about a key's existence or its
secret leaks through the choice of error:

1. which form: ``Authorization`` header, presigned query, or neither
   (MissingAuthenticationToken);
2. parse (IncompleteSignature);
3. credential scope and timestamp window (SignatureDoesNotMatch with AWS's wording);
4. ``resolver.resolve`` (InvalidClientTokenId / ExpiredToken);
5. recompute and compare the signature in constant time (SignatureDoesNotMatch).

Operations that need no signature (``AssumeRoleWithWebIdentity``, ``AssumeRoleWithSAML``)
are the server's decision: it must not call ``verify`` for them.

The clock-skew window defaults to 15 minutes: real STS responses read
``… (20220127T015928Z - 15 min.)``. Signing keys are cached per (keyed digest of the
secret, date, region, service); the clear secret is never a cache key and never logged.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import secrets
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from tessera.auth import presign, sigv4
from tessera.auth.caller import Caller
from tessera.cache import LRU
from tessera.errors import (
    SIGNATURE_MISMATCH_MESSAGE,
    AccessDenied,
    IncompleteSignature,
    MissingAuthenticationToken,
    SignatureDoesNotMatch,
)

__all__ = [
    "DEFAULT_SETTINGS",
    "UNSIGNED_ALLOWED",
    "UNSIGNED_HEADERS_MESSAGE",
    "AuthSettings",
    "CredentialResolver",
    "HttpRequest",
    "ResolvedCredential",
    "SigningKeyCache",
    "Verified",
    "check_all_amz_headers_signed",
    "check_service",
    "headers_from_raw",
    "verify",
]

_HOST_REQUIRED = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."


@dataclass(slots=True)  # per request: frozen slots would cost a setattr call per field
class HttpRequest:
    """What authentication needs from an HTTP request, exactly as received.

    ``path`` is the raw, still percent-encoded path; ``raw_query`` the raw query string;
    ``headers`` maps lower-case names to values, repeated headers joined with ``,``
    (build it with ``headers_from_raw``); ``body`` the exact bytes, hashed before parsing,
    or, when only their digest is at hand (a request received by another service),
    ``body_sha256``, the hex SHA-256 of the bytes received. ``unsigned_payload`` is for
    a service that, like S3, takes bodies its clients leave unsigned: the payload hash
    ``UNSIGNED-PAYLOAD`` is then accepted, declared in ``x-amz-content-sha256`` or, for a
    presigned URL that declares none, assumed (as S3's presigned URLs are signed); and
    ``path_as_sent`` for one that, like S3, signs the path as sent rather than normalised
    and encoded again (``sigv4.canonical_uri_as_sent``). IAM, STS and Organizations never
    set either."""

    method: str
    path: str
    raw_query: str | bytes
    headers: Mapping[str, str]
    body: bytes = b""
    body_sha256: str | None = None
    unsigned_payload: bool = False
    path_as_sent: bool = False


def headers_from_raw(raw: Iterable[tuple[bytes | str, bytes | str]]) -> dict[str, str]:
    """ASGI-style header pairs → ``HttpRequest.headers``.

    The one place request headers are merged (the server's request path and the tests
    alike): names lower-cased, values decoded as Latin-1 (what ``http.client`` sends),
    each value stripped of the whitespace around it (HTTP's optional whitespace), and
    repeated headers joined with ``,`` in arrival order. Whitespace inside a value is
    kept: what ``aws:UserAgent`` and the audit trail see is the text the client sent;
    only the signature's canonical form collapses it (``sigv4.canonical_headers``), and
    stripping each value first makes that the same as SigV4's per-value ``Trimall``."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name = (raw_name.decode("latin-1") if isinstance(raw_name, bytes) else raw_name).lower()
        value = (raw_value.decode("latin-1") if isinstance(raw_value, bytes) else raw_value).strip(" \t")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


@dataclass(frozen=True, slots=True)
class ResolvedCredential:
    """A key's secret and caller. A resolver that answers a key with the same object
    each time (as the server's does for a long-term key while its account is unchanged)
    lets verification reuse the key's signers (``signers``) without deriving the
    ``SigningKeyCache`` entry's key from the secret on every request."""

    secret_access_key: str = field(repr=False)
    caller: Caller
    signers: dict[tuple[str, str, str], sigv4.Signer] = field(default_factory=dict, repr=False, compare=False)


class CredentialResolver(Protocol):
    def resolve(self, access_key_id: str, security_token: str | None) -> ResolvedCredential:
        """The secret and caller for a key; raises InvalidClientTokenId or ExpiredToken."""
        ...


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """``regions=None`` accepts any region; ``debug`` appends the expected canonical request
    and string to sign to SignatureDoesNotMatch messages, as AWS does."""

    services: frozenset[str] = frozenset({"iam", "sts", "organizations"})
    regions: frozenset[str] | None = None
    clock_skew: dt.timedelta = dt.timedelta(minutes=15)
    debug: bool = False


DEFAULT_SETTINGS = AuthSettings()


@dataclass(slots=True)  # per request: frozen slots would cost a setattr call per field
class Verified:
    caller: Caller
    access_key_id: str
    region: str
    service: str  # from the credential scope: "iam", "sts" or "organizations"
    signed_headers: tuple[str, ...]
    # a presigned request's query pairs as sent (still percent-encoded) when the query
    # is in canonical form: what ``protocol.query.read_sent_form`` decodes, so that the
    # query string is split once per request
    sent_query: list[tuple[str, str]] | None = field(default=None, compare=False, repr=False)


class SigningKeyCache:
    """A small LRU of SigV4 signers (signing keys ready to sign). Entries are keyed by a BLAKE2b digest of the secret
    under a per-process random key, so neither the secret nor a portable hash of it is held."""

    def __init__(self, maxsize: int = 4096) -> None:
        self._salt = secrets.token_bytes(16)
        self._keys: LRU[tuple[bytes, str, str, str], sigv4.Signer] = LRU(maxsize)

    def __len__(self) -> int:
        return len(self._keys)

    def signer(self, secret_access_key: str, date: str, region: str, service: str) -> sigv4.Signer:
        digest = hashlib.blake2b(secret_access_key.encode(), key=self._salt, digest_size=16).digest()
        entry = (digest, date, region, service)
        key = self._keys.get(entry)
        if key is None:
            key = sigv4.Signer(sigv4.signing_key(secret_access_key, date, region, service))
            self._keys.put(entry, key)
        return key


_SHARED_CACHE = SigningKeyCache()
_SIGNERS_PER_CREDENTIAL = 8
"""Scopes (date, region, service) a ``ResolvedCredential`` keeps signers for: the
server's own three services in a region or two, for a day."""


def verify(
    request: HttpRequest,
    now: dt.datetime,
    resolver: CredentialResolver,
    settings: AuthSettings = DEFAULT_SETTINGS,
    cache: SigningKeyCache = _SHARED_CACHE,
) -> Verified:
    """Authenticate a SigV4-signed request (header or presigned) at ``now`` (aware UTC)."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        return _verify_header(request, authorization, now, resolver, settings, cache)
    query = presign.read_presigned(request.raw_query)
    if query is not None:
        return _verify_presigned(request, query, now, resolver, settings, cache)
    raise MissingAuthenticationToken()


def _verify_header(
    request: HttpRequest,
    value: str,
    now: dt.datetime,
    resolver: CredentialResolver,
    settings: AuthSettings,
    cache: SigningKeyCache,
) -> Verified:
    headers = request.headers
    amz_date = headers.get("x-amz-date")
    http_date = headers.get("date") if amz_date is None else None
    try:
        auth = sigv4.parse_authorization(value, has_date=amz_date is not None or http_date is not None)
        timestamp, signed_at = _header_timestamp(amz_date, http_date)
    except sigv4.SignatureFormatError as error:
        raise IncompleteSignature(error.message) from None
    if "host" not in auth.signed_headers:
        raise IncompleteSignature(_HOST_REQUIRED)
    check_all_amz_headers_signed(headers, auth.signed_headers)
    credential = auth.credential
    _check_scope(credential, timestamp, settings)
    _check_clock_skew(timestamp, signed_at, now, settings.clock_skew)
    resolved = resolver.resolve(credential.access_key_id, headers.get("x-amz-security-token"))
    signed_headers = ";".join(auth.signed_headers)
    creq = sigv4.canonical_request(
        request.method,
        sigv4.canonical_uri_as_sent(request.path) if request.path_as_sent else sigv4.canonical_uri(request.path),
        sigv4.canonical_query_string(request.raw_query),
        sigv4.canonical_headers(headers, auth.signed_headers),
        signed_headers,
        _payload_hash(headers, request),
    )
    _check_signature(creq, timestamp, credential, auth.signature, resolved, settings, cache)
    return _verified(resolved, credential, auth.signed_headers)


def _verify_presigned(
    request: HttpRequest,
    query: presign.PresignedQuery,
    now: dt.datetime,
    resolver: CredentialResolver,
    settings: AuthSettings,
    cache: SigningKeyCache,
) -> Verified:
    params = query.params
    if "host" not in params.signed_headers:
        raise IncompleteSignature(_HOST_REQUIRED)
    check_all_amz_headers_signed(request.headers, params.signed_headers)
    credential = params.credential
    _check_scope(credential, params.timestamp, settings)
    presign.check_presigned_window(params, now, settings.clock_skew)
    resolved = resolver.resolve(credential.access_key_id, params.security_token)
    if request.unsigned_payload and "x-amz-content-sha256" not in request.headers:
        payload_hash = sigv4.UNSIGNED_PAYLOAD
    else:
        payload_hash = _payload_hash(request.headers, request)
    as_sent = request.path_as_sent
    creq = presign.canonical_request_of(request.method, request.path, query, request.headers, payload_hash, path_as_sent=as_sent)
    try:
        _check_signature(creq, params.timestamp, credential, params.signature, resolved, settings, cache)
    except SignatureDoesNotMatch:
        if not _identity_url_fetched_with_get(request, query, credential):
            raise
        creq = presign.canonical_request_of("POST", request.path, query, request.headers, payload_hash, path_as_sent=as_sent)
        _check_signature(creq, params.timestamp, credential, params.signature, resolved, settings, cache)
    return _verified(resolved, credential, params.signed_headers, query.sent)


_GET_CALLER_IDENTITY = "Action=GetCallerIdentity"


def _identity_url_fetched_with_get(request: HttpRequest, query: presign.PresignedQuery, credential: sigv4.Credential) -> bool:
    """A presigned ``sts`` GetCallerIdentity URL signed for POST and fetched with a bodiless GET.

    botocore presigns Query-protocol calls for POST unless told otherwise
    (``generate_presigned_url("get_caller_identity")``), and the tools that verify an
    identity by replaying such a URL (Vault-style logins, aws-iam-authenticator) fetch it
    with GET. AWS refuses that pair as a method mismatch; Tessera accepts it for this one
    operation, which reads nothing but the caller and changes nothing: the signature still
    covers every parameter, the host and every signed header, and only the method (GET
    with no body, or POST with an empty one) is taken as equivalent. Any other operation,
    any body, and any other service keep the strict rule (docs/sts.md)."""
    if request.method != "GET" or request.body or credential.service != "sts":
        return False
    actions = [pair for pair in query.canonical_query.split("&") if pair.startswith("Action=")]
    return actions == [_GET_CALLER_IDENTITY]


def _verified(
    resolved: ResolvedCredential,
    credential: sigv4.Credential,
    signed_headers: tuple[str, ...],
    sent_query: list[tuple[str, str]] | None = None,
) -> Verified:
    return Verified(resolved.caller, credential.access_key_id, credential.region, credential.service, signed_headers, sent_query)


_AMZ_PREFIX = "x-amz-"
UNSIGNED_ALLOWED = frozenset({"x-amz-cf-id"})
"""``x-amz-*`` headers a request may carry unsigned: CloudFront adds ``X-Amz-Cf-Id`` to
every request it forwards to an origin, after the client signed it; nothing reads it."""
UNSIGNED_HEADERS_MESSAGE = "There were headers present in the request which were not signed"


def check_all_amz_headers_signed(headers: Mapping[str, str], signed_headers: Collection[str]) -> None:
    """Refuse a request carrying an ``x-amz-*`` header its signature does not cover
    (AccessDenied, AWS's wording; the names follow it, as AWS lists them in
    ``HeadersNotSigned``).

    Such headers select what a request means: ``X-Amz-Target`` picks the protocol and
    the operation, ``X-Amz-Security-Token`` the session. A presigned URL signs only
    ``host`` as a rule, so without this its holder could add ``X-Amz-Target`` and turn a
    signed GetCallerIdentity into any JSON call. AWS documents that the ``x-amz-*``
    headers a request carries belong in its signed headers
    (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html) and
    answers this message when they are not. boto3, the CLI and the JavaScript SDK sign
    every header but a few hop-by-hop and tracing ones (``user-agent``,
    ``x-amzn-trace-id``, …), so they always pass."""
    for name in headers:  # most requests a presigned URL makes carry no x-amz-* header at all
        if name.startswith(_AMZ_PREFIX):
            break
    else:
        return
    # the names left once the signed ones are taken out (one set difference in C, linear
    # in both: a SignedHeaders list of thousands stays cheap), then their prefix
    unsigned = sorted(name for name in headers.keys() - signed_headers if name.startswith(_AMZ_PREFIX) and name not in UNSIGNED_ALLOWED)
    if unsigned:
        shown = ", ".join(name[:64] for name in unsigned[:8])
        raise AccessDenied(f"{UNSIGNED_HEADERS_MESSAGE}: {shown}")


def check_service(verified: Verified, service: str) -> None:
    """The operation's service must be the one the credential is scoped to.

    One endpoint serves IAM, STS and Organizations here, so the service comes from the
    request itself (``X-Amz-Target`` for Organizations, ``Version`` for IAM and STS) and
    is held against the scope after the signature is verified: a signature for ``sts``
    cannot run an Organizations or IAM operation, as on AWS, where each service checks the
    scope against its own name ("Credential should be scoped to correct service")."""
    if verified.service != service:
        raise SignatureDoesNotMatch(f"Credential should be scoped to correct service: '{service}'.")


def _header_timestamp(amz_date: str | None, http_date: str | None) -> tuple[str, dt.datetime]:
    """``X-Amz-Date`` wins; a ``Date`` header (RFC 7231) is signed in its basic ISO form."""
    if amz_date is not None:
        return amz_date, sigv4.parse_timestamp(amz_date)
    assert http_date is not None  # INVARIANT: parse_authorization rejected a request with neither
    unreadable = sigv4.SignatureFormatError(f"Unable to parse the 'Date' header: '{http_date[:64]}'.")
    if len(http_date) > 64 or not http_date.isascii():  # RFC 7231 dates are short ASCII text
        raise unreadable
    try:
        signed_at = email.utils.parsedate_to_datetime(http_date)
        if signed_at.tzinfo is None:
            signed_at = signed_at.replace(tzinfo=dt.UTC)
        return sigv4.format_timestamp(signed_at), signed_at
    except (TypeError, ValueError, OverflowError):  # OverflowError: a year or hour of 20 digits
        raise unreadable from None


def _check_scope(credential: sigv4.Credential, timestamp: str, settings: AuthSettings) -> None:
    """AWS's credential-scope messages; any failure is SignatureDoesNotMatch."""
    if credential.terminator != sigv4.TERMINATOR:
        raise SignatureDoesNotMatch(f"Credential should be scoped with a valid terminator: 'aws4_request', not '{credential.terminator}'.")
    if credential.date != timestamp[:8]:
        raise SignatureDoesNotMatch(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{credential.date}' != '{timestamp[:8]}', from '{timestamp}'."
        )
    if credential.service not in settings.services:
        raise SignatureDoesNotMatch(f"Credential should be scoped to correct service: '{credential.service}'.")
    if settings.regions is not None and credential.region not in settings.regions:
        raise SignatureDoesNotMatch(f"Credential should be scoped to a valid region, not '{credential.region}'.")


def _check_clock_skew(timestamp: str, signed_at: dt.datetime, now: dt.datetime, skew: dt.timedelta) -> None:
    if signed_at < now - skew:
        raise SignatureDoesNotMatch(presign.expired_message(timestamp, now, skew))
    if signed_at > now + skew:
        raise SignatureDoesNotMatch(presign.not_yet_current_message(timestamp, now, skew))


def _payload_hash(headers: Mapping[str, str], request: HttpRequest) -> str:
    """The body's SHA-256. A declared ``x-amz-content-sha256`` is used verbatim (the client
    signed that text) but only when it is the body's digest: IAM, STS and Organizations
    take no unsigned or streaming payloads, and a stale digest would leave the body unsigned."""
    known = request.body_sha256
    actual = known.lower() if known is not None else sigv4.payload_hash(request.body)
    declared = headers.get("x-amz-content-sha256")
    if declared is None:
        return actual
    if declared.lower() == actual or (declared == sigv4.UNSIGNED_PAYLOAD and request.unsigned_payload):
        return declared
    if declared == sigv4.UNSIGNED_PAYLOAD or declared.startswith("STREAMING-"):
        raise SignatureDoesNotMatch(f"x-amz-content-sha256 '{declared}' is not accepted by this service; sign the payload.")
    raise SignatureDoesNotMatch("The provided 'x-amz-content-sha256' header does not match what was computed.")


def _check_signature(
    creq: str,
    timestamp: str,
    credential: sigv4.Credential,
    provided: str,
    resolved: ResolvedCredential,
    settings: AuthSettings,
    cache: SigningKeyCache,
) -> None:
    sts = sigv4.string_to_sign(timestamp, credential.scope, creq)
    scope = credential.scope_key
    signer = resolved.signers.get(scope)
    if signer is None:
        signer = cache.signer(resolved.secret_access_key, *scope)
        if len(resolved.signers) >= _SIGNERS_PER_CREDENTIAL:  # a new day's scope: forget the old ones
            resolved.signers.clear()
        resolved.signers[scope] = signer
    expected = signer.signature(sts)
    if not hmac.compare_digest(expected.encode(), provided.lower().encode("utf-8", "surrogateescape")):
        raise SignatureDoesNotMatch(_mismatch_message(creq, sts) if settings.debug else SIGNATURE_MISMATCH_MESSAGE)


def _mismatch_message(creq: str, sts: str) -> str:
    """AWS's debug form: the generic message, then what the server computed."""
    return (
        f"{SIGNATURE_MISMATCH_MESSAGE}\n\nThe Canonical String for this request should have been\n'{creq}'\n\n"
        f"The String-to-Sign should have been\n'{sts}'\n"
    )
