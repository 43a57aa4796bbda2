"""The UTC timestamp formats, each written once in ``tessera.clock``, and the outputs the
places that write them have always produced."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tessera.clock import iso_micros, iso_millis, iso_seconds
from tessera.services.iam.entities import iso
from tessera.services.revocation import revoke_policy
from tessera.services.sts.authorization_message import _text
from tessera.store.sql import _utc_second

PLUS_2 = dt.timezone(dt.timedelta(hours=2))


@pytest.mark.parametrize(
    ("when", "seconds", "millis", "micros"),
    [
        (
            dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05.000Z",
            "2026-01-02T03:04:05.000000Z",
        ),
        (
            dt.datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=dt.UTC),
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05.999Z",
            "2026-01-02T03:04:05.999999Z",
        ),
        (
            dt.datetime(2026, 1, 2, 3, 4, 5, 1500, tzinfo=dt.UTC),
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05.001Z",
            "2026-01-02T03:04:05.001500Z",
        ),
        (
            dt.datetime(2026, 1, 1, 1, 0, 0, 42, tzinfo=PLUS_2),
            "2025-12-31T23:00:00Z",
            "2025-12-31T23:00:00.000Z",
            "2025-12-31T23:00:00.000042Z",
        ),
        (dt.datetime(1000, 1, 1, tzinfo=dt.UTC), "1000-01-01T00:00:00Z", "1000-01-01T00:00:00.000Z", "1000-01-01T00:00:00.000000Z"),
        (
            dt.datetime(999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
            "0999-12-31T23:59:59Z",
            "0999-12-31T23:59:59.000Z",
            "0999-12-31T23:59:59.000000Z",
        ),
    ],
)
def test_formats(when: dt.datetime, seconds: str, millis: str, micros: str) -> None:
    assert (iso_seconds(when), iso_millis(when), iso_micros(when)) == (seconds, millis, micros)


def test_iam_dates_are_to_the_second() -> None:
    assert iso(dt.datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=PLUS_2)) == "2026-01-02T01:04:05Z"


def test_authorization_message_times_are_to_the_second() -> None:
    assert _text(dt.datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=dt.UTC)) == "2026-01-02T03:04:05Z"


def test_audit_query_bounds_are_to_the_second() -> None:
    assert _utc_second("2026-01-02T03:04:05Z") == "2026-01-02T03:04:05Z"
    assert _utc_second("2026-01-02T05:04:05.678+02:00") == "2026-01-02T03:04:05Z"
    assert _utc_second("2026-01-02T03:04:05") == "2026-01-02T03:04:05Z"  # naive means UTC


def test_revoke_sessions_policy_is_to_the_millisecond() -> None:
    document = json.loads(revoke_policy(dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)))
    assert json.dumps(document).count('"2026-01-02T03:04:05.678Z"') == 1


def test_the_seconds_kept_are_those_asked_for_whatever_the_order() -> None:
    start = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    times = [start + dt.timedelta(seconds=n, microseconds=n % 7) for n in range(200)] * 2
    times += [start + dt.timedelta(hours=1, seconds=n) for n in range(0, 400, 3)]  # interleaved, as an AssumeRole's
    for when in times:
        assert iso_seconds(when) == when.isoformat(timespec="seconds")[:-6] + "Z"


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=dt.UTC),
        dt.datetime(999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 1, 1, 0, 0, 42, tzinfo=PLUS_2),
        dt.datetime(2026, 1, 2, 3, 4, 5, 6),  # naive: read as UTC
        1767323045.75,
        0,
    ],
)
def test_the_query_protocol_writes_times_as_it_always_has(value: dt.datetime | float) -> None:
    from tessera.protocol.query import iso8601

    when = dt.datetime.fromtimestamp(value, dt.UTC) if not isinstance(value, dt.datetime) else value
    when = when.astimezone(dt.UTC) if when.tzinfo is not None else when
    expected = f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}:{when.second:02d}Z"
    assert iso8601(value) == expected
