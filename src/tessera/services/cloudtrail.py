"""CloudTrail's LookupEvents over Tessera's audit trail (docs/services.md).

https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html

Order of checks:

1. ``cloudtrail:LookupEvents`` on ``*`` for the caller (CloudTrail has no resource-level
   permission for it) — else AccessDenied;
2. the request: at most one lookup attribute (InvalidLookupAttributesException),
   StartTime not after EndTime (InvalidTimeRangeException), a NextToken this operation
   gave for the same filters (InvalidNextTokenException); the model's constraints
   (MaxResults 1–50, the attribute keys) are checked by the wire layer;
3. the events: of the caller's account only (``recipientAccountId``), newest first.

EventId, EventName and AccessKeyId are matched by the store's indexes; the other
attributes (ReadOnly, Username, ResourceType, ResourceName, EventSource) are matched
here, on the events read. Each call reads at most ``SCAN_BUDGET`` events from the store,
a page of ``STORE_PAGE`` at a time: a page with fewer events than asked for, and a
NextToken, is an answer too (AWS's may be as well), so a rare attribute value costs
several calls rather than one unbounded one. Tessera keeps every event until its
retention period (``tessera serve --audit-retention``) deletes it, not 90 days.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from tessera.clock import iso_seconds
from tessera.errors import CloudTrailError
from tessera.services.request import OperationContext, operation
from tessera.store.base import AuditLookup, AuditPosition

LOOKUP_ACTION = "cloudtrail:LookupEvents"
DEFAULT_RESULTS = 50
STORE_PAGE = 100
SCAN_BUDGET = 1000
"""Events one call may read from the store, matching or not."""
INDEXED = {"EventId": "event_id", "EventName": "event_name", "AccessKeyId": "access_key_id"}
"""Lookup attributes the store matches (``AuditLookup`` fields)."""
RESOURCE_PARAMETERS = {
    "userName": "AWS::IAM::User",
    "groupName": "AWS::IAM::Group",
    "roleName": "AWS::IAM::Role",
    "policyArn": "AWS::IAM::Policy",
    "instanceProfileName": "AWS::IAM::InstanceProfile",
    "accessKeyId": "AWS::IAM::AccessKey",
    "roleArn": "AWS::IAM::Role",
    "accountId": "AWS::Organizations::Account",
    "policyId": "AWS::Organizations::Policy",
}
"""Request parameters that name the resource an event acts on, and its type."""


@operation("cloudtrail", "LookupEvents", read_only=True)
def lookup_events(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize(LOOKUP_ACTION, "*")
    attribute = _attribute(params.get("LookupAttributes") or [])
    start, end = params.get("StartTime"), params.get("EndTime")
    if start is not None and end is not None and start > end:
        raise CloudTrailError("InvalidTimeRangeException", "Start time must be before end time.")
    if params.get("EventCategory") is not None:
        return {"Events": []}  # Insights events: Tessera records none
    fingerprint = _fingerprint(attribute, start, end)
    before = _read_token(params["NextToken"], fingerprint) if params.get("NextToken") else None
    wanted = params.get("MaxResults") or DEFAULT_RESULTS
    exact = attribute is None or attribute[0] in INDEXED  # the store's rows are (nearly) all answers
    query = AuditLookup(
        account=ctx.caller.account,
        limit=min(STORE_PAGE, wanted + 1) if exact else STORE_PAGE,
        before=before,
        start=iso_seconds(start) if start is not None else None,
        end=iso_seconds(end) if end is not None else None,
        **({INDEXED[attribute[0]]: attribute[1]} if attribute and attribute[0] in INDEXED else {}),
    )
    found: list[dict[str, Any]] = []
    last: AuditPosition | None = None
    more = False
    for position, event, older in _scan(ctx, query):
        last, more = position, older
        if event.get("recipientAccountId") == ctx.caller.account and (attribute is None or matches(event, *attribute)):
            found.append(lookup_event(event))
            if len(found) == wanted:
                break
    result: dict[str, Any] = {"Events": found}
    if more and last is not None:
        result["NextToken"] = _write_token(last, fingerprint)
    return result


def _scan(ctx: OperationContext, query: AuditLookup) -> Iterator[tuple[AuditPosition, Mapping[str, Any], bool]]:
    """(position, event, whether the store may hold older ones) for at most
    ``SCAN_BUDGET`` events, newest first."""
    read = 0
    while read < SCAN_BUDGET:
        rows = ctx.runtime.store.lookup_audit(query)
        read += len(rows)
        full = len(rows) == query.limit
        for index, (position, event) in enumerate(rows):
            yield position, event, full or index < len(rows) - 1
        if not full:
            return
        query = dataclasses.replace(query, before=rows[-1][0])


def _attribute(attributes: list[dict[str, str]]) -> tuple[str, str] | None:
    if len(attributes) > 1:
        raise CloudTrailError("InvalidLookupAttributesException", "You can specify only one lookup attribute.")
    if not attributes:
        return None
    return attributes[0]["AttributeKey"], attributes[0]["AttributeValue"]


def matches(event: Mapping[str, Any], key: str, value: str) -> bool:
    """Whether ``event`` has ``value`` for lookup attribute ``key``."""
    if key == "EventId":
        return event.get("eventID") == value
    if key == "EventName":
        return event.get("eventName") == value
    if key == "AccessKeyId":
        return (event.get("userIdentity") or {}).get("accessKeyId") == value
    if key == "ReadOnly":
        return ("true" if event.get("readOnly") else "false") == value
    if key == "Username":
        return username(event) == value
    if key == "EventSource":
        return event.get("eventSource") == value
    resources = event_resources(event)
    if key == "ResourceType":
        return any(resource["ResourceType"] == value for resource in resources)
    return any(resource["ResourceName"] == value for resource in resources)  # ResourceName


def username(event: Mapping[str, Any]) -> str | None:
    """The user name CloudTrail's event history shows: an IAM user's name, ``root``, a
    role session's or federated user's name (the last part of the ARN)."""
    identity = event.get("userIdentity") or {}
    if identity.get("userName"):
        return str(identity["userName"])
    if identity.get("type") == "Root":
        return "root"
    arn = identity.get("arn")
    return str(arn).rpartition("/")[2] if arn else None


def event_resources(event: Mapping[str, Any]) -> list[dict[str, str]]:
    """The resources an event names: its ``resources`` and the request parameters
    that name one (``RESOURCE_PARAMETERS``)."""
    found = [
        {"ResourceType": str(item.get("type") or ""), "ResourceName": str(item.get("ARN") or "")}
        for item in event.get("resources") or []
        if isinstance(item, dict)
    ]
    request = event.get("requestParameters") or {}
    if isinstance(request, dict):
        for name, kind in RESOURCE_PARAMETERS.items():
            value = request.get(name)
            if isinstance(value, str) and value:
                found.append({"ResourceType": kind, "ResourceName": value})
    return found


def lookup_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """A trail record as LookupEvents' ``Event``."""
    identity = event.get("userIdentity") or {}
    result: dict[str, Any] = {
        "EventId": event.get("eventID"),
        "EventName": event.get("eventName"),
        "ReadOnly": "true" if event.get("readOnly") else "false",
        "AccessKeyId": identity.get("accessKeyId") or None,
        "EventTime": dt.datetime.strptime(str(event["eventTime"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC),
        "EventSource": event.get("eventSource"),
        "Username": username(event),
        "Resources": event_resources(event),
        "CloudTrailEvent": orjson.dumps(event).decode("utf-8"),
    }
    return result


def _fingerprint(attribute: tuple[str, str] | None, start: dt.datetime | None, end: dt.datetime | None) -> str:
    text = orjson.dumps([attribute, start and iso_seconds(start), end and iso_seconds(end)])
    return hashlib.sha256(text).hexdigest()[:16]


_TOKEN_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z")


def _write_token(position: AuditPosition, fingerprint: str) -> str:
    """A position in the trail and the filters it was found with. Not sealed: it only says
    where to resume reading the caller's own account's events."""
    return base64.urlsafe_b64encode(orjson.dumps([position[0], position[1], fingerprint])).decode("ascii")


def _read_token(token: str, fingerprint: str) -> AuditPosition:
    invalid = CloudTrailError("InvalidNextTokenException", "Invalid NextToken: it must come from a call with the same parameters.")
    try:
        time, seq, given = orjson.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (binascii.Error, ValueError, TypeError, UnicodeEncodeError) as error:
        raise invalid from error
    if given != fingerprint or not isinstance(time, str) or not isinstance(seq, int) or isinstance(seq, bool):
        raise invalid
    if not 0 <= seq < 2**63 or not _TOKEN_TIME.fullmatch(time):  # the store's integer, an event time
        raise invalid
    return time, seq
