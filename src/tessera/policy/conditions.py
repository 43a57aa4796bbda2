"""Condition operators: parsed and validated once, evaluated as total boolean functions.

Each operator family has a small *compile* step (policy values → typed operands, raising
``ValueError`` for a value IAM would refuse) and a *test* that answers "does this one
request value satisfy the operator against any of the policy values?". Negated operators
(``StringNotEquals``, ``NotIpAddress``, …) are the negation of their positive twin, so a
request value must match none of the listed values. The modifiers ``…IfExists``,
``ForAllValues:`` and ``ForAnyValue:`` wrap any operator once, in ``Condition.holds``.

Sources: IAM User Guide, "IAM JSON policy elements: Condition operators" and
"Single-valued vs. multivalued context keys".
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from tessera.policy.pattern import ArnPattern, Pattern, Variable, variable_value

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Compiled = tuple[object, ...]
Test = Callable[[object, Compiled, Mapping[str, object]], bool]
Compile = Callable[[list[str], bool], Compiled]

_MISSING = object()

# ---------------------------------------------------------------- request-side coercions


def as_string(value: object) -> str | None:
    """A context value as the string operators compare it: the text it gives a policy
    variable, and a decimal number's text as well."""
    if isinstance(value, Decimal):
        return str(value)
    return variable_value(value)


def as_number(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        return parse_number(value)
    return None


def parse_number(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


_ISO_DATE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?)?)?)?",
    re.ASCII,
)
_EPOCH = re.compile(r"-?\d+(?:\.\d+)?", re.ASCII)


def parse_date(text: str) -> dt.datetime | None:
    """ISO 8601 (W3C profile; no zone means UTC) or epoch seconds → aware UTC datetime."""
    text = text.strip()
    if _EPOCH.fullmatch(text):
        return _from_epoch(Decimal(text))
    match = _ISO_DATE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        value = dt.datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=_zone(zone),
        )
    except ValueError:
        return None
    return value.astimezone(dt.UTC)


def _zone(text: str | None) -> dt.tzinfo:
    if not text or text == "Z":
        return dt.UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if hours > 23 or minutes > 59:
        raise ValueError(text)
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def _from_epoch(seconds: Decimal) -> dt.datetime | None:
    try:
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=float(seconds))
    except (OverflowError, ValueError):
        return None


def as_datetime(value: object) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return _from_epoch(Decimal(value))
    if isinstance(value, str):
        return parse_date(value)
    return None


def as_ip(value: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    if isinstance(value, str):
        try:
            return ipaddress.ip_address(value.strip())
        except ValueError:
            return None
    return None


def as_bytes(value: object) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return _b64(value)
    return None


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


# ---------------------------------------------------------------- compile steps (policy side)


def _compile_strings(values: list[str], variables: bool) -> Compiled:
    """(frozenset of literal values, tuple of variable-bearing Patterns)."""
    literals, templates = _split_templates(values, variables)
    return (frozenset(literals), templates)


def _compile_strings_folded(values: list[str], variables: bool) -> Compiled:
    literals, templates = _split_templates(values, variables)
    return (frozenset(v.lower() for v in literals), templates)


def _split_templates(values: list[str], variables: bool) -> tuple[list[str], tuple[Pattern, ...]]:
    literals: list[str] = []
    templates: list[Pattern] = []
    for value in values:
        pattern = Pattern.compile(value, variables=variables)
        if pattern.variables:
            templates.append(pattern)
        else:
            literals.append(pattern.resolve_literal({}) or "")
    return literals, tuple(templates)


def _compile_globs(values: list[str], variables: bool) -> Compiled:
    return tuple(Pattern.compile(value, variables=variables) for value in values)


def _compile_arns(values: list[str], variables: bool) -> Compiled:
    return tuple(ArnPattern.compile(v, variables=variables, variables_everywhere=True) for v in values)


def _compile_numbers(values: list[str], variables: bool) -> Compiled:
    numbers = tuple(parse_number(value) for value in values)
    for value, number in zip(values, numbers, strict=False):
        if number is None:
            raise ValueError(f'"{value}" is not a number')
    return numbers


def _compile_dates(values: list[str], variables: bool) -> Compiled:
    dates = tuple(parse_date(value) for value in values)
    for value, date in zip(values, dates, strict=False):
        if date is None:
            raise ValueError(f'"{value}" is not an ISO 8601 date or epoch time')
    return dates


def _compile_bools(values: list[str], variables: bool) -> Compiled:
    literals, templates = _split_templates(values, variables)
    for value in literals:
        if value.lower() not in ("true", "false"):
            raise ValueError(f'"{value}" is not "true" or "false"')
    return (frozenset(v.lower() for v in literals), templates)


def _compile_binary(values: list[str], variables: bool) -> Compiled:
    decoded = tuple(_b64(value) for value in values)
    for value, data in zip(values, decoded, strict=False):
        if data is None:
            raise ValueError(f'"{value}" is not base64')
    return decoded


def _compile_networks(values: list[str], variables: bool) -> Compiled:
    networks: list[IpNetwork] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f'"{value}" is not an IP address or CIDR block') from None
    return tuple(networks)


# ---------------------------------------------------------------- tests (positive forms)


def string_equals(value: object, compiled: Compiled, context: Mapping[str, object]) -> bool:
    text = as_string(value)
    if text is None:
        return False
    literals, templates = compiled
    if text in literals:  # type: ignore[operator]
        return True
    return any(t.resolve_literal(context) == text for t in templates)  # type: ignore[attr-defined]


def string_equals_ignore_case(value: object, compiled: Compiled, context: Mapping[str, object]) -> bool:
    text = as_string(value)
    if text is None:
        return False
    text = text.lower()
    literals, templates = compiled
    if text in literals:  # type: ignore[operator]
        return True
    for template in templates:  # type: ignore[attr-defined]
        resolved = template.resolve_literal(context)
        if resolved is not None and resolved.lower() == text:
            return True
    return False


def string_like(value: object, compiled: Compiled, context: Mapping[str, object]) -> bool:
    text = as_string(value)
    return text is not None and any(p.matches(text, context) for p in compiled)  # type: ignore[attr-defined]


def arn_like(value: object, compiled: Compiled, context: Mapping[str, object]) -> bool:
    """Compiled into ARN patterns (matched part by part), tested as StringLike is."""
    return string_like(value, compiled, context)


def _numeric(compare: Callable[[Decimal, Decimal], bool]) -> Test:
    def test(value: object, compiled: Compiled, context: Mapping[str, object]) -> bool:
        number = as_number(value)
        return number is not None and any(compare(number, p) for p in compiled)  # type: ignore[arg-type]

    return test


def _date(compare: Callable[[dt.datetime, dt.datetime], bool]) -> Test:
    def test(value: object, compiled: Compiled, context: Mapping[str, object]) -> bool:
        when = as_datetime(value)
        return when is not None and any(compare(when, p) for p in compiled)  # type: ignore[arg-type]

    return test


numeric_equals = _numeric(lambda r, p: r == p)
numeric_less_than = _numeric(lambda r, p: r < p)
numeric_less_than_equals = _numeric(lambda r, p: r <= p)
numeric_greater_than = _numeric(lambda r, p: r > p)
numeric_greater_than_equals = _numeric(lambda r, p: r >= p)
date_equals = _date(lambda r, p: r == p)
date_less_than = _date(lambda r, p: r < p)
date_less_than_equals = _date(lambda r, p: r <= p)
date_greater_than = _date(lambda r, p: r > p)
date_greater_than_equals = _date(lambda r, p: r >= p)


def bool_(value: object, compiled: Compiled, context: Mapping[str, object]) -> bool:
    """ "true"/"false" compared as StringEqualsIgnoreCase compares (compiled to lower case)."""
    return string_equals_ignore_case(value, compiled, context)


def binary_equals(value: object, compiled: Compiled, context: Mapping[str, object]) -> bool:
    data = as_bytes(value)
    return data is not None and data in compiled


def ip_address(value: object, compiled: Compiled, context: Mapping[str, object]) -> bool:
    address = as_ip(value)
    if address is None:
        return False
    return any(address.version == net.version and address in net for net in compiled)  # type: ignore[attr-defined,operator]


@dataclass(frozen=True, slots=True)
class Operator:
    """One base operator: how to compile its values, its positive test, and whether
    the written name is the negation of that test."""

    name: str
    compile: Compile
    test: Test
    negated: bool = False
    takes_variables: bool = False


def _registry() -> dict[str, Operator]:
    strings = (_compile_strings, string_equals)
    folded = (_compile_strings_folded, string_equals_ignore_case)
    globs = (_compile_globs, string_like)
    arns = (_compile_arns, arn_like)
    table: list[tuple[str, tuple[Compile, Test], bool, bool]] = [
        ("StringEquals", strings, False, True),
        ("StringNotEquals", strings, True, True),
        ("StringEqualsIgnoreCase", folded, False, True),
        ("StringNotEqualsIgnoreCase", folded, True, True),
        ("StringLike", globs, False, True),
        ("StringNotLike", globs, True, True),
        ("NumericEquals", (_compile_numbers, numeric_equals), False, False),
        ("NumericNotEquals", (_compile_numbers, numeric_equals), True, False),
        ("NumericLessThan", (_compile_numbers, numeric_less_than), False, False),
        ("NumericLessThanEquals", (_compile_numbers, numeric_less_than_equals), False, False),
        ("NumericGreaterThan", (_compile_numbers, numeric_greater_than), False, False),
        ("NumericGreaterThanEquals", (_compile_numbers, numeric_greater_than_equals), False, False),
        ("DateEquals", (_compile_dates, date_equals), False, False),
        ("DateNotEquals", (_compile_dates, date_equals), True, False),
        ("DateLessThan", (_compile_dates, date_less_than), False, False),
        ("DateLessThanEquals", (_compile_dates, date_less_than_equals), False, False),
        ("DateGreaterThan", (_compile_dates, date_greater_than), False, False),
        ("DateGreaterThanEquals", (_compile_dates, date_greater_than_equals), False, False),
        ("Bool", (_compile_bools, bool_), False, True),
        ("BinaryEquals", (_compile_binary, binary_equals), False, False),
        ("IpAddress", (_compile_networks, ip_address), False, False),
        ("NotIpAddress", (_compile_networks, ip_address), True, False),
        ("ArnEquals", arns, False, True),
        ("ArnLike", arns, False, True),
        ("ArnNotEquals", arns, True, True),
        ("ArnNotLike", arns, True, True),
    ]
    return {name: Operator(name, compile_, test, negated, variables) for name, (compile_, test), negated, variables in table}


OPERATORS: Mapping[str, Operator] = _registry()
NULL = "Null"
SET_OPERATORS = ("ForAllValues", "ForAnyValue")
_IF_EXISTS = "IfExists"


@dataclass(frozen=True, slots=True)
class OperatorName:
    """A written operator name split into its parts."""

    set_operator: str  # "", "ForAllValues" or "ForAnyValue"
    base: str  # "StringEquals", "Null", …
    if_exists: bool


def split_operator(name: str) -> OperatorName | None:
    """``ForAnyValue:StringLikeIfExists`` → parts; None for an unknown operator."""
    set_operator, _, base = name.rpartition(":")
    if set_operator and set_operator not in SET_OPERATORS:
        return None
    if base == NULL:
        return OperatorName(set_operator, NULL, False)
    if base in OPERATORS:
        return OperatorName(set_operator, base, False)
    if base.endswith(_IF_EXISTS) and base[: -len(_IF_EXISTS)] in OPERATORS:
        return OperatorName(set_operator, base[: -len(_IF_EXISTS)], True)
    return None


@dataclass(frozen=True, slots=True, eq=False)
class Condition:
    """One (operator, key) pair of a Condition block, with its values compiled.

    ``holds`` is total: a missing key, a value of the wrong type or an unresolvable
    policy variable makes a comparison false, never an exception."""

    operator: str  # as written
    key: str  # as written
    values: tuple[object, ...]  # as written (str, int, Decimal or bool), for serialising
    key_lower: str
    name: OperatorName
    operator_spec: Operator | None  # None for Null
    compiled: Compiled
    variable_keys: tuple[str, ...]

    @property
    def referenced_keys(self) -> tuple[str, ...]:
        return (self.key, *self.variable_keys)

    def holds(self, context: Mapping[str, object]) -> bool:
        value = context.get(self.key_lower, _MISSING)
        if self.operator_spec is None:
            return _null(value, self.compiled)
        if value is _MISSING or value is None:
            return self._absent()
        if isinstance(value, list | tuple | set | frozenset):
            return self._multivalued(value, context)
        return self._single(value, context)

    def _absent(self) -> bool:
        if self.name.if_exists or self.name.set_operator == "ForAllValues":
            return True
        if self.name.set_operator == "ForAnyValue":
            return False
        return self.operator_spec is not None and self.operator_spec.negated

    def _single(self, value: object, context: Mapping[str, object]) -> bool:
        spec = self.operator_spec
        return spec is not None and spec.test(value, self.compiled, context) != spec.negated

    def _multivalued(self, values: Iterable[object], context: Mapping[str, object]) -> bool:
        items = tuple(values)
        if self.name.set_operator == "ForAllValues":
            return all(self._single(v, context) for v in items)
        if not items:
            return self._absent()
        return any(self._single(v, context) for v in items)


def _null(value: object, compiled: Compiled) -> bool:
    absent = value is _MISSING or value is None or (isinstance(value, list | tuple) and not value)
    return absent in compiled


def compile_condition(operator: str, key: str, raw_values: tuple[object, ...], variables: bool) -> Condition:
    """Validate and compile one (operator, key, values) triple.

    Raises ``ValueError`` with a message saying what is wrong; the parser adds where."""
    name = split_operator(operator)
    if name is None:
        raise ValueError(f'Unknown condition operator "{operator}".')
    texts = [_value_text(operator, key, v) for v in raw_values]
    if name.base == NULL:
        flags = {t.lower() for t in texts}
        if not flags <= {"true", "false"}:
            raise ValueError(f'Condition "{operator}" on "{key}" takes "true" or "false".')
        return Condition(operator, key, raw_values, key.lower(), name, None, tuple(f == "true" for f in flags), ())
    spec = OPERATORS[name.base]
    use_variables = variables and spec.takes_variables
    try:
        compiled = spec.compile(texts, use_variables)
    except ValueError as exc:
        raise ValueError(f'Condition "{operator}" on "{key}": {exc}.') from None
    variable_keys = _variable_names(texts) if use_variables else ()
    return Condition(operator, key, raw_values, key.lower(), name, spec, compiled, variable_keys)


def _value_text(operator: str, key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal):
        return str(value)
    raise ValueError(f'Condition "{operator}" on "{key}" has a value that is not a string, number or boolean.')


def _variable_names(texts: list[str]) -> tuple[str, ...]:
    """The distinct variable names, in order (a dict: a list's ``in`` made this
    quadratic in the number of variables)."""
    names: dict[str, None] = {}
    for text in texts:
        for element in Pattern.compile(text, variables=True).elements:
            if isinstance(element, Variable):
                names.setdefault(element.name)
    return tuple(names)
