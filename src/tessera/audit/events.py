"""CloudTrail-format audit events, one per request: allowed, denied or failed.

Secrets never enter an event: request parameters and response elements are walked
along the operation's botocore shapes and every member whose shape is marked
``sensitive`` (secret access keys, session tokens, MFA seeds, policy-free passwords…)
is replaced by ``HIDDEN_DUE_TO_SECURITY_REASONS`` as CloudTrail does. Response
elements are recorded for write calls and for calls that issue credentials (CloudTrail
omits them for other reads; AssumeRoleWithSAML and AssumeRoleWithWebIdentity are
``readOnly`` yet record their credentials, the secret hidden).

What a client sends is capped per field as CloudTrail caps it ("CloudTrail truncates a
field if the field's contents exceeds the maximum field size. If a field is truncated,
omitted is present with a value of true":
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html):
``userAgent``, ``errorCode`` and ``errorMessage`` are cut to 1 KB (``FIELD_LIMIT``), the
few short identity fields to their longest valid form, and ``requestParameters``,
``responseElements`` and ``additionalEventData`` larger than 100 KB (``ELEMENTS_LIMIT``)
are omitted. One event thus stores at most about 310 KB whatever the request held
(``bounded``, applied by the writer off the request path, checks the three large fields).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import orjson
from botocore.model import ListShape, MapShape, Shape, StructureShape

from tessera.audit.ids import new_id
from tessera.auth.caller import Caller
from tessera.clock import iso_seconds
from tessera.service_models import Operation

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
EVENT_SOURCES = {
    "iam": "iam.amazonaws.com",
    "sts": "sts.amazonaws.com",
    "organizations": "organizations.amazonaws.com",
    "tessera-authz": "authz.tessera.amazonaws.com",
}
IDENTITY_TYPES = {
    "root": "Root",
    "user": "IAMUser",
    "assumed-role": "AssumedRole",
    "federated-user": "FederatedUser",
    "web-identity": "WebIdentityUser",
}
# Extra members never recorded even though the model does not mark them sensitive.
ALWAYS_HIDDEN = frozenset(
    {
        "SecretAccessKey",
        "SessionToken",
        "Base32StringSeed",
        "QRCodePNG",
        "TokenCode",
        "AuthenticationCode1",
        "AuthenticationCode2",
        "Password",
        "OldPassword",
        "NewPassword",
        "ServicePassword",
        "ServiceCredentialSecret",
        "PrivateKey",
    }
)


# Global services: CloudTrail records their events in us-east-1 whatever region the
# client signed for
# (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-concepts.html#cloudtrail-concepts-global-service-events)
GLOBAL_SERVICES = frozenset({"iam", "organizations"})
GLOBAL_REGION = "us-east-1"

FIELD_LIMIT = 1024  # userAgent, errorCode, errorMessage
ELEMENTS_LIMIT = 100 * 1024  # requestParameters, responseElements (as JSON)
SHORT_LIMITS = {"sourceIPAddress": 64, "awsRegion": 64}  # an IPv6 text form is at most 45
ACCESS_KEY_LIMIT = 128  # the longest access key id IAM accepts
_SOURCE_LIMIT = SHORT_LIMITS["sourceIPAddress"]

Redactor = Callable[[Any], Any]


def _cap(text: str, limit: int) -> tuple[str, bool]:
    return (text, False) if len(text) <= limit else (text[:limit], True)


def bounded(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` with ``requestParameters``/``responseElements``/``additionalEventData`` omitted when larger than
    ``ELEMENTS_LIMIT`` as JSON (``omitted`` then true). Costs one JSON encoding of the
    event, and of each element when the event is over the limit (orjson: ~2 µs an event,
    against ~7 µs with the standard library's encoder, measured on an AssumeRole event)."""
    try:
        # One encoding of the whole event, then of each element only when the whole is
        # over the limit (an element's JSON is part of the event's): an AuthorizeRequest
        # event, whose parameters hold the client's headers, encoded four times before.
        if len(orjson.dumps(event, default=str)) > ELEMENTS_LIMIT:
            _omit_large_elements(event)
    except orjson.JSONEncodeError:  # text that is not Unicode (a lone surrogate): the trail must still take it
        event = _unicode_only(event)
        event["omitted"] = True
        _omit_large_elements(event)
    return event


class EncodedEvent(dict[str, Any]):
    """An audit event with its JSON (``orjson.dumps`` of it as it stands) attached as
    ``json``, made by the audit writer (``bounded_encoded``) just before the event is
    written: a store writes ``json`` instead of encoding the event a second time (it
    reads the attribute, so the store needs no import of this layer). Nothing may
    change the event once it is made."""

    __slots__ = ("json",)
    json: bytes


def bounded_encoded(event: dict[str, Any]) -> dict[str, Any]:
    """``bounded(event)``, as an ``EncodedEvent`` when the event is written as it is (it
    encodes without ``default`` and is under the limit): its one encoding, which
    ``bounded`` needs for the limit, is then also the one the store writes. A
    GetCallerIdentity event was encoded twice, ~7 000 instructions each (callgrind,
    ``python -m bench.hot_path --only tessera --operation GetCallerIdentity -n 1000
    --runs 1 --callgrind``)."""
    try:
        data = orjson.dumps(event)
    except orjson.JSONEncodeError:  # a value orjson takes only with ``default``, or not Unicode
        return bounded(event)
    if len(data) > ELEMENTS_LIMIT:
        return bounded(event)
    encoded = EncodedEvent(event)
    encoded.json = data
    return encoded


def _omit_large_elements(event: dict[str, Any]) -> None:
    for name in ("requestParameters", "responseElements", "additionalEventData"):
        value = event.get(name)
        if value is not None and len(orjson.dumps(value, default=str)) > ELEMENTS_LIMIT:
            event[name] = None
            event["omitted"] = True


def _unicode_only(value: Any) -> Any:
    """``value`` with every string made valid Unicode (each lone surrogate becomes U+FFFD)."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return {_unicode_only(k): _unicode_only(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_unicode_only(item) for item in value]
    return value


def _compile(shape: Shape) -> Redactor | None:
    """A function that copies a value of ``shape`` with secrets hidden and times as
    ISO text; ``None`` when values of the shape are recorded as they are (the common
    case, which then costs nothing per request)."""
    if shape.metadata.get("sensitive"):
        return lambda value: HIDDEN
    if isinstance(shape, StructureShape):
        members = [
            (name, _lower_first(name), (lambda value: HIDDEN) if name in ALWAYS_HIDDEN else _compile(member))
            for name, member in shape.members.items()
        ]
        table = {name: (out, fn) for name, out, fn in members}

        def structure(value: Any) -> Any:
            if type(value) is not dict and not isinstance(value, Mapping):  # a dict: no ABC check (~1 µs)
                return value
            out: dict[str, Any] = {}
            for name, item in value.items():
                entry = table.get(name)
                if entry is None:
                    out[_lower_first(name)] = item
                else:
                    out[entry[0]] = item if entry[1] is None else entry[1](item)
            return out

        return structure
    if isinstance(shape, ListShape):
        inner = _compile(shape.member)
        if inner is None:
            return lambda value: list(value) if isinstance(value, (list, tuple)) else value
        element: Redactor = inner
        return lambda value: [element(item) for item in value] if isinstance(value, (list, tuple)) else value
    if isinstance(shape, MapShape):
        inner = _compile(shape.value)
        if inner is None:
            return lambda value: dict(value) if isinstance(value, Mapping) else value
        entry: Redactor = inner
        return lambda value: {k: entry(v) for k, v in value.items()} if isinstance(value, Mapping) else value
    if shape.type_name == "timestamp":
        return lambda value: iso_seconds(value) if isinstance(value, dt.datetime) else value
    if shape.type_name == "blob":
        return lambda value: HIDDEN
    return None


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


@cache  # one entry per operation of the three models
def _redactors(operation: Operation) -> tuple[Redactor | None, Redactor | None]:
    op = operation.model
    request = _compile(op.input_shape) if op.input_shape is not None else None
    response = _compile(op.output_shape) if op.output_shape is not None else None
    return request, response


def redact_request(operation: Operation, params: Mapping[str, Any] | None) -> Any:
    if not params:
        return None
    fn = _redactors(operation)[0]
    return fn(params) if fn is not None else None


def redact_response(operation: Operation, result: Mapping[str, Any] | None) -> Any:
    if not result:
        return None
    fn = _redactors(operation)[1]
    return fn(result) if fn is not None else None


def user_identity(caller: Caller | None, access_key_id: str = "") -> dict[str, Any]:
    if caller is None:
        # the key id a failed request named: client text, never longer than a real one
        access_key_id = access_key_id[:ACCESS_KEY_LIMIT]
        return {"type": "Unknown", "accessKeyId": access_key_id} if access_key_id else {"type": "Unknown"}
    if caller.kind == "web-identity":
        return _web_identity_user(caller)
    if caller.kind == "anonymous":
        return {"type": "Unknown"}
    if caller.kind == "saml-user":  # CloudTrail's SAMLUser: no ARN, no key
        qualifier = caller.user_id.partition(":")[0]
        return {"type": "SAMLUser", "principalId": caller.user_id, "userName": caller.name, "identityProvider": qualifier}
    ident: dict[str, Any] = {
        "type": IDENTITY_TYPES[caller.kind],
        "principalId": caller.user_id,
        "arn": caller.arn,
        "accountId": caller.account,
        "accessKeyId": caller.access_key_id,
    }
    if caller.kind == "user":
        ident["userName"] = caller.name
    session = caller.session
    if session is not None:
        ctx: dict[str, Any] = {
            "attributes": {
                "creationDate": iso_seconds(session.issued_at),
                "mfaAuthenticated": "true" if session.mfa_authenticated else "false",
            }
        }
        if session.kind == "assumed-role":
            ctx["sessionIssuer"] = {
                "type": "Role",
                "principalId": session.role_id,
                "arn": session.role_arn,
                "accountId": session.account,
                "userName": session.role_name,
            }
        elif session.source_arn:
            ctx["sessionIssuer"] = {
                "type": "IAMUser" if ":user/" in session.source_arn else "Root",
                "principalId": session.source_user_id,
                "arn": session.source_arn,
                "accountId": session.account,
            }
        if session.federated_provider:
            ctx["webIdFederationData"] = {"federatedProvider": session.federated_provider, "attributes": {}}
        if session.source_identity:
            ctx["sourceIdentity"] = session.source_identity
        ident["sessionContext"] = ctx
    return ident


def _web_identity_user(caller: Caller) -> dict[str, Any]:
    """An AssumeRoleWithWebIdentity caller: ``principalId`` is ``PROVIDER:AUDIENCE:SUBJECT``,
    ``userName`` the subject and ``identityProvider`` the provider's ARN
    (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html);
    only the type is known of a caller whose token did not verify."""
    ident: dict[str, Any] = {"type": "WebIdentityUser"}
    if caller.user_id:
        ident["principalId"] = caller.user_id
        ident["userName"] = caller.name
        ident["identityProvider"] = caller.arn
    return ident


OPERATOR_SOURCE = "AWS Internal"
"""``sourceIPAddress`` (and ``invokedBy``) of an event the operator's command line caused
on the data directory: CloudTrail's value for what the service does itself rather than
for a client's request."""


def unrequested_event(
    *, service: str, name: str, caller: Caller | None, when: dt.datetime, source_ip: str, user_agent: str, event_type: str
) -> dict[str, Any]:
    """The event of something no API request asked for (a sign-in step, an operator's
    command), in ``us-east-1`` with no request parameters, before the caller adds what
    its kind records; not yet ``bounded``."""
    event = build_event(
        service=service,
        operation=name,
        resolved=None,
        caller=caller,
        access_key_id="",
        when=when,
        region=GLOBAL_REGION,
        source_ip=source_ip,
        user_agent=user_agent,
        request_id=new_id(),
        params=None,
        result=None,
        error_code=None,
        error_message=None,
        read_only=False,
    )
    event["eventType"] = event_type
    return event


def operator_event(*, service: str, name: str, account: str, command: str, when: dt.datetime, details: Mapping[str, Any]) -> dict[str, Any]:
    """The event of a change an operator's command (``tessera accounts create``,
    ``tessera keys rotate``) made in ``account``'s state: no client made it, so it has
    CloudTrail's shape for a change the service made itself (``eventType``
    ``AwsServiceEvent``, a ``userIdentity`` of ``accountId`` and ``invokedBy`` only,
    what changed in ``serviceEventDetails``), with the command as ``userAgent``
    (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/non-api-aws-service-events.html).
    Commit it with the change."""
    event = unrequested_event(
        service=service, name=name, caller=None, when=when, source_ip=OPERATOR_SOURCE, user_agent=command, event_type="AwsServiceEvent"
    )
    event["userIdentity"] = {"accountId": account, "invokedBy": OPERATOR_SOURCE}
    event["recipientAccountId"] = account
    event["serviceEventDetails"] = dict(details)
    return bounded(event)


# Every event's fields, in CloudTrail's order; ``build_event`` copies it and sets the
# fields of the request (those left None and "" here are its answers when it has none).
_TEMPLATE: dict[str, Any] = {
    "eventVersion": "1.09",
    "userIdentity": None,
    "eventTime": None,
    "eventSource": None,
    "eventName": None,
    "awsRegion": None,
    "sourceIPAddress": None,
    "userAgent": None,
    "requestParameters": None,
    "responseElements": None,
    "requestID": None,
    "eventID": None,
    "readOnly": None,
    "eventType": "AwsApiCall",
    "managementEvent": True,
    "recipientAccountId": "",
    "eventCategory": "Management",
}


def build_event(
    *,
    service: str,
    operation: str,
    resolved: Operation | None,
    caller: Caller | None,
    access_key_id: str,
    when: dt.datetime,
    region: str,
    source_ip: str,
    user_agent: str,
    request_id: str,
    params: Mapping[str, Any] | None,
    result: Mapping[str, Any] | None,
    error_code: str | None,
    error_message: str | None,
    read_only: bool,
    record_response: bool | None = None,
    event_id: str | None = None,
    additional_data: Mapping[str, Any] | None = None,
    extra_request: Mapping[str, Any] | None = None,
    resources: list[dict[str, str]] | None = None,
    from_console: bool = False,
) -> dict[str, Any]:
    """The CloudTrail-shaped record of one request. ``resolved`` is the operation the
    server resolved and serves (None otherwise: no parameters or elements recorded);
    ``record_response`` whether its response elements are recorded (by default those
    of calls that are not ``read_only``); ``event_id`` is the id drawn for the request
    (a fresh one when None); ``additional_data`` is what the handler adds as
    ``additionalEventData``, ``extra_request`` to ``requestParameters`` (what it read
    from an assertion or token) and ``resources`` as ``resources``; ``from_console``
    marks a call the console made (``sessionCredentialFromConsole``)."""
    if record_response is None:
        record_response = not read_only
    request = redact_request(resolved, params) if resolved is not None else None
    if extra_request:
        request = {**(request or {}), **extra_request}
    # the caps inline (no call, no tuple): one event per request
    cut_agent = len(user_agent) > FIELD_LIMIT
    if cut_agent:
        user_agent = user_agent[:FIELD_LIMIT]
    cut_source = len(source_ip) > _SOURCE_LIMIT
    if cut_source:
        source_ip = source_ip[:_SOURCE_LIMIT]
    if service in GLOBAL_SERVICES:
        region, cut_region = GLOBAL_REGION, False
    else:
        region, cut_region = _cap(region, SHORT_LIMITS["awsRegion"])
    # a copy of the template (its keys' table copied whole) and its fields set in place:
    # a literal of 17 keys was built key by key (~1 400 instructions more, CPython 3.11)
    event = _TEMPLATE.copy()
    event["userIdentity"] = user_identity(caller, access_key_id)
    event["eventTime"] = iso_seconds(when)
    event["eventSource"] = EVENT_SOURCES.get(service, f"{service}.amazonaws.com")
    event["eventName"] = operation or "Unknown"
    event["awsRegion"] = region or GLOBAL_REGION
    event["sourceIPAddress"] = source_ip
    event["userAgent"] = user_agent
    event["requestParameters"] = request
    if record_response and not error_code and resolved is not None:
        event["responseElements"] = redact_response(resolved, result)
    event["requestID"] = request_id
    event["eventID"] = event_id or new_id()
    event["readOnly"] = read_only
    if caller:
        event["recipientAccountId"] = caller.account
    if additional_data:
        event["additionalEventData"] = dict(additional_data)
    if resources:
        event["resources"] = [dict(resource) for resource in resources]
    if from_console:
        event["sessionCredentialFromConsole"] = "true"
    omitted = cut_agent or cut_source or cut_region
    if error_code:
        event["errorCode"], cut_code = _cap(error_code, FIELD_LIMIT)
        event["errorMessage"], cut_message = _cap(error_message or "", FIELD_LIMIT)
        omitted = omitted or cut_code or cut_message
    if omitted:
        event["omitted"] = True
    return event
