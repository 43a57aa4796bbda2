"""Signature Version 4, step by step, as pure functions
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).

Each function is one step of AWS's algorithm and carries its name, so a failing
signature can be traced to the step that produced the wrong artefact::

    creq = canonical_request(method, canonical_uri(path), canonical_query_string(query),
                             canonical_headers(headers, names), ";".join(names), payload_hash)
    sts = string_to_sign(timestamp, credential_scope(date, region, service), creq)
    sig = signature(signing_key(secret, date, region, service), sts)

Parsing of the ``Authorization`` header (``parse_authorization``) and of the credential
(``parse_credential``) lives here too. They raise ``SignatureFormatError`` with AWS's
``IncompleteSignature`` wording; ``tessera.auth.authenticate`` turns it into the wire error.

Nothing here reads the clock, logs, or imports anything outside the standard library:
timestamps are explicit arguments, and secrets never leave the function that uses them.
"""

from __future__ import annotations

import bisect
import codecs
import datetime as dt
import functools
import hashlib
import hmac
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote_to_bytes

from tessera.auth.memo import memoised

__all__ = [
    "ALGORITHM",
    "EMPTY_PAYLOAD_SHA256",
    "TERMINATOR",
    "UNSIGNED_PAYLOAD",
    "Authorization",
    "Credential",
    "SignatureFormatError",
    "Signer",
    "canonical_headers",
    "canonical_query_from_pairs",
    "canonical_query_from_sent",
    "canonical_query_from_text",
    "canonical_query_string",
    "canonical_request",
    "canonical_text",
    "canonical_uri",
    "canonical_uri_as_sent",
    "credential_scope",
    "decoded_component",
    "format_timestamp",
    "pairs_of_canonical",
    "parse_authorization",
    "parse_credential",
    "parse_timestamp",
    "payload_hash",
    "query_pairs",
    "query_text_pairs",
    "sent_pairs",
    "signature",
    "signing_key",
    "string_to_sign",
    "trimall",
]

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_PAYLOAD_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

_UNRESERVED = "-_.~"  # with ASCII letters and digits, which ``quote`` never encodes
_UNRESERVED_ONLY = re.compile(rb"[A-Za-z0-9\-_.~]*")


def _decode(component: bytes) -> bytes:
    """Percent-decode, ``+`` read as a space (``application/x-www-form-urlencoded``, as the
    parameter parser reads it); most components carry no escape at all and are returned as is."""
    # ``find``, not ``in``: CPython 3.11's ``bytes.__contains__`` first tries its operand
    # as an integer, raising and clearing a TypeError: ~2 200 instructions against ~1 150
    # (callgrind, 10 000 calls on an SDK's credential value)
    if component.find(b"+") >= 0:
        component = component.replace(b"+", b" ")
    if component.find(b"%") < 0:
        return component
    if len(component) > _LONG and _STRAY_PERCENT.search(component) is None:
        # Same bytes as unquote_to_bytes, decoded in C: that one is a Python loop over
        # every escape (a 1 MiB value of %41 costs it ~100 ms, this ~5 ms). Backslashes are
        # doubled first, so the only escapes escape_decode sees are \\ and our \xHH.
        return codecs.escape_decode(component.replace(b"\\", b"\\\\").replace(b"%", b"\\x"))[0]
    return unquote_to_bytes(component)


_LONG = 512
_STRAY_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def _encode(component: bytes) -> str:
    """RFC 3986 encoding with upper-case hex; unreserved-only input is already canonical."""
    if _UNRESERVED_ONLY.fullmatch(component):
        return component.decode("ascii")
    return quote(component, safe=_UNRESERVED)


# An escape that canonical encoding keeps: upper-case hex of any byte but the unreserved
# ones (A-Z a-z 0-9 - . _ ~, which canonical form writes as themselves).
_KEPT_ESCAPE = r"%(?:[0189A-F][0-9A-F]|2[0-9A-CF]|3[A-F]|40|5[B-E]|60|7[B-DF])"
# INVARIANT: possessive quantifiers. A run of unreserved characters can be split into
# ``+`` groups in exponentially many ways; backtracking through them on a query that
# fails to match late would let one request burn the CPU for minutes.
_CANONICAL_COMPONENT = rf"(?:[A-Za-z0-9\-_.~]++|{_KEPT_ESCAPE})*+"
_CANONICAL_QUERY = re.compile(rf"{_CANONICAL_COMPONENT}={_CANONICAL_COMPONENT}(?:&{_CANONICAL_COMPONENT}={_CANONICAL_COMPONENT})*")
"""A query in canonical form, as a pattern: the definition ``_is_canonical`` implements."""
_UNKEPT_ESCAPE = re.compile(rf"%(?!{_KEPT_ESCAPE[1:]})")
"""A ``%`` that does not open an escape ``_KEPT_ESCAPE`` matches."""
_UNRESERVED_AND_PERCENT = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~%"
_UTC = dt.UTC


class SignatureFormatError(ValueError):
    """A signature that cannot be read at all. The message is AWS's IncompleteSignature text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- Step 1: canonical request --------------------------------------------------------


def canonical_uri(raw_path: str) -> str:
    """The path as received (still percent-encoded), dot segments and empty segments removed,
    then percent-encoded once more: every service but S3 "double-encodes"."""
    if raw_path == "/" or not raw_path:
        return "/"
    return quote(_remove_dot_segments(raw_path), safe="/~")


def canonical_uri_as_sent(raw_path: str) -> str:
    """S3's rule: the path exactly as received (still percent-encoded), neither
    normalised nor encoded again."""
    return raw_path or "/"


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, plus collapsing ``//`` as AWS and botocore do; keeps a leading and a
    trailing slash."""
    kept: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if kept:
                kept.pop()
        elif segment and segment != ".":
            kept.append(segment)
    leading = "/" if path.startswith("/") else ""
    trailing = "/" if path.endswith("/") and kept else ""
    return leading + "/".join(kept) + trailing


def query_pairs(raw_query: str | bytes) -> list[tuple[bytes, bytes]]:
    """The query string (or a form body) split into percent-decoded ``(name, value)`` byte
    pairs. Empty ``&&`` items are skipped; an item without ``=`` has an empty value.

    This is the one decoder of parameters: the signature is computed over these pairs and
    the Query protocol reads its parameters from them (``tessera.protocol.query.read_form``),
    so a request cannot mean one thing to the signature check and another to the parser.
    A ``+`` is a space, as in every form decoder: SigV4 clients send a literal plus sign as
    ``%2B`` and a space as ``%20``, so both canonicalise the same either way, while a ``+``
    kept literal here but read as a space by the parser would let anyone turn a signed
    ``%2B`` into a space without breaking the signature."""
    if not raw_query:
        return []
    raw = raw_query if isinstance(raw_query, bytes) else raw_query.encode("utf-8", "surrogateescape")
    pairs: list[tuple[bytes, bytes]] = []
    append = pairs.append
    for item in raw.split(b"&"):
        if item:
            name, _, value = item.partition(b"=")
            if item.find(b"%") >= 0 or item.find(b"+") >= 0:  # else nothing to decode (``find``: see ``_decode``)
                name, value = _decode(name), _decode(value)
            append((name, value))
    return pairs


def query_text_pairs(raw: bytes) -> list[tuple[str, str]]:
    """``query_pairs`` decoded as UTF-8: exactly
    ``[(name.decode(), value.decode()) for name, value in query_pairs(raw)]``, what the
    Query protocol reads its parameters from (raises UnicodeDecodeError).

    Valid UTF-8 is decoded once and split as text (``&`` and ``=`` never occur inside a
    multi-byte sequence, and encoding a piece back gives its bytes), so only the pieces
    that carry an escape or a plus go through ``_decode``: the same pairs at a fraction
    of the cost of decoding every piece."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # raw bytes that escapes complete, or a real error: the long way
        return [(name.decode("utf-8"), value.decode("utf-8")) for name, value in query_pairs(raw)]
    pairs: list[tuple[str, str]] = []
    append = pairs.append
    for item in text.split("&"):
        if item:
            if "%" in item or "+" in item:
                append(_decoded_item(item))
            else:
                name, _, value = item.partition("=")
                append((name, value))
    return pairs


@memoised(maxsize=4096)
def _decoded_item(item: str) -> tuple[str, str]:
    """One ``name=value`` item with escapes, decoded; memoised (when short), since a
    client repeats its credential scope and, for one role, its RoleArn on every request:
    ``query_text_pairs`` of an SDK's pre-signed AssumeRole query costs ~28 000
    instructions with this against ~75 000 without (callgrind, CPython 3.11)."""
    name, _, value = item.partition("=")
    return _decode(name.encode()).decode("utf-8"), _decode(value.encode()).decode("utf-8")


@memoised(maxsize=4096)
def decoded_component(text: str) -> str:
    """One name or value of a query in canonical form (``sent_pairs``), decoded as
    ``query_text_pairs`` decodes it (raises UnicodeDecodeError); memoised (when short),
    as ``_decoded_item`` is."""
    return _decode(text.encode()).decode("utf-8")


def canonical_query_from_pairs(pairs: Iterable[tuple[bytes, bytes]], exclude: Collection[bytes] = ()) -> str:
    """Re-encode decoded pairs with RFC 3986 (upper-case hex) and sort by name, then value."""
    encoded = sorted((_encode(name), _encode(value)) for name, value in pairs if name not in exclude)
    return "&".join(f"{name}={value}" for name, value in encoded)


def sent_pairs(raw_query: str | bytes) -> list[tuple[str, str]] | None:
    """The query's ``(name, value)`` pairs still percent-encoded, when the client sent
    every one of them in canonical form already (RFC 3986, upper-case hex, nothing escaped
    that need not be, each item ``name=value``), as every AWS SDK does; None otherwise.

    For such a query the canonical query string is these pairs sorted: one regex scan
    replaces a decode and re-encode of every parameter on the hot path."""
    text = canonical_text(raw_query)
    return None if text is None else pairs_of_canonical(text)


def canonical_text(raw_query: str | bytes) -> str | None:
    """The query as text when ``sent_pairs`` accepts it (in canonical form), else None."""
    if isinstance(raw_query, bytes):
        if not raw_query.isascii():
            return None
        raw_query = raw_query.decode("ascii")
    if not raw_query or not _is_canonical(raw_query):
        return None
    return raw_query


def pairs_of_canonical(raw_query: str) -> list[tuple[str, str]]:
    """``sent_pairs`` of a query ``canonical_text`` accepted."""
    # In canonical form the separators alternate ``=``, ``&``, ``=``, …: split on both,
    # names and values alternate. Three C calls and a zip, ~15 600 instructions for an
    # SDK's pre-signed GetCallerIdentity query against ~18 700 for a loop that
    # partitions each item (callgrind, CPython 3.11)
    parts = raw_query.replace("&", "=").split("=")
    return list(zip(parts[::2], parts[1::2], strict=True))


def _is_canonical(query: str) -> bool:
    """Whether ``_CANONICAL_QUERY`` matches all of ``query``, found without scanning it
    with that regex: every ``%`` opens a kept escape, and what is left once escapes and
    unreserved characters are deleted is ``=``, then ``&=`` per further item. ~14 500
    instructions for an SDK's pre-signed AssumeRole query against ~29 700 for the
    regex's scan (callgrind, CPython 3.11, 1 000 calls)."""
    if not query.isascii() or _UNKEPT_ESCAPE.search(query) is not None:
        return False
    skeleton = query.encode("ascii").translate(None, _UNRESERVED_AND_PERCENT)
    return skeleton == b"=" + b"&=" * (len(skeleton) >> 1)


def canonical_query_from_sent(sent: Iterable[tuple[str, str]], exclude: Collection[bytes] = ()) -> str:
    """The canonical query string of pairs from ``sent_pairs``: sorted by name, then value.
    ``exclude`` names parameters as ``query_pairs`` decodes them."""
    skipped = _encoded_names(frozenset(exclude)) if exclude else frozenset()
    return "&".join([f"{name}={value}" for name, value in sorted(sent) if name not in skipped])


def canonical_query_from_text(query: str, exclude: str | None = None) -> str:
    """``canonical_query_from_sent(sent_pairs(query), {exclude})`` for a ``query`` that
    ``sent_pairs`` accepts (in canonical form), without building a string per pair.

    Each item ``name=value`` becomes ``name\\0value``: no name holds a byte below
    ``%``, so sorting those strings sorts by name, then value, as sorting the pairs does
    (a name that is a prefix of another sorts first either way). The items named
    ``exclude`` (canonical form, as sent) then form one run, found by bisection."""
    items = query.replace("=", "\0").split("&")
    items.sort()
    if exclude is not None:
        low = bisect.bisect_left(items, f"{exclude}\0")
        high = bisect.bisect_left(items, f"{exclude}\1", low)
        if high > low:
            del items[low:high]
    return "&".join(items).replace("\0", "=")


@functools.lru_cache(maxsize=64)
def _encoded_names(names: frozenset[bytes]) -> frozenset[str]:
    return frozenset(_encode(name) for name in names)


def canonical_query_string(raw_query: str | bytes, exclude: Collection[bytes] = ()) -> str:
    """The canonical form of a raw query string. Form bodies are not part of it."""
    if not raw_query:
        return ""
    text = canonical_text(raw_query)
    if text is not None:
        if not exclude:
            return canonical_query_from_text(text)
        return canonical_query_from_sent(pairs_of_canonical(text), exclude)
    return canonical_query_from_pairs(query_pairs(raw_query), exclude)


def trimall(value: str) -> str:
    """SigV4's ``Trimall``: whitespace before and after removed, each run of it inside
    turned into one space (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html)."""
    return " ".join(value.split())


def canonical_headers(headers: Mapping[str, str], signed_headers: Sequence[str]) -> str:
    """``name:value\\n`` for each signed header, values trimmed and inner whitespace runs
    collapsed.

    ``headers`` maps lower-case names to values, repeated headers already joined with ``,``.
    A signed header the request lacks canonicalises as empty, so the signature cannot match,
    which is how AWS reports it."""
    # ``trimall`` inlined, and a list rather than a generator: join sizes it once
    return "".join([f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed_headers])


def payload_hash(body: bytes) -> str:
    """Lower-case hex SHA-256 of the exact body bytes."""
    if not body:
        return EMPTY_PAYLOAD_SHA256
    return hashlib.sha256(body).hexdigest()


def canonical_request(
    method: str,
    canonical_uri: str,
    canonical_query: str,
    canonical_headers: str,
    signed_headers: str,
    payload_hash: str,
) -> str:
    """Join the canonical parts; ``canonical_headers`` already ends each line in ``\\n``."""
    return f"{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}"


# --- Step 2: string to sign -----------------------------------------------------------


def credential_scope(date: str, region: str, service: str) -> str:
    """``yyyymmdd/region/service/aws4_request``."""
    return f"{date}/{region}/{service}/{TERMINATOR}"


def string_to_sign(timestamp: str, credential_scope: str, canonical_request: str) -> str:
    """``timestamp`` is the basic ISO-8601 form (``20240501T120000Z``) the client signed."""
    digest = hashlib.sha256(canonical_request.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{credential_scope}\n{digest}"


# --- Step 3: signing key and signature ------------------------------------------------


def signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC chain over date, region, service and the terminator. It depends only
    on the secret and the scope, so callers may cache it per (secret, date, region, service)."""
    key = hmac.digest(f"AWS4{secret_access_key}".encode(), date.encode(), "sha256")
    key = hmac.digest(key, region.encode(), "sha256")
    key = hmac.digest(key, service.encode(), "sha256")
    return hmac.digest(key, TERMINATOR.encode(), "sha256")


def signature(signing_key: bytes, string_to_sign: str) -> str:
    """Lower-case hex HMAC-SHA256 of the string to sign."""
    return hmac.digest(signing_key, string_to_sign.encode("utf-8"), "sha256").hex()


class Signer:
    """``signature`` under one signing key, with HMAC's inner and outer key blocks hashed
    once (RFC 2104): each signature then costs two SHA-256 state copies, where a one-shot
    ``hmac.digest`` sets up OpenSSL's MAC context on every call (about 4× slower here).
    Holds hash states derived from the key, so treat it as the key itself."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, signing_key: bytes) -> None:
        if len(signing_key) > _SHA256_BLOCK:  # RFC 2104; SigV4's own keys are 32 bytes
            signing_key = hashlib.sha256(signing_key).digest()
        block = signing_key.ljust(_SHA256_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def signature(self, string_to_sign: str) -> str:
        inner = self._inner.copy()
        inner.update(string_to_sign.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


_SHA256_BLOCK = 64


# --- Timestamps -----------------------------------------------------------------------


@memoised(maxsize=1024)
def parse_timestamp(value: str) -> dt.datetime:
    """``YYYYMMDD'T'HHMMSS'Z'`` → aware UTC datetime. Hand-parsed and memoised because it runs
    on every request and most requests share their second. Raises SignatureFormatError."""
    digits = value[:8] + value[9:15]
    if len(value) != 16 or value[8] != "T" or value[15] != "Z" or not (digits.isascii() and digits.isdigit()):
        raise SignatureFormatError(_bad_date(value))
    try:
        return dt.datetime(
            int(value[0:4]), int(value[4:6]), int(value[6:8]),
            int(value[9:11]), int(value[11:13]), int(value[13:15]), tzinfo=_UTC,
        )  # fmt: skip
    except ValueError:
        raise SignatureFormatError(_bad_date(value)) from None


def _bad_date(value: str) -> str:
    return f"Date must be in ISO-8601 'basic format'. Got '{value}'. See http://en.wikipedia.org/wiki/ISO_8601"


def format_timestamp(when: dt.datetime) -> str:
    """Aware datetime → ``YYYYMMDD'T'HHMMSS'Z'`` in UTC (sub-seconds dropped)."""
    return when.astimezone(_UTC).strftime("%Y%m%dT%H%M%SZ")


# --- Parsing what the client sent -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Credential:
    """The ``Credential=`` value: ``access-key-id/yyyymmdd/region/service/terminator``.

    Only the shape is checked here; whether the date, region, service and terminator are
    acceptable is the authenticator's decision."""

    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    # derived once (``parse_credential`` is memoised, so once per credential text), not
    # per request: the scope's text and the (date, region, service) key of its signers
    scope: str = field(init=False, repr=False, compare=False)
    scope_key: tuple[str, str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scope", credential_scope(self.date, self.region, self.service))
        object.__setattr__(self, "scope_key", (self.date, self.region, self.service))


@memoised(maxsize=4096)
def parse_credential(value: str) -> Credential:
    """Memoised: a client sends the same credential on every request of a day."""
    parts = value.split("/")
    if len(parts) != 5:
        raise SignatureFormatError(
            f"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{value}'"
        )
    return Credential(*parts)


@dataclass(frozen=True, slots=True)
class Authorization:
    """A parsed ``Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…``."""

    credential: Credential
    signed_headers: tuple[str, ...]  # lower-case, in the order the client listed them
    signature: str


_REQUIRED_PARAMETERS = ("Credential", "Signature", "SignedHeaders")  # AWS's order in its message


def parse_authorization(value: str, *, has_date: bool) -> Authorization:
    """Read the header tolerantly (split on commas and spaces, each item on its first ``=``)
    and report what is missing the way AWS does: one sentence per problem, then the header.

    ``has_date`` says whether the request carries an ``X-Amz-Date`` or ``Date`` header, which
    AWS reports in the same message."""
    algorithm, _, rest = value.strip().partition(" ")
    params = _authorization_parameters(value, rest)
    if not (has_date and "Credential" in params and "Signature" in params and "SignedHeaders" in params):
        raise SignatureFormatError(_missing_parameters(value, params, has_date))
    if algorithm != ALGORITHM:
        raise SignatureFormatError(f"Unsupported AWS 'algorithm': '{algorithm}'.")
    signed = tuple(params["SignedHeaders"].lower().split(";"))
    return Authorization(parse_credential(params["Credential"]), signed, params["Signature"])


def _missing_parameters(header: str, params: Mapping[str, str], has_date: bool) -> str:
    problems = [f"Authorization header requires '{name}' parameter." for name in _REQUIRED_PARAMETERS if name not in params]
    if not has_date:
        problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    return f"{' '.join(problems)} Authorization={header}"


def _authorization_parameters(header: str, rest: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in rest.replace(",", " ").split():
        name, equals, param = item.partition("=")
        if not equals:
            raise SignatureFormatError(f"'{item}' not a valid key=value pair (missing equal-sign) in Authorization header: '{header}'.")
        params.setdefault(name, param)
    return params
