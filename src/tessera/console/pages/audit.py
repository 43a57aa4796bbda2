"""The audit trail: CloudTrail's LookupEvents as the signed-in principal (so reading the
trail needs ``cloudtrail:LookupEvents``), filtered and paged newest first, and one
event's record."""

from __future__ import annotations

import json
from typing import Any

from tessera.console import trail
from tessera.console.page import Page, route
from tessera.console.web import Response

PAGE_EVENTS = 25
"""Events a page aims to show: LookupEvents (this many a call) is called until the page
has them, or ``CALLS_PER_PAGE`` calls are made (the page's own filters may keep few)."""
CALLS_PER_PAGE = 5


@route("GET", "/audit")
def audit(page: Page) -> Response:
    request = page.request
    fields = {name: request.arg(name) or "" for name in ("principal", "action", "outcome", "start", "end")}
    token = request.arg("token") or ""
    try:
        wanted = trail.read_filter(**{"outcome_name" if k == "outcome" else k: v for k, v in fields.items()})
    except ValueError as error:
        return page.render("audit_list.html", status=400, fields=fields, error=str(error), events=[], next_token="")
    events: list[dict[str, Any]] = []
    params = wanted.lookup()
    for _ in range(CALLS_PER_PAGE):
        if token:
            params["NextToken"] = token
        result = page.api.call("cloudtrail", "LookupEvents", MaxResults=PAGE_EVENTS, **params)
        for item in result.get("Events", []):
            record = json.loads(item["CloudTrailEvent"])
            if wanted.keep(record):
                events.append(_row(record))
        token = result.get("NextToken") or ""
        if not token or len(events) >= PAGE_EVENTS:
            break
    return page.render("audit_list.html", fields=fields, error="", events=events, next_token=token)


@route("GET", "/audit/{event_id}")
def audit_event(page: Page, event_id: str) -> Response:
    found = page.api.call("cloudtrail", "LookupEvents", LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": event_id}])
    events = found.get("Events", [])
    if not events:
        return page.render("audit_event.html", status=404, event_id=event_id, rows=[], text="")
    record = json.loads(events[0]["CloudTrailEvent"])
    return page.render("audit_event.html", event_id=event_id, rows=trail.summary(record), text=trail.pretty(record))


def _row(record: dict[str, Any]) -> dict[str, str]:
    return {
        "id": str(record.get("eventID", "")),
        "time": str(record.get("eventTime", "")),
        "name": str(record.get("eventName", "")),
        "source": str(record.get("eventSource", "")),
        "principal": trail.principal_of(record),
        "source_ip": str(record.get("sourceIPAddress", "")),
        "outcome": trail.outcome(record),
        "error": str(record.get("errorCode") or ""),
    }
