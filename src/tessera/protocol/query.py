"""AWS Query protocol (IAM, STS): form parameters in, XML out, driven by the models.

Public API (service is ``"iam"`` or ``"sts"``)::

    pairs = read_form(body, content_type, raw_query)          # [(key, value), ...]
    operation, params = parse_query_request("sts", pairs)     # ("AssumeRole", {...})
    params = read_params(input_shape, pairs)                  # any shape, no validation
    body = serialize_query_response("sts", "AssumeRole", result, request_id)
    status, body = serialize_query_error("sts", error, request_id)
    if answers_json("sts", "GetCallerIdentity", accept_header):        # Accept: application/json
        body = serialize_query_response_json("sts", "GetCallerIdentity", result, request_id)

``parse_query_request`` is the exact inverse of botocore's ``query`` serializer:
lists arrive as ``Name.member.N`` (an empty list as ``Name=``), maps as
``Name.entry.N.key`` / ``.value``, nested structures with dots, booleans as
``true``/``false``, timestamps as ISO 8601 and blobs as base64. The result uses the
model's member names and Python types (``str``, ``int``, ``bool``,
``datetime`` in UTC, ``bytes``, ``list``, ``dict``), exactly what one would have
handed to botocore. Unknown parameters are ignored, as AWS does. The params are then
checked against the model's constraints (``validate.py``); failures raise
``errors.ValidationError`` with AWS's message.

``serialize_query_response`` takes a mapping shaped like the operation's output shape
(member names as in the model; ``None`` members are omitted) and writes
``<OpResponse><OpResult>…</OpResult><ResponseMetadata>…``. Members of IAM's
``policyDocumentType`` (role trust policies, inline and managed policy documents)
are URL-encoded here, as AWS sends them: services pass the document text as stored.
Writers are compiled once per operation, so the hot calls (GetCallerIdentity,
AssumeRole) cost a few list appends.

STS also answers GetCallerIdentity in JSON when the request's ``Accept`` asks for
``application/json``: ``{"GetCallerIdentityResponse": {"GetCallerIdentityResult":
{...}, "ResponseMetadata": {"RequestId": ...}}}``, the envelope AWS STS returns and
identity verifiers such as aws-iam-authenticator parse (they replay a presigned
GetCallerIdentity with that header). Other operations, and every error, stay XML.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import quote

from botocore.model import Shape

from tessera import errors
from tessera.auth import sigv4
from tessera.clock import iso_seconds
from tessera.protocol.model import service_spec
from tessera.protocol.validate import Violation, element_path, find_violations, member_path, validation_message
from tessera.protocol.xml import escape_attribute, escape_text
from tessera.service_models import Operation

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
QUERY_JSON_CONTENT_TYPE = "application/json"
NO_VERSION = "NO_VERSION_SPECIFIED"  # what AWS prints when Version is absent

Form = Mapping[str, list[str]] | Iterable[tuple[str, str]]

# --------------------------------------------------------------------------- reading


def read_form(body: bytes, content_type: str | None, raw_query: str | bytes) -> list[tuple[str, str]]:
    """Decode the parameters of a Query request: the URL query string, then a form body.

    A POST carries them in an ``application/x-www-form-urlencoded`` body; a GET or a
    presigned URL in the query string. Both are read, query string first, with the
    signature's own decoder (``sigv4.query_pairs``: ``+`` is a space, escapes are
    percent-decoded), so what is signed and what is parsed are the same parameters.
    Names and values are UTF-8: the only ``charset`` accepted is UTF-8 (the default), so
    a Content-Type header, signed or not, cannot change what the body says.

    Raises ``errors.MalformedRequest`` (a 400 ``MalformedQueryString``) for a bad percent
    escape, text that is not UTF-8, another charset or content type, or a parameter
    repeated in the query string (its order is not signed: the query is canonicalised
    sorted, so which of two values came first is the sender's to change).
    """
    pairs: list[tuple[str, str]] = []
    if raw_query:
        pairs = _decode_urlencoded(raw_query)
        if len({name for name, _ in pairs}) != len(pairs):
            raise errors.MalformedRequest("The query string repeats a parameter.")
    return _with_body(pairs, body, content_type)


def read_sent_form(sent: list[tuple[str, str]], body: bytes, content_type: str | None) -> list[tuple[str, str]]:
    """``read_form(body, content_type, raw_query)`` for a query string in canonical form
    whose pairs as sent (``sigv4.sent_pairs(raw_query)``, which authentication read) are
    at hand: the same pairs and errors, without splitting and scanning the query string
    again (only its escapes are decoded). In canonical form no escape is malformed and
    no ``+`` stands for a space, so each name and value decodes on its own as
    ``sigv4.query_text_pairs`` decodes it. ~36 000 -> ~17 000 instructions for an SDK's
    pre-signed GetCallerIdentity query (callgrind, CPython 3.11)."""
    decode = sigv4.decoded_component
    try:
        pairs = [(decode(name) if "%" in name else name, decode(value) if "%" in value else value) for name, value in sent]
    except UnicodeDecodeError as exc:
        raise errors.MalformedRequest("The request contains a parameter that is not valid UTF-8.") from exc
    if len({name for name, _ in pairs}) != len(pairs):
        raise errors.MalformedRequest("The query string repeats a parameter.")
    return _with_body(pairs, body, content_type)


def _with_body(pairs: list[tuple[str, str]], body: bytes, content_type: str | None) -> list[tuple[str, str]]:
    """``pairs`` (the query string's), then a form body's (``read_form``)."""
    if body:
        media_type, charset = _parse_content_type(content_type)
        if media_type != FORM_CONTENT_TYPE:
            raise errors.MalformedRequest(f"Unsupported Content-Type for a Query request: '{_shown(content_type)}'")
        if charset not in _UTF8_NAMES:
            raise errors.MalformedRequest(f"Unsupported charset in Content-Type: '{_shown(charset)}'; use UTF-8.")
        pairs.extend(_decode_urlencoded(body))
    return pairs


_UTF8_NAMES = frozenset({"utf-8", "utf8"})


def _shown(text: str | None, limit: int = 100) -> str:
    """Client text echoed in an error message, cut short."""
    text = text or ""
    return text if len(text) <= limit else f"{text[:limit]}..."


def _parse_content_type(content_type: str | None) -> tuple[str, str]:
    """(media type in lower case, charset in lower case) of a Content-Type header."""
    if not content_type:
        return "", "utf-8"
    media_type, *params = content_type.split(";")
    charset = "utf-8"
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower() or "utf-8"
    return media_type.strip().lower(), charset


_BAD_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def _decode_urlencoded(raw: str | bytes) -> list[tuple[str, str]]:
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
    if _BAD_PERCENT.search(data):
        raise errors.MalformedRequest("The request contains an invalid percent-encoded sequence.")
    try:
        return sigv4.query_text_pairs(data)
    except UnicodeDecodeError as exc:
        raise errors.MalformedRequest("The request contains a parameter that is not valid UTF-8.") from exc


# --------------------------------------------------------------------------- parsing


def parse_query_request(service: str, form: Form) -> tuple[str, dict[str, Any]]:
    """Resolve the operation and rebuild its typed, validated params from a form
    (``resolve_query_operation`` then ``read_query_params``)."""
    pairs = list(_as_pairs(form))
    operation = resolve_query_operation(service, pairs)
    return operation.name, read_query_params(operation, pairs)


def resolve_query_operation(service: str, form: Mapping[str, list[str]] | Sequence[tuple[str, str]]) -> Operation:
    """The operation a form names (``Action``, under the service's ``Version``).

    Raises ``MissingAction`` (no ``Action``) and ``InvalidAction`` (unknown operation or
    wrong ``Version``: ``Could not find operation X for version V``).
    """
    return resolve_query_action(service, _first(_as_pairs(form), "Action"), _first(_as_pairs(form), "Version"))


def resolve_query_action(service: str, action: str | None, version: str | None) -> Operation:
    """``resolve_query_operation`` for a form whose first ``Action`` and ``Version`` the
    caller has already read (None or empty when absent): the server's request path."""
    if not action:
        raise errors.MissingAction("Missing Action")
    spec = service_spec(service)
    version = version or NO_VERSION
    operation = spec.resolve(action) if version == spec.api_version else None
    if operation is None:
        raise errors.InvalidAction(f"Could not find operation {action} for version {version}")
    return operation


def read_query_params(operation: Operation, form: Form) -> dict[str, Any]:
    """The typed params of ``operation`` rebuilt from a form and validated against the
    model; ``ValidationError`` for an unreadable value or a violated constraint."""
    shape, names, empty_valid = _input_reader(operation)
    if not names:  # no member to read (GetCallerIdentity): no tree of the form to build
        if empty_valid:
            return {}
        params: dict[str, Any] = {}
    else:
        params = _read_structure(shape, _build_tree(_as_pairs(form), names), "")
    violations = find_violations(shape, params)
    if violations:
        raise errors.ValidationError(validation_message(violations))
    return params


def read_params(shape: Shape, form: Form) -> dict[str, Any]:
    """The typed params of input ``shape`` rebuilt from a form, without validation.

    ``parse_query_request`` does this for an operation; it is exposed for callers (and
    tests) that hold a shape rather than an operation name.
    """
    return _read_structure(shape, _build_tree(_as_pairs(form)), "")


def _as_pairs(form: Form) -> Iterable[tuple[str, str]]:
    if type(form) is not list and isinstance(form, Mapping):  # the server's forms are lists: no ABC check
        return ((key, value) for key, values in form.items() for value in values[:1])
    return form


def _first(pairs: Iterable[tuple[str, str]], name: str) -> str | None:
    """The value of the first ``name=`` parameter (a repeated key's first occurrence wins)."""
    return next((value for key, value in pairs if key == name), None)


@functools.cache  # one entry per operation
def _input_reader(operation: Operation) -> tuple[Shape | None, frozenset[str], bool]:
    """The operation's input shape, the top-level parameter names it reads (none without
    a shape) and whether its params without any member (``{}``) break no constraint,
    read from the model once."""
    shape = operation.model.input_shape
    if shape is None:
        return None, frozenset(), True
    return shape, _member_names(shape), not find_violations(shape, {})


@functools.cache
def _member_names(shape: Shape) -> frozenset[str]:
    """The top-level parameter names an input shape reads: every other parameter (the
    signature's ``X-Amz-*``, ``Action``, ``Version``, unknown ones) is never looked at,
    so no tree is built for it."""
    return frozenset(wire_name for _, wire_name, _ in _structure_members(shape))


class _Node:
    """One dotted-key segment of the form: ``Tags.member.1.Key`` is four nested nodes."""

    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.value: str | None = None
        self.children: dict[str, _Node] = {}


def _build_tree(pairs: Iterable[tuple[str, str]], names: frozenset[str] | None = None) -> _Node:
    """The form as a tree of dotted keys; with ``names``, only keys whose first segment is
    one of them."""
    root = _Node()
    for key, value in pairs:
        if names is not None and key.partition(".")[0] not in names:
            continue
        node = root
        for part in key.split("."):
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = _Node()
            node = child
        if node.value is None:  # the first occurrence of a repeated key wins
            node.value = value
    return root


_ABSENT = object()


def _read(shape: Shape, node: _Node, path: str) -> Any:
    reader = _READERS.get(shape.type_name, _read_string)
    return reader(shape, node, path)


def _read_structure(shape: Shape, node: _Node, path: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    children = node.children
    for name, wire_name, member in _structure_members(shape):
        child = children.get(wire_name)
        if child is None:
            continue
        value = _read(member, child, member_path(path, name))
        if value is not _ABSENT:
            params[name] = value
    return params


@functools.cache
def _structure_members(shape: Shape) -> tuple[tuple[str, str, Shape], ...]:
    """(name, name on the wire, shape) of each member in model order, read from the
    model once."""
    return tuple((name, member.serialization.get("name", name), member) for name, member in shape.members.items())


def _indexed(node: _Node | None) -> list[_Node]:
    """Children named 1, 2, … in numeric order (gaps tolerated, other names ignored)."""
    if node is None:
        return []
    numbered = [
        (len(digits), digits, child)
        for key, child in node.children.items()
        if key.isascii() and key.isdigit()
        for digits in (key.lstrip("0"),)
        if digits
    ]
    # Digit strings without leading zeros order numerically by (length, text): no int()
    # of a client's index, which for thousands of digits would fail (and cost time).
    numbered.sort(key=lambda item: (item[0], item[1]))
    return [child for _, _, child in numbered]


def _read_list(shape: Shape, node: _Node, path: str) -> Any:
    member = shape.member
    elements = _indexed(node.children.get(member.serialization.get("name", "member")))
    if not elements:
        return [] if node.value == "" else _ABSENT
    values = (_read(member, child, element_path(path, i)) for i, child in enumerate(elements, 1))
    return [value for value in values if value is not _ABSENT]


def _read_map(shape: Shape, node: _Node, path: str) -> Any:
    entries = _indexed(node.children.get("entry"))
    if not entries:
        return {} if node.value == "" else _ABSENT
    key_name = shape.key.serialization.get("name", "key")
    value_name = shape.value.serialization.get("name", "value")
    result: dict[Any, Any] = {}
    for entry in entries:
        key_node, value_node = entry.children.get(key_name), entry.children.get(value_name)
        if key_node is None or value_node is None:
            continue
        key = _read(shape.key, key_node, path)
        value = _read(shape.value, value_node, f"{path}.{key}")
        if key is not _ABSENT and value is not _ABSENT:
            result[key] = value
    return result


def _read_string(shape: Shape, node: _Node, path: str) -> Any:
    return _ABSENT if node.value is None else node.value


_INTEGER = re.compile(r"[+-]?0*([0-9]{1,19})")  # ASCII digits only; at most a long's 19 significant digits
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
INTEGER_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
"""The values botocore's ``integer`` and ``long`` shapes can hold (Java's int and long)."""


def _read_integer(shape: Shape, node: _Node, path: str) -> Any:
    """An ``integer`` or ``long``: ASCII digits with an optional sign, within the type's
    range. Anything else (other scripts' digits, which ``int()`` would take, or a number
    of thousands of digits) is a ValidationError before ``int()`` sees it."""
    value = node.value
    if value is None:
        return _ABSENT
    if len(value) > 64 or not _INTEGER.fullmatch(value):
        _unreadable(path, value, "Member must be a number")
    number = int(value)
    low, high = INTEGER_RANGES.get(shape.type_name, INTEGER_RANGES["long"])
    if not low <= number <= high:
        _unreadable(path, value, f"Member must be a number between {low} and {high}")
    return number


def _read_float(shape: Shape, node: _Node, path: str) -> Any:
    """A ``float`` or ``double``: an ASCII decimal number that is finite (no NaN, no
    infinity, no other scripts' digits, which ``float()`` would take)."""
    value = node.value
    if value is None:
        return _ABSENT
    if len(value) > 64 or not _DECIMAL.fullmatch(value):
        _unreadable(path, value, "Member must be a number")
    number = float(value)
    if not math.isfinite(number):
        _unreadable(path, value, "Member must be a number")
    return number


def _read_boolean(shape: Shape, node: _Node, path: str) -> Any:
    if node.value is None:
        return _ABSENT
    lowered = node.value.lower()
    if lowered not in ("true", "false"):
        _unreadable(path, node.value, "Member must be a boolean")
    return lowered == "true"


def _read_timestamp(shape: Shape, node: _Node, path: str) -> Any:
    if node.value is None:
        return _ABSENT
    value = node.value
    if len(value) > 64 or not value.isascii():
        _unreadable(path, value, "Member must be a timestamp in ISO 8601 format")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        _unreadable(path, node.value, "Member must be a timestamp in ISO 8601 format")
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _read_blob(shape: Shape, node: _Node, path: str) -> Any:
    if node.value is None:
        return _ABSENT
    try:
        return base64.b64decode(node.value, validate=True)
    except (binascii.Error, ValueError):
        _unreadable(path, node.value, "Member must be base64-encoded binary data")


def _unreadable(path: str, value: str, constraint: str) -> NoReturn:
    """A value the model's type cannot hold is reported like any other violation."""
    violation = Violation(path, value, False, constraint, "INVALID_PATTERN")
    raise errors.ValidationError(validation_message([violation]))


_READERS: dict[str, Callable[[Shape, _Node, str], Any]] = {
    "structure": _read_structure,
    "list": _read_list,
    "map": _read_map,
    "string": _read_string,
    "integer": _read_integer,
    "long": _read_integer,
    "float": _read_float,
    "double": _read_float,
    "boolean": _read_boolean,
    "timestamp": _read_timestamp,
    "blob": _read_blob,
}

# --------------------------------------------------------------------------- writing

Writer = Callable[[list[str], Any], None]


@dataclass(frozen=True, slots=True)
class _Envelope:
    head: str
    middle: str
    tail: str
    write_result: Writer | None
    # of an operation of ``_KEPT_ANSWERS``: its output's member names, and its answers'
    # UTF-8 up to the request id, by the members' values (bounded: ``KEPT_ANSWERS``)
    kept_members: tuple[str, ...] | None = None
    kept: dict[tuple[str | None, ...], tuple[bytes, bytes]] | None = None


# Operations whose answer depends on a few short strings only (GetCallerIdentity: the
# caller's): its text up to the request id is kept per set of values, as written once.
_KEPT_ANSWERS = frozenset({("sts", "GetCallerIdentity")})
KEPT_ANSWERS = 1024
"""At most this many answers kept per operation of ``_KEPT_ANSWERS`` (then forgotten
all at once); an answer is keyed by its values, so none is ever stale."""


def serialize_query_response(service: str, operation: str, result: Mapping[str, Any], request_id: str) -> bytes:
    """The XML success body of ``operation`` for ``result`` (see the module docstring)."""
    resolved = service_spec(service).resolve(operation)
    if resolved is None:
        raise ValueError(f"{service} has no operation {operation!r}")
    return encode_query_response(resolved, result, request_id)


def encode_query_response(operation: Operation, result: Mapping[str, Any], request_id: str) -> bytes:
    """``serialize_query_response`` for an operation already resolved."""
    envelope = _envelope(operation)
    kept = envelope.kept
    if kept is not None:
        return _kept_answer(envelope, kept, result, request_id)
    out = [envelope.head]
    if envelope.write_result is not None:
        envelope.write_result(out, result)
    out.append(envelope.middle)
    out.append(escape_text(request_id))
    out.append(envelope.tail)
    return "".join(out).encode("utf-8")


def _kept_answer(
    envelope: _Envelope, kept: dict[tuple[str | None, ...], tuple[bytes, bytes]], result: Mapping[str, Any], request_id: str
) -> bytes:
    """``encode_query_response``'s bytes, the text around the request id read from
    ``kept`` when these values were answered before. Only values that are ``str`` (or
    absent) are kept: others write as ``str()`` of them, which equal keys need not share."""
    assert envelope.kept_members is not None  # INVARIANT: set with ``kept``
    values = tuple(map(result.get, envelope.kept_members))
    around = kept.get(values)
    if around is None:
        out = [envelope.head]
        assert envelope.write_result is not None  # INVARIANT: kept answers have an output
        envelope.write_result(out, result)
        out.append(envelope.middle)
        around = ("".join(out).encode("utf-8"), envelope.tail.encode("utf-8"))
        if all(value is None or type(value) is str for value in values):
            if len(kept) >= KEPT_ANSWERS:
                kept.clear()
            kept[values] = around
    return b"".join((around[0], escape_text(request_id).encode("utf-8"), around[1]))


# Operations answered in JSON on request: outputs of plain strings only, whose JSON
# envelope is the one AWS STS sends (see the module docstring).
_JSON_OPERATIONS = frozenset({("sts", "GetCallerIdentity")})


def answers_json(service: str, operation: str | None, accept: str | None) -> bool:
    """Whether the success answer is JSON: an operation of ``_JSON_OPERATIONS`` whose
    request's ``Accept`` lists ``application/json`` (any parameters, not ``q=0``)."""
    if not accept or (service, operation) not in _JSON_OPERATIONS:
        return False
    return _accepts_json(accept)


def _accepts_json(accept: str) -> bool:
    for media_range in accept[:1024].split(","):  # a few ranges at most in practice
        media_type, *params = (item.strip().lower() for item in media_range.split(";"))
        if media_type == QUERY_JSON_CONTENT_TYPE and not any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params):
            return True
    return False


def serialize_query_response_json(service: str, operation: str, result: Mapping[str, Any], request_id: str) -> bytes:
    """The JSON success body of an operation of ``_JSON_OPERATIONS`` (string members)."""
    resolved = service_spec(service).resolve(operation)
    if resolved is None:
        raise ValueError(f"{service} has no operation {operation!r}")
    return encode_query_response_json(resolved, result, request_id)


def encode_query_response_json(operation: Operation, result: Mapping[str, Any], request_id: str) -> bytes:
    """``serialize_query_response_json`` for an operation already resolved."""
    name = operation.name
    if (operation.service, name) not in _JSON_OPERATIONS:
        raise ValueError(f"{operation.service} does not answer {name!r} in JSON")
    shape = operation.model.output_shape
    assert shape is not None  # INVARIANT: every operation of _JSON_OPERATIONS has an output
    wrapper = shape.serialization.get("resultWrapper", f"{name}Result")
    members = {member: str(result[member]) for member in shape.members if result.get(member) is not None}
    body = {f"{name}Response": {wrapper: members, "ResponseMetadata": {"RequestId": request_id}}}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def serialize_query_error(service: str, error: errors.TesseraError, request_id: str) -> tuple[int, bytes]:
    """(HTTP status, ``<ErrorResponse>`` body) for ``error``; same layout for IAM and STS."""
    namespace = escape_attribute(service_spec(service).xml_namespace or "")
    fault = "Sender" if error.sender_fault else "Receiver"
    body = (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>{fault}</Type>'
        f"<Code>{escape_text(error.code)}</Code><Message>{escape_text(error.message)}</Message>"
        f"</Error><RequestId>{escape_text(request_id)}</RequestId></ErrorResponse>"
    )
    return error.status, body.encode("utf-8")


@functools.cache
def _envelope(operation: Operation) -> _Envelope:
    name, model = operation.name, operation.model
    namespace = escape_attribute(service_spec(operation.service).xml_namespace or "")
    head = f'<{name}Response xmlns="{namespace}">'
    middle = "<ResponseMetadata><RequestId>"
    tail = f"</RequestId></ResponseMetadata></{name}Response>"
    shape = model.output_shape
    if shape is None:
        return _Envelope(head, middle, tail, None)
    wrapper = shape.serialization.get("resultWrapper", f"{name}Result")
    write = _writer(_writers_for(operation.service), shape)
    if (operation.service, name) in _KEPT_ANSWERS:
        kept_members = tuple(shape.members)
        return _Envelope(head + f"<{wrapper}>", f"</{wrapper}>" + middle, tail, write, kept_members, {})
    return _Envelope(head + f"<{wrapper}>", f"</{wrapper}>" + middle, tail, write)


@functools.cache
def _writers_for(service: str) -> dict[str, Writer]:
    """Per-service memo of compiled writers, keyed by shape name."""
    return {}


def _writer(memo: dict[str, Writer], shape: Shape) -> Writer:
    """The compiled writer for ``shape``, built once; recursive shapes go through a cell."""
    existing = memo.get(shape.name)
    if existing is not None:
        return existing
    cell: list[Writer] = []
    memo[shape.name] = lambda out, value: cell[0](out, value)
    built = _build_writer(memo, shape)
    cell.append(built)
    memo[shape.name] = built
    return built


def _build_writer(memo: dict[str, Writer], shape: Shape) -> Writer:
    kind = shape.type_name
    if kind == "structure":
        return _structure_writer(memo, shape)
    if kind == "list":
        return _list_writer(memo, shape)
    if kind == "map":
        return _map_writer(memo, shape)
    if kind == "string" and shape.name == "policyDocumentType":
        return _write_url_encoded
    return _SCALAR_WRITERS.get(kind, _write_text)


def _structure_writer(memo: dict[str, Writer], shape: Shape) -> Writer:
    members = [
        (name, f"<{tag}>", f"</{tag}>", _writer(memo, member))
        for name, member in shape.members.items()
        for tag in (member.serialization.get("name", name),)
    ]

    def write_structure(out: list[str], value: Mapping[str, Any]) -> None:
        get = value.get
        for name, open_tag, close_tag, write in members:
            item = get(name)
            if item is not None:
                out.append(open_tag)
                write(out, item)
                out.append(close_tag)

    return write_structure


def _list_writer(memo: dict[str, Writer], shape: Shape) -> Writer:
    tag = shape.member.serialization.get("name", "member")
    open_tag, close_tag = f"<{tag}>", f"</{tag}>"
    write_member = _writer(memo, shape.member)

    def write_list(out: list[str], value: Iterable[Any]) -> None:
        for item in value:
            out.append(open_tag)
            write_member(out, item)
            out.append(close_tag)

    return write_list


def _map_writer(memo: dict[str, Writer], shape: Shape) -> Writer:
    write_key, write_value = _writer(memo, shape.key), _writer(memo, shape.value)

    def write_map(out: list[str], value: Mapping[Any, Any]) -> None:
        for key, item in value.items():
            out.append("<entry><key>")
            write_key(out, key)
            out.append("</key><value>")
            write_value(out, item)
            out.append("</value></entry>")

    return write_map


def _write_text(out: list[str], value: Any) -> None:
    out.append(escape_text(value if isinstance(value, str) else str(value)))


def _write_url_encoded(out: list[str], value: str) -> None:
    out.append(quote(value, safe=""))


def _write_integer(out: list[str], value: int) -> None:
    out.append(str(int(value)))


def _write_float(out: list[str], value: float) -> None:
    out.append(repr(float(value)))


def _write_boolean(out: list[str], value: bool) -> None:
    out.append("true" if value else "false")


def _write_timestamp(out: list[str], value: dt.datetime | float | str) -> None:
    out.append(escape_text(value) if isinstance(value, str) else iso8601(value))


def _write_blob(out: list[str], value: bytes) -> None:
    out.append(base64.b64encode(value).decode("ascii"))


_SCALAR_WRITERS: dict[str, Writer] = {
    "string": _write_text,
    "integer": _write_integer,
    "long": _write_integer,
    "float": _write_float,
    "double": _write_float,
    "boolean": _write_boolean,
    "timestamp": _write_timestamp,
    "blob": _write_blob,
}


def iso8601(value: dt.datetime | float) -> str:
    """``2024-05-01T12:34:56Z``: a datetime (naive means UTC) or epoch seconds, in UTC.

    Fractions of a second are dropped, as IAM and STS print them. (The response
    writer also accepts a string, taken as already formatted.)
    """
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    elif value.tzinfo is None:
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:{value.second:02d}Z"
    elif value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    return iso_seconds(value)  # the same text, its last seconds kept (an AssumeRole's Expiration)
