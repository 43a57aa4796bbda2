"""awsJson1_1 (Organizations, CloudTrail's LookupEvents, and Tessera's authorization API): X-Amz-Target dispatch, JSON in and out.

Public API::

    operation, params = parse_json_request(target_header, body)   # ("CreateAccount", {...})
    params = read_json_params(input_shape, document)              # any shape, no validation
    body = serialize_json_response("CreateAccount", result)
    status, body = serialize_json_error(error)

``parse_json_request`` resolves ``X-Amz-Target: AWSOrganizationsV20161128.<Op>``
(anything else → ``UnknownOperationException``), decodes the body (not JSON, not an
object, or a member of the wrong JSON type → ``SerializationException``; an empty
body counts as ``{}``), keeps the input shape's members (unknown keys are ignored),
turns timestamps (epoch seconds) into UTC datetimes and blobs (base64) into bytes,
and checks the model's constraints. Organizations reports a constraint violation as
``InvalidInputException`` with a ``Reason`` (``INPUT_REQUIRED``, ``INVALID_PATTERN``,
``MIN_LENGTH_EXCEEDED``, …) and the model's sentence for that reason, for the first
violation found; CloudTrail reports it as the member's own exception
(``InvalidMaxResultsException``, ``InvalidLookupAttributesException``, …).

``serialize_json_response`` writes the output members at the top level, timestamps as
epoch-second numbers and blobs as base64; ``serialize_json_error`` writes
``{"__type": code, "Message": text}`` plus ``Reason`` when the error carries one.
All bodies are ``application/x-amz-json-1.1``.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import datetime as dt
import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import orjson
from botocore.model import Shape

from tessera import errors
from tessera.protocol.model import service_spec
from tessera.protocol.validate import Violation, Where, compiled_validator, find_violations, spell, string_check
from tessera.service_models import Operation

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"
DEFAULT_SERVICE = "organizations"
Reader = Callable[[Shape, Any, Where], Any]

# The sentence the Organizations model documents for each InvalidInputException reason.
REASON_MESSAGES = {
    "INPUT_REQUIRED": "You must include a value for all required parameters.",
    "INVALID_PATTERN": "You provided a value that doesn't match the required pattern.",
    "MIN_LENGTH_EXCEEDED": "You provided a string parameter that is shorter than allowed.",
    "MAX_LENGTH_EXCEEDED": "You provided a string parameter that is longer than allowed.",
    "INVALID_ENUM": "You specified an invalid value.",
    "MIN_VALUE_EXCEEDED": "You provided a numeric parameter that has a smaller value than allowed.",
    "MAX_VALUE_EXCEEDED": "You provided a numeric parameter that has a larger value than allowed.",
}

# --------------------------------------------------------------------------- parsing


def parse_json_request(target_header: str | None, body: bytes, service: str = DEFAULT_SERVICE) -> tuple[str, dict[str, Any]]:
    """Resolve the operation named by ``X-Amz-Target`` and its typed, validated params
    (``resolve_json_operation`` then ``read_json_request``)."""
    operation = resolve_json_operation(target_header, service)
    return operation.name, read_json_request(operation, body)


JSON_SERVICES = ("organizations", "tessera-authz", "cloudtrail")


def json_service(target_header: str) -> str:
    """The awsJson1_1 service whose target prefix ``X-Amz-Target`` carries (Organizations
    unless another's prefix matches, so an unknown target is Organizations' error). The
    operation follows the last dot: CloudTrail's prefix has dots of its own."""
    prefix = target_header.rpartition(".")[0]
    for name in JSON_SERVICES[1:]:
        if service_spec(name).target_prefix == prefix:
            return name
    return DEFAULT_SERVICE


def resolve_json_operation(target_header: str | None, service: str = DEFAULT_SERVICE) -> Operation:
    """The operation ``X-Amz-Target`` names; ``InvalidAction`` if none."""
    spec = service_spec(service)
    prefix, _, name = (target_header or "").rpartition(".")
    operation = spec.resolve(name) if prefix == spec.target_prefix else None
    if operation is None:
        raise errors.InvalidAction(f"Operation '{target_header or ''}' is not recognized.")
    return operation


def read_json_request(operation: Operation, body: bytes) -> dict[str, Any]:
    """The typed params of ``operation`` decoded from ``body`` and validated: read and
    checked in one walk (``_checked``), the violations named only when there are some."""
    shape = operation.model.input_shape
    if shape is None:
        return {}
    broken: list[bool] = []
    params: dict[str, Any] = _checked(shape)(_decode_body(body), "", broken)
    if broken:
        violations = find_violations(shape, params)
        if violations:
            if operation.service == "cloudtrail":
                raise cloudtrail_invalid(violations[0])
            raise invalid_input(violations[0])
    return params


def read_json_params(shape: Shape, document: Mapping[str, Any]) -> dict[str, Any]:
    """The typed params of input ``shape`` from a decoded JSON object, without validation."""
    return _read_structure(shape, document, "")


def invalid_input(violation: Violation) -> errors.OrganizationsError:
    """Organizations' ``InvalidInputException`` for a constraint violation."""
    message = REASON_MESSAGES[violation.reason]
    return errors.OrganizationsError("InvalidInputException", message, reason=violation.reason)


CLOUDTRAIL_INVALID = {
    "maxResults": ("InvalidMaxResultsException", "MaxResults must be between 1 and 50."),
    "eventCategory": ("InvalidEventCategoryException", "EventCategory must be insight."),
}


def cloudtrail_invalid(violation: Violation) -> errors.CloudTrailError:
    """CloudTrail's error for a constraint violation: each member has its own exception
    (a lookup attribute's is InvalidLookupAttributesException)."""
    code, message = CLOUDTRAIL_INVALID.get(violation.path, ("InvalidLookupAttributesException", ""))
    return errors.CloudTrailError(code, message or violation.describe())


def _decode_body(body: bytes) -> Mapping[str, Any]:
    # orjson first, the json module for what orjson refuses (a lone surrogate escape,
    # NaN, 1e400, deep nesting, a byte-order mark), so that its errors stay as they were.
    # Where the two accept, they agree but on an integer beyond 64 bits (orjson gives a
    # float), which every reader answers alike: out of range for an integer or a
    # timestamp, the same double for a float (both round correctly), the wrong type for
    # anything else. bench.load's AuthorizeRequest body (528 bytes): 49.8 -> ~15 thousand
    # instructions (callgrind, 1 000 calls).
    if not body.strip():
        return {}
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _decode_exactly(body)
    if not isinstance(document, dict):
        return _decode_exactly(body)
    return document


def _decode_exactly(body: bytes) -> Mapping[str, Any]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: nesting thousands deep
        raise errors.MalformedRequest("The request body is not valid JSON.") from exc
    if not isinstance(document, dict):
        raise errors.MalformedRequest("The request body must be a JSON object.")
    if _SURROGATE_ESCAPE.search(body):
        try:  # a \uD800-style escape with no partner decodes to text that is not Unicode
            json.dumps(document, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise errors.MalformedRequest("The request body is not valid JSON.") from exc
    return document


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _read(shape: Shape, value: Any, path: Where) -> Any:
    reader: Reader = _READERS.get(shape.type_name, _read_string)
    return reader(shape, value, path)


@functools.cache
def _member_readers(shape: Shape) -> tuple[tuple[str, Shape, Reader], ...]:
    """(name, shape, reader) of each member of a structure, looked up once per shape."""
    return tuple((name, member, _READERS.get(member.type_name, _read_string)) for name, member in shape.members.items())


def _read_structure(shape: Shape, value: Any, path: Where) -> dict[str, Any]:
    # Readers looked up once per shape and strings taken without a call: AuthorizeRequest's
    # input (bench.load's body, 9 headers) read in about 16 µs before, 8-9 µs after (best of
    # 5 x 20 000 with timeit, this machine, loaded).
    if not isinstance(value, dict):
        _wrong_type(path, "an object")
    params: dict[str, Any] = {}
    for name, member, reader in _member_readers(shape):
        item = value.get(name)
        if item is not None:
            params[name] = item if reader is _read_string and isinstance(item, str) else reader(member, item, (path, name))
    return params


# Reading and checking in one walk. ``_checked(shape)`` reads a value as ``_read`` does
# (the same values, the same SerializationException at the same place) and appends to
# ``broken`` when the value read breaks a constraint that ``find_violations`` would
# report (the same rules as ``validate``'s compiled validators); the caller then has
# ``find_violations`` name them. A string member is read and checked inline, without a
# call. read_json_request of AuthorizeRequest's input (bench.load's body): 129 k -> 80 k
# instructions (callgrind, 1 000 calls); bench.authz_instructions authorize 200: 974 k ->
# 941 k instructions per request.
CheckedReader = Callable[[Any, Where, list[bool]], Any]

#: The longest text whose pattern check ``_kept_match`` remembers, and how many texts
#: one string member remembers: a client's header names, its service, method, action
#: and address recur from request to request; a path or a resource ARN mostly does not,
#: and a long one is matched and forgotten. A member holds at most 64 texts of 64
#: characters (~8 KB with their entries), so the few hundred patterned members of the
#: served models hold a few MB at worst, however many distinct texts callers send.
KEPT_MATCH_TEXT = 64
KEPT_MATCHES = 64


def _kept_match(match: Callable[[str], object]) -> Callable[[str], bool]:
    """``match(text) is not None`` (a pattern's ``fullmatch``: pure), remembered per
    text in a C LRU (``functools.lru_cache`` keys one text by itself): a hit costs less
    than the regular expression. ``_checked_structure`` gives it texts of at most
    ``KEPT_MATCH_TEXT`` characters. bench.authz_instructions authorize 200 (callgrind):
    900.0 k -> 890.2 k instructions per AuthorizeRequest (its body has 15 patterned
    texts, 9 of them header names)."""
    return functools.lru_cache(maxsize=KEPT_MATCHES)(lambda text: match(text) is not None)


@functools.cache
def _checked(shape: Shape) -> CheckedReader:
    kind = shape.type_name
    if kind == "structure":
        return _checked_structure(shape)
    if kind == "list":
        return _checked_list(shape)
    if kind == "string":
        return _checked_string(shape)
    reader: Reader = _READERS.get(kind, _read_string)
    valid = compiled_validator(shape)

    def read(value: Any, path: Where, broken: list[bool]) -> Any:
        item = reader(shape, value, path)
        if not valid(item):
            broken.append(True)
        return item

    return read


def _checked_string(shape: Shape) -> CheckedReader:
    low, high, match, allowed = string_check(shape)

    def read(value: Any, path: Where, broken: list[bool]) -> Any:
        if not isinstance(value, str):
            _wrong_type(path, "a string")
        if not low <= len(value) <= high or (match is not None and match(value) is None) or (allowed is not None and value not in allowed):
            broken.append(True)
        return value

    return read


# a structure member as ``_checked_structure`` reads it: name, reader, is it a string,
# least and greatest length, the pattern's ``fullmatch`` and ``_kept_match`` of it (or
# None), the enum (or None), is it required
Member = tuple[
    str, CheckedReader, bool, int, int, Callable[[str], object] | None, Callable[[str], bool] | None, frozenset[str] | None, bool
]


def _checked_structure(shape: Shape) -> CheckedReader:
    required = set(shape.required_members)
    # built on first use (shapes may nest themselves); a whole tuple, appended at once
    built: list[tuple[Member, ...]] = []

    def members() -> tuple[Member, ...]:
        out = []
        for name, member in shape.members.items():
            is_string = member.type_name == "string"
            low, high, match, allowed = string_check(member) if is_string else (0, 0, None, None)
            kept = _kept_match(match) if match is not None else None
            out.append((name, _checked(member), is_string, low, high, match, kept, allowed, name in required))
        return tuple(out)

    def read(value: Any, path: Where, broken: list[bool]) -> dict[str, Any]:
        if not isinstance(value, dict):
            _wrong_type(path, "an object")
        if not built:
            built.append(members())
        params: dict[str, Any] = {}
        for name, reader, is_string, low, high, match, kept, allowed, needed in built[0]:
            item = value.get(name)
            if item is None:
                if needed:
                    broken.append(True)
            elif is_string and item.__class__ is str:
                params[name] = item
                size = len(item)
                fits = low <= size <= high and (
                    match is None or (kept(item) if size <= KEPT_MATCH_TEXT else match(item) is not None)  # type: ignore[misc]
                )
                if not fits or (allowed is not None and item not in allowed):
                    broken.append(True)
            else:
                params[name] = reader(item, (path, name), broken)
        return params

    return read


def _checked_list(shape: Shape) -> CheckedReader:
    low, high = string_check(shape)[:2]  # the model's min and max, on the list's length
    built: list[CheckedReader] = []

    def read(value: Any, path: Where, broken: list[bool]) -> list[Any]:
        if not isinstance(value, list):
            _wrong_type(path, "an array")
        if not built:
            built.append(_checked(shape.member))
        item_reader = built[0]
        items = [item_reader(item, (path, i), broken) for i, item in enumerate(value, 1) if item is not None]
        if not low <= len(items) <= high:
            broken.append(True)
        return items

    return read


def _read_list(shape: Shape, value: Any, path: Where) -> list[Any]:
    if not isinstance(value, list):
        _wrong_type(path, "an array")
    member = shape.member
    reader: Reader = _READERS.get(member.type_name, _read_string)
    return [reader(member, item, (path, i)) for i, item in enumerate(value, 1) if item is not None]


def _read_map(shape: Shape, value: Any, path: Where) -> dict[str, Any]:
    if not isinstance(value, dict):
        _wrong_type(path, "an object")
    return {key: _read(shape.value, item, f"{spell(path)}.{key}") for key, item in value.items() if item is not None}


def _read_string(shape: Shape, value: Any, path: Where) -> str:
    if not isinstance(value, str):
        _wrong_type(path, "a string")
    return value


_INTEGER_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
"""What botocore's ``integer`` and ``long`` shapes can hold (Java's int and long)."""


def _read_integer(shape: Shape, value: Any, path: Where) -> int:
    """A JSON number with no fraction that the member's type can hold: a number of
    thousands of digits is a SerializationException here, never a value handed on."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _wrong_type(path, "an integer")
    if isinstance(value, float) and not value.is_integer():
        _wrong_type(path, "an integer")
    number = int(value)
    low, high = _INTEGER_RANGES.get(shape.type_name, _INTEGER_RANGES["long"])
    if not low <= number <= high:
        _wrong_type(path, f"an integer between {low} and {high}")
    return number


def _read_float(shape: Shape, value: Any, path: Where) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _wrong_type(path, "a number")
    try:
        number = float(value)
    except OverflowError:
        _wrong_type(path, "a finite number")
    if not math.isfinite(number):
        _wrong_type(path, "a finite number")
    return number


def _read_boolean(shape: Shape, value: Any, path: Where) -> bool:
    if not isinstance(value, bool):
        _wrong_type(path, "a boolean")
    return value


def _read_timestamp(shape: Shape, value: Any, path: Where) -> dt.datetime:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _wrong_type(path, "a timestamp in epoch seconds")
    try:
        return dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        _wrong_type(path, "a timestamp in epoch seconds")


def _read_blob(shape: Shape, value: Any, path: Where) -> bytes:
    if not isinstance(value, str):
        _wrong_type(path, "a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        _wrong_type(path, "a base64 string")


def _wrong_type(path: Where, expected: str) -> NoReturn:
    spelled = spell(path)
    where = f"'{spelled}'" if spelled else "the request body"
    raise errors.MalformedRequest(f"Unexpected value at {where}: expected {expected}.")


_READERS: dict[str, Reader] = {
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


def serialize_json_response(operation: str, result: Mapping[str, Any] | None, service: str = DEFAULT_SERVICE) -> bytes:
    """The JSON success body of ``operation``: output members at the top level."""
    resolved = service_spec(service).resolve(operation)
    if resolved is None:
        raise ValueError(f"{service} has no operation {operation!r}")
    return encode_json_response(resolved, result)


def encode_json_response(operation: Operation, result: Mapping[str, Any] | None) -> bytes:
    """``serialize_json_response`` for an operation already resolved."""
    shape = operation.model.output_shape
    if shape is None or not result:
        return b"{}"
    document = _converter(operation.service, shape.name)(result)
    if _number_free(operation.service, shape.name):
        return _dumps_plain(document)
    return _dumps(document)


def serialize_json_error(error: errors.TesseraError) -> tuple[int, bytes]:
    """(HTTP status, ``{"__type", "Message"[, "Reason"]}`` body) for ``error``.

    Client faults are all HTTP 400 on this protocol (Organizations documents 400 for
    every client exception, and the same for authentication failures),
    except 413 for an oversized body; server faults keep their 5xx status.
    """
    document: dict[str, Any] = {"__type": error.json_code or error.code, "Message": error.message}
    reason = getattr(error, "reason", None)
    if isinstance(reason, str):
        document["Reason"] = reason
    status = 400 if error.sender_fault and error.status != 413 else error.status
    return status, _dumps(document)


def _dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


#: orjson's options that send a subclass of str, int, dict or list, a dataclass and a
#: datetime to ``default`` (which refuses them) rather than serializing them its own way.
_PLAIN = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def _refuse(value: object) -> NoReturn:
    raise TypeError(type(value).__name__)


def _dumps_plain(document: Any) -> bytes:
    """``_dumps`` of a document with no float in it (``_number_free``), by orjson: for
    dicts with text keys, lists, tuples, text, integers of 64 bits, booleans and None
    the two write the same bytes (the same escapes: ``\\n``-style for the five short
    ones, ``\\u00xx`` for the other control characters, nothing else escaped); anything
    else orjson refuses (a subclass, a key that is not text, a wider integer, deep
    nesting, a lone surrogate) is written by ``_dumps``, so its answer or error stays
    the json module's. Measured: ``bench.authz_instructions authorize 200`` (callgrind,
    ``--toggle-collect=functools_reduce``) 1 084 k -> 1 029 k instructions per
    AuthorizeRequest (json.dumps builds an encoder per call)."""
    try:
        return orjson.dumps(document, default=_refuse, option=_PLAIN)
    except (TypeError, orjson.JSONEncodeError):
        return _dumps(document)


_NUMBER_FREE_TYPES = frozenset({"string", "boolean", "integer", "long", "blob"})
"""Leaf shapes whose converted value is never a float: text, booleans, integers, and
blobs (base64 text); a timestamp may become a float (epoch seconds with a fraction)."""


@functools.cache
def _number_free(service: str, shape_name: str) -> bool:
    """Whether no value of output shape ``shape_name`` converts to a float (the one JSON
    value orjson and the json module write differently: ``1e16`` against ``1e+16``)."""
    model = service_spec(service).model
    seen: set[str] = set()
    pending = [model.shape_for(shape_name)]
    while pending:
        shape = pending.pop()
        if shape.name in seen:
            continue
        seen.add(shape.name)
        kind = shape.type_name
        if kind == "structure":
            pending.extend(shape.members.values())
        elif kind == "list":
            pending.append(shape.member)
        elif kind == "map":
            pending.extend((shape.key, shape.value))
        elif kind not in _NUMBER_FREE_TYPES:
            return False
    return True


Converter = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


@functools.cache
def _converter(service: str, shape_name: str) -> Converter:
    """A function turning a result of shape ``shape_name`` into JSON-ready data.

    Structures drop ``None`` members (absent members are omitted, not ``null``),
    timestamps become epoch seconds and blobs base64; built once per shape. Member
    converters are looked up when used, so recursive shapes need no special care.
    """
    shape = service_spec(service).model.shape_for(shape_name)
    kind = shape.type_name
    if kind == "structure":
        return _structure_converter(service, shape)
    if kind == "list":
        return _list_converter(service, shape.member.name)
    if kind == "map":
        member = shape.value.name
        return lambda value: {key: _converter(service, member)(item) for key, item in value.items()}
    if kind == "timestamp":
        return epoch_seconds
    if kind == "blob":
        return _base64
    return _identity


def _list_converter(service: str, member: str) -> Converter:
    # the member's converter looked up on first use (shapes may nest themselves), then
    # kept: not a cache look-up per item
    found: list[Converter] = []

    def convert(value: Any) -> list[Any]:
        if not found:
            found.append(_converter(service, member))
        each = found[0]
        return [each(item) for item in value]

    return convert


_AS_IS = frozenset({"string", "boolean", "integer", "long", "float", "double"})
"""Shapes whose values are JSON-ready as they are (``_converter`` gives ``_identity``)."""


def _structure_converter(service: str, shape: Shape) -> Converter:
    # Members whose values need no conversion are copied without a call: AuthorizeRequest's
    # answer (a principal and one matched statement) has 14 of them.
    members = [(name, member.name, member.type_name in _AS_IS) for name, member in shape.members.items()]
    # the other members' converters, looked up on first use (shapes may nest themselves)
    # and kept: not a cache look-up per member per value
    found: dict[str, Converter] = {}

    def convert(value: Mapping[str, Any]) -> dict[str, Any]:
        converted: dict[str, Any] = {}
        for name, shape_name, as_is in members:
            item = value.get(name)
            if item is not None:
                if as_is:
                    converted[name] = item
                else:
                    each = found.get(shape_name)
                    if each is None:
                        each = found[shape_name] = _converter(service, shape_name)
                    converted[name] = each(item)
        return converted

    return convert


def epoch_seconds(value: dt.datetime | float) -> int | float:
    """A datetime (naive means UTC) as epoch seconds: an int when whole, else a float."""
    if not isinstance(value, dt.datetime):
        return value
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    whole = calendar.timegm(value.utctimetuple())
    return whole + value.microsecond / 1_000_000 if value.microsecond else whole


def _base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")
