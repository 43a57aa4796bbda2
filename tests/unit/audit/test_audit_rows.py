"""The audit table's row for an event: the same from a dict or an encoded event, and
the time check that remembers its last string answers as the full check does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.audit.events import EncodedEvent, bounded_encoded
from tessera.clock import iso_seconds
from tessera.store import sql
from tessera.store.sql import _audit_row, _utc_second


class _Plain(Mapping[str, Any]):
    """A Mapping that is no dict (as a test or another caller may hand the store)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def _reference_utc_second(moment: Any) -> str:
    """``_utc_second`` without its remembered string."""
    if isinstance(moment, str) and sql._UTC_SECOND.fullmatch(moment):
        return moment
    try:
        parsed = dt.datetime.fromisoformat(moment)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"not an ISO-8601 time: {moment!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return iso_seconds(parsed)


_TIMES = st.one_of(
    st.datetimes(timezones=st.just(dt.UTC)).map(iso_seconds),
    st.datetimes().map(lambda when: when.isoformat()),
    st.text(max_size=25),
    st.sampled_from(["", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05", "not a time"]),
)


def _outcome(fn: Any, moment: Any) -> tuple[str, str]:
    try:
        return "value", fn(moment)
    except ValueError as error:
        return "error", str(error)


@given(st.lists(_TIMES, min_size=1, max_size=8))
def test_utc_second_with_its_last_string_answers_as_the_full_check(moments: list[Any]) -> None:
    for moment in moments + moments[::-1]:  # each string again, right after itself or others
        assert _outcome(_utc_second, moment) == _outcome(_reference_utc_second, moment)


def test_utc_second_refuses_what_is_not_text_after_a_remembered_string() -> None:
    _utc_second("2026-01-02T03:04:05Z")
    for moment in (None, 3, b"2026-01-02T03:04:05Z"):
        with pytest.raises(ValueError, match="not an ISO-8601 time"):
            _utc_second(moment)  # type: ignore[arg-type]


def _event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLEEXAMPLE01",
            "arn": "arn:aws:iam::123456789012:user/alice",
            "accountId": "123456789012",
            "accessKeyId": "AKIAEXAMPLEEXAMPLE01",
            "userName": "alice",
        },
        "eventTime": iso_seconds(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
        "eventName": "GetCallerIdentity",
        "eventID": "3a9755b4-f9c3-8ffd-8000-0000000001a9",
    }
    event.update(changes)
    return event


@pytest.mark.parametrize(
    "event",
    [
        _event(),
        _event(errorCode="AccessDenied", errorMessage="no"),
        _event(userIdentity={"type": "WebIdentityUser", "principalId": "p:a:s", "identityProvider": "arn:aws:iam::1:oidc-provider/x"}),
        _event(userIdentity=None, eventTime="2026-01-02T05:04:05+02:00"),
    ],
)
def test_audit_row_is_the_same_for_a_dict_and_an_encoded_event(event: dict[str, Any]) -> None:
    encoded = bounded_encoded(dict(event))
    assert isinstance(encoded, EncodedEvent)
    row = _audit_row(event)
    assert _audit_row(encoded) == row
    assert row[1] == "2026-01-02T03:04:05Z"


@pytest.mark.parametrize("missing", [("eventID",), ("eventTime", "eventName"), ("eventID", "eventTime", "eventName")])
def test_audit_row_names_every_missing_field(missing: tuple[str, ...]) -> None:
    event = _event(**dict.fromkeys(missing, ""))
    for carrier in (event, _Plain(event)):
        with pytest.raises(ValueError, match=f"^audit event lacks {', '.join(missing)}$"):
            _audit_row(carrier)


_ORDER = [
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "requestParameters",
    "responseElements",
    "requestID",
    "eventID",
    "readOnly",
    "eventType",
    "managementEvent",
    "recipientAccountId",
    "eventCategory",
]


@pytest.mark.parametrize("failed", [False, True])
def test_built_events_keep_their_fields_order_and_share_nothing(failed: bool) -> None:
    from tessera.audit import events

    def build() -> dict[str, Any]:
        return events.build_event(
            service="sts",
            operation="GetCallerIdentity",
            resolved=None,
            caller=None,
            access_key_id="AKIAEXAMPLEEXAMPLE01",
            when=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            region="eu-west-1",
            source_ip="192.0.2.1",
            user_agent="ua",
            request_id="r",
            params=None,
            result=None,
            error_code="InvalidClientTokenId" if failed else None,
            error_message="bad" if failed else None,
            read_only=True,
        )

    template = dict(events._TEMPLATE)
    first = build()
    assert list(first)[: len(_ORDER)] == _ORDER
    assert first["recipientAccountId"] == "" and first["responseElements"] is None
    assert first["userIdentity"] == {"type": "Unknown", "accessKeyId": "AKIAEXAMPLEEXAMPLE01"}
    first["eventVersion"] = "changed"
    first["userIdentity"]["type"] = "changed"
    assert template == events._TEMPLATE
    second = build()
    assert second["eventVersion"] == "1.09" and second["userIdentity"]["type"] == "Unknown"
    assert second["eventID"] != first["eventID"]
