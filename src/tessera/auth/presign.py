"""Query-string ("presigned") SigV4: the same steps as ``sigv4``, with the signature's
parameters carried in the URL instead of the ``Authorization`` header
(https://docs.aws.amazon.com/IAM/latest/UserGuide/aws-signing-authentication-methods.html).

    query = read_presigned(raw_query)          # None: not presigned
    check_presigned_window(query.params, now, skew)  # SignatureDoesNotMatch when expired
    creq = canonical_request_of(method, path, query, headers, payload_hash)

``parse_presigned`` and ``presigned_canonical_request`` do the same from decoded pairs
(``sigv4.query_pairs``).

The canonical query string is every parameter except ``X-Amz-Signature`` (the security
token, when present, is signed). Pure: ``now`` is an argument.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

from tessera.auth import sigv4
from tessera.auth.memo import memoised
from tessera.errors import IncompleteSignature, SignatureDoesNotMatch

__all__ = [
    "DEFAULT_EXPIRES",
    "MAX_EXPIRES",
    "PresignedParams",
    "PresignedQuery",
    "canonical_request_of",
    "check_presigned_window",
    "expired_message",
    "is_presigned",
    "not_yet_current_message",
    "parse_presigned",
    "presigned_canonical_request",
    "read_presigned",
]

MAX_EXPIRES = 604800  # seven days, AWS's documented ceiling for presigned URLs
DEFAULT_EXPIRES = 900  # when X-Amz-Expires is absent (STS has been reported to use 15 minutes)

_ALGORITHM = b"X-Amz-Algorithm"
_SIGNATURE = b"X-Amz-Signature"
_PREFIX = "X-Amz-"
_REQUIRED = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date")
_EXCLUDED = frozenset({_SIGNATURE})
_REQUIRED_NAMES = frozenset(_REQUIRED)


@dataclass(slots=True)  # not frozen: read once per request, and frozen slots cost a setattr call per field
class PresignedParams:
    credential: sigv4.Credential
    timestamp: str  # X-Amz-Date as sent, basic ISO-8601
    signed_at: dt.datetime
    expires: int  # seconds
    signed_headers: tuple[str, ...]
    signature: str
    security_token: str | None


@dataclass(slots=True)  # per request: frozen slots would cost a setattr call per field
class PresignedQuery:
    """A presigned URL's query, read once: its signature parameters and its canonical
    query string (every parameter but ``X-Amz-Signature``)."""

    params: PresignedParams
    canonical_query: str
    # its pairs as sent, when in canonical form (``sigv4.sent_pairs``): how it was
    # written, not what it says (two encodings of one query compare equal)
    sent: list[tuple[str, str]] | None = field(default=None, compare=False, repr=False)


def read_presigned(raw_query: str | bytes) -> PresignedQuery | None:
    """Read a presigned query in one pass; None when it is not presigned (no
    ``X-Amz-Algorithm``). Raises IncompleteSignature as ``parse_presigned`` does.

    A query sent in canonical form (``sigv4.sent_pairs``) is neither decoded nor
    re-encoded: only the values of the ``X-Amz-*`` parameters are decoded."""
    text = sigv4.canonical_text(raw_query)
    if text is None:
        pairs = sigv4.query_pairs(raw_query)
        if not is_presigned(pairs):
            return None
        return PresignedQuery(parse_presigned(pairs), sigv4.canonical_query_from_pairs(pairs, _EXCLUDED))
    sent = sigv4.pairs_of_canonical(text)
    named = dict(reversed(sent))  # the first of a repeated name wins (read in reverse, the last write)
    if "X-Amz-Algorithm" not in named:
        return None
    return PresignedQuery(_read_sent_params(named), sigv4.canonical_query_from_text(text, _SIGNATURE_NAME), sent)


_SIGNATURE_NAME = _SIGNATURE.decode()


def _read_sent_params(sent: Mapping[str, str]) -> PresignedParams:
    """``_read_params`` of ``sent``'s names and values as sent (still percent-encoded):
    only the values it reads are decoded, and the credential is decoded and parsed in
    one memoised step."""
    if not sent.keys() >= _REQUIRED_NAMES:
        return _read_params(sent)  # the missing names' error
    algorithm = sent["X-Amz-Algorithm"]
    if algorithm != sigv4.ALGORITHM:
        raise IncompleteSignature(f"Unsupported AWS 'algorithm': '{_sent_value(algorithm)}'.")
    timestamp = sent["X-Amz-Date"]
    if "%" in timestamp:
        timestamp = _unquoted(timestamp)
    try:
        credential = _sent_credential(sent["X-Amz-Credential"])
        signed_at = sigv4.parse_timestamp(timestamp)
    except sigv4.SignatureFormatError as error:
        raise IncompleteSignature(error.message) from None
    expires = sent.get("X-Amz-Expires")
    signed_headers = sent["X-Amz-SignedHeaders"]
    signature = sent["X-Amz-Signature"]
    token = sent.get("X-Amz-Security-Token")
    return PresignedParams(  # positional: one per request
        credential,  # credential
        timestamp,  # timestamp
        signed_at,  # signed_at
        _parse_expires(expires if expires is None or "%" not in expires else _unquoted(expires)),  # expires
        _signed_headers(signed_headers if "%" not in signed_headers else _unquoted(signed_headers)),  # signed_headers
        signature if "%" not in signature else _unquoted(signature),  # signature
        token if token is None or "%" not in token else _unquoted(token),  # security_token
    )


def _sent_value(value: str) -> str:
    return _unquoted(value) if "%" in value else value


@memoised(maxsize=4096)
def _sent_credential(value: str) -> sigv4.Credential:
    """``X-Amz-Credential`` as sent, decoded and parsed; memoised (when short), since a
    client repeats it on every request of a day. Raises SignatureFormatError."""
    return sigv4.parse_credential(_sent_value(value))


@memoised(maxsize=4096)
def _unquoted(value: str) -> str:
    """A signature parameter's value decoded; memoised (when short), since a client
    repeats its credential scope on every request."""
    return unquote(value, errors="replace")


def is_presigned(pairs: Sequence[tuple[bytes, bytes]]) -> bool:
    """A request is presigned when its query carries ``X-Amz-Algorithm``."""
    return any(name == _ALGORITHM for name, _ in pairs)


def parse_presigned(pairs: Sequence[tuple[bytes, bytes]]) -> PresignedParams:
    """Read the ``X-Amz-*`` parameters; IncompleteSignature names every missing one."""
    return _read_params({name.decode("utf-8", "replace"): value.decode("utf-8", "replace") for name, value in reversed(pairs)})


def _read_params(params: Mapping[str, str]) -> PresignedParams:
    """The signature parameters from the decoded query (the first of a repeated name)."""
    if not params.keys() >= _REQUIRED_NAMES:
        missing = [f"AWS query-string parameters must include '{name}'." for name in _REQUIRED if name not in params]
        raise IncompleteSignature(f"{' '.join(missing)} Re-examine the query-string parameters.")
    if params["X-Amz-Algorithm"] != sigv4.ALGORITHM:
        raise IncompleteSignature(f"Unsupported AWS 'algorithm': '{params['X-Amz-Algorithm']}'.")
    try:
        credential = sigv4.parse_credential(params["X-Amz-Credential"])
        signed_at = sigv4.parse_timestamp(params["X-Amz-Date"])
    except sigv4.SignatureFormatError as error:
        raise IncompleteSignature(error.message) from None
    return PresignedParams(  # positional: one per request
        credential,  # credential
        params["X-Amz-Date"],  # timestamp
        signed_at,  # signed_at
        _parse_expires(params.get("X-Amz-Expires")),  # expires
        _signed_headers(params["X-Amz-SignedHeaders"]),  # signed_headers
        params["X-Amz-Signature"],  # signature
        params.get("X-Amz-Security-Token"),  # security_token
    )


@memoised(maxsize=256)
def _signed_headers(value: str) -> tuple[str, ...]:
    return tuple(name.strip().lower() for name in value.split(";"))


_EXPIRES = re.compile(r"(-?)0*([0-9]*)")
_EXPIRES_DIGITS = len(str(MAX_EXPIRES))


def _parse_expires(value: str | None) -> int:
    """S3's wording for out-of-range values; AWS documents no other for the Query services.

    Only ASCII digits count (``int()`` would also take other scripts' digits, or fail on
    thousands of them), and the length is checked before any conversion."""
    if value is None:
        return DEFAULT_EXPIRES
    if len(value) <= _EXPIRES_DIGITS and value.isascii() and value.isdigit():  # the common case, without the regex
        seconds = int(value)
        if seconds <= MAX_EXPIRES:
            return seconds
    match = _EXPIRES.fullmatch(value) if value.isascii() else None
    if match is None or value in ("", "-"):
        raise IncompleteSignature("X-Amz-Expires should be a number")
    sign, digits = match.groups()
    if sign and digits:
        raise IncompleteSignature("X-Amz-Expires must be non-negative")
    if len(digits) > len(str(MAX_EXPIRES)) or int(digits or "0") > MAX_EXPIRES:
        raise IncompleteSignature(f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_EXPIRES}")
    return int(digits or "0")


def check_presigned_window(params: PresignedParams, now: dt.datetime, skew: dt.timedelta) -> None:
    """Valid iff ``signed_at - skew <= now <= signed_at + expires``: a URL signed by a client
    whose clock runs ahead is tolerated by the same window as header signatures."""
    # ``now - signed_at > expires`` seconds, read from the difference: building a
    # timedelta of ``expires`` seconds costs ~4 600 instructions, this ~1 200. Exact:
    # the difference's microseconds are divided once, correctly rounded, and ``expires``
    # is at most a week, far below where a microsecond stops being a float's step
    if (now - params.signed_at).total_seconds() > params.expires:
        raise SignatureDoesNotMatch(
            f"Signature expired: {params.timestamp} is now earlier than "
            f"{sigv4.format_timestamp(now - dt.timedelta(seconds=params.expires))} "
            f"({sigv4.format_timestamp(now)} - {params.expires} sec.)"
        )
    if params.signed_at > now + skew:
        raise SignatureDoesNotMatch(not_yet_current_message(params.timestamp, now, skew))


def not_yet_current_message(timestamp: str, now: dt.datetime, skew: dt.timedelta) -> str:
    """AWS's wording for a request dated beyond the clock-skew window (shared with headers)."""
    return (
        f"Signature not yet current: {timestamp} is still later than "
        f"{sigv4.format_timestamp(now + skew)} ({sigv4.format_timestamp(now)} + {_minutes(skew)} min.)"
    )


def expired_message(timestamp: str, now: dt.datetime, skew: dt.timedelta) -> str:
    """AWS's wording for a header-signed request dated before the clock-skew window."""
    return (
        f"Signature expired: {timestamp} is now earlier than "
        f"{sigv4.format_timestamp(now - skew)} ({sigv4.format_timestamp(now)} - {_minutes(skew)} min.)"
    )


def _minutes(window: dt.timedelta) -> str:
    minutes = window.total_seconds() / 60
    return str(int(minutes)) if minutes.is_integer() else f"{minutes:g}"


def presigned_canonical_request(
    method: str,
    raw_path: str,
    pairs: Sequence[tuple[bytes, bytes]],
    headers: Mapping[str, str],
    params: PresignedParams,
    payload_hash: str,
) -> str:
    """The canonical request of a presigned URL: all query parameters but the signature."""
    query = PresignedQuery(params, sigv4.canonical_query_from_pairs(pairs, _EXCLUDED))
    return canonical_request_of(method, raw_path, query, headers, payload_hash)


def canonical_request_of(
    method: str,
    raw_path: str,
    query: PresignedQuery,
    headers: Mapping[str, str],
    payload_hash: str,
    *,
    path_as_sent: bool = False,
) -> str:
    """The canonical request of a presigned URL read by ``read_presigned`` (its path by
    S3's rule when ``path_as_sent``: ``sigv4.canonical_uri_as_sent``)."""
    signed_headers = query.params.signed_headers
    return sigv4.canonical_request(
        method,
        sigv4.canonical_uri_as_sent(raw_path) if path_as_sent else sigv4.canonical_uri(raw_path),
        query.canonical_query,
        sigv4.canonical_headers(headers, signed_headers),
        ";".join(signed_headers),
        payload_hash,
    )
