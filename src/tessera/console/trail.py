"""The audit trail as the console shows it: filters turned into one LookupEvents lookup
attribute, the filters LookupEvents cannot express applied to the events it returns, and
an event's key fields.

LookupEvents takes one lookup attribute: the action (``EventName``) when given, else the
principal (``AccessKeyId`` for an access key id, else ``Username``, an ARN's last part);
the other filters (the principal's full ARN, the outcome) are applied by ``keep`` to
the events it returns.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tessera.store.base import AUDIT_OUTCOMES, DENIED_ERROR_CODES

_ACCESS_KEY = re.compile(r"(AKIA|ASIA)[A-Z0-9]{12,124}")


@dataclass(frozen=True)
class TrailFilter:
    """What the audit page was asked for (empty strings: any)."""

    principal: str = ""
    action: str = ""
    outcome: str = ""
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def lookup(self) -> dict[str, Any]:
        """LookupEvents' parameters for this filter (MaxResults and NextToken aside)."""
        params: dict[str, Any] = {}
        attribute = self._attribute()
        if attribute is not None:
            params["LookupAttributes"] = [{"AttributeKey": attribute[0], "AttributeValue": attribute[1]}]
        if self.start is not None:
            params["StartTime"] = self.start
        if self.end is not None:
            params["EndTime"] = self.end
        return params

    def _attribute(self) -> tuple[str, str] | None:
        if self.action:
            return "EventName", self.action
        if not self.principal:
            return None
        if _ACCESS_KEY.fullmatch(self.principal):
            return "AccessKeyId", self.principal
        return "Username", self.principal.rpartition("/")[2] if self.principal.startswith("arn:") else self.principal

    def keep(self, record: Mapping[str, Any]) -> bool:
        """Whether a CloudTrail record passes the filters LookupEvents did not apply."""
        if self.outcome and outcome(record) != self.outcome:
            return False
        if self.principal and self.action:
            return principal_matches(record, self.principal)
        if self.principal.startswith("arn:"):
            return (record.get("userIdentity") or {}).get("arn") == self.principal
        return True


def read_filter(principal: str, action: str, outcome_name: str, start: str, end: str) -> TrailFilter:
    """The filter from the page's form fields; ValueError with a sentence to show."""
    if outcome_name and outcome_name not in AUDIT_OUTCOMES:
        raise ValueError(f"Outcome must be one of {', '.join(AUDIT_OUTCOMES)}.")
    begin, finish = _moment(start, "From"), _moment(end, "To")
    if begin is not None and finish is not None and begin > finish:
        raise ValueError("The start of the time range must not be after its end.")
    return TrailFilter(principal.strip(), action.strip(), outcome_name, begin, finish)


def _moment(text: str, label: str) -> dt.datetime | None:
    """A UTC time from an ``<input type="datetime-local">`` value or ISO-8601 text."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{label}: '{text}' is not a time (YYYY-MM-DDTHH:MM, UTC).") from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def outcome(record: Mapping[str, Any]) -> str:
    """``success``, ``denied`` (refused by policy) or ``error`` (any other error)."""
    code = record.get("errorCode")
    if not code:
        return "success"
    return "denied" if code in DENIED_ERROR_CODES else "error"


def principal_matches(record: Mapping[str, Any], principal: str) -> bool:
    """Whether ``principal`` (ARN, access key id or user name) is the record's caller's."""
    identity = record.get("userIdentity") or {}
    names = {identity.get("arn"), identity.get("accessKeyId"), identity.get("userName")}
    arn = identity.get("arn")
    if isinstance(arn, str):
        names.add(arn.rpartition("/")[2])
    return principal in names


def principal_of(record: Mapping[str, Any]) -> str:
    """The caller as the trail names it: ARN, else user name, else access key id, else
    what invoked it (an operator's command: ``AWS Internal``)."""
    identity = record.get("userIdentity") or {}
    named = identity.get("arn") or identity.get("userName") or identity.get("accessKeyId")
    return str(named or identity.get("type") or identity.get("invokedBy") or "—")


SUMMARY = (
    ("Event time", "eventTime"),
    ("Event name", "eventName"),
    ("Event source", "eventSource"),
    ("Region", "awsRegion"),
    ("Source IP address", "sourceIPAddress"),
    ("User agent", "userAgent"),
    ("Request ID", "requestID"),
    ("Event ID", "eventID"),
    ("Error code", "errorCode"),
    ("Error message", "errorMessage"),
)


def summary(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The key fields of a record, as (label, text) rows."""
    identity = record.get("userIdentity") or {}
    rows = [
        ("Principal", principal_of(record)),
        ("Identity type", str(identity.get("type") or "—")),
        ("Access key", str(identity.get("accessKeyId") or "—")),
        ("Outcome", outcome(record)),
        ("Read only", "yes" if record.get("readOnly") else "no"),
        ("From the console", "yes" if record.get("sessionCredentialFromConsole") == "true" else "no"),
    ]
    rows.extend((label, str(record[key])) for label, key in SUMMARY if record.get(key) not in (None, ""))
    return rows


def pretty(record: Mapping[str, Any]) -> str:
    """The record as indented JSON."""
    return json.dumps(record, indent=2, ensure_ascii=False)
