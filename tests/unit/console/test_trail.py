"""The audit page's filters: one LookupEvents attribute, the rest applied to the events."""

from __future__ import annotations

import datetime as dt

import pytest

from tessera.console.trail import TrailFilter, outcome, principal_matches, read_filter, summary

USER_EVENT = {
    "eventID": "e1",
    "eventName": "CreateUser",
    "eventTime": "2026-01-01T00:00:00Z",
    "userIdentity": {
        "type": "IAMUser",
        "arn": "arn:aws:iam::123456789012:user/alice",
        "userName": "alice",
        "accessKeyId": "AKIAEXAMPLE000000001",
    },
}


@pytest.mark.parametrize(
    ("wanted", "attribute"),
    [
        (TrailFilter(action="CreateUser", principal="alice"), ("EventName", "CreateUser")),
        (TrailFilter(principal="alice"), ("Username", "alice")),
        (TrailFilter(principal="arn:aws:iam::123456789012:user/team/alice"), ("Username", "alice")),
        (TrailFilter(principal="AKIAEXAMPLE000000001"), ("AccessKeyId", "AKIAEXAMPLE000000001")),
        (TrailFilter(outcome="denied"), None),
    ],
    ids=["action-first", "user-name", "arn-last-part", "access-key", "none"],
)
def test_one_lookup_attribute_is_chosen(wanted: TrailFilter, attribute: tuple[str, str] | None) -> None:
    params = wanted.lookup()
    got = params.get("LookupAttributes")
    assert (None if got is None else (got[0]["AttributeKey"], got[0]["AttributeValue"])) == attribute


@pytest.mark.parametrize(
    ("code", "expected"), [(None, "success"), ("AccessDenied", "denied"), ("AccessDeniedException", "denied"), ("NoSuchEntity", "error")]
)
def test_outcome_of_an_event(code: str | None, expected: str) -> None:
    assert outcome({**USER_EVENT, "errorCode": code}) == expected


def test_keep_applies_what_lookup_events_could_not() -> None:
    assert TrailFilter(principal="arn:aws:iam::123456789012:user/alice").keep(USER_EVENT)
    assert not TrailFilter(principal="arn:aws:iam::123456789012:user/other/alice").keep(USER_EVENT)
    assert TrailFilter(action="CreateUser", principal="alice").keep(USER_EVENT)
    assert not TrailFilter(action="CreateUser", principal="bob").keep(USER_EVENT)
    assert not TrailFilter(outcome="denied").keep(USER_EVENT)
    assert TrailFilter(outcome="success").keep(USER_EVENT)


def test_principal_matches_arn_key_or_name() -> None:
    for principal in ("alice", "AKIAEXAMPLE000000001", "arn:aws:iam::123456789012:user/alice"):
        assert principal_matches(USER_EVENT, principal)
    assert not principal_matches(USER_EVENT, "bob")


def test_read_filter_reads_utc_times_and_refuses_bad_ones() -> None:
    wanted = read_filter("", "", "", "2026-01-01T10:00", "2026-01-01T11:00:30")
    assert wanted.start == dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
    assert wanted.end == dt.datetime(2026, 1, 1, 11, 0, 30, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="not a time"):
        read_filter("", "", "", "yesterday", "")
    with pytest.raises(ValueError, match="must not be after"):
        read_filter("", "", "", "2026-01-02T00:00", "2026-01-01T00:00")
    with pytest.raises(ValueError, match="Outcome"):
        read_filter("", "", "maybe", "", "")


def test_summary_names_the_key_fields() -> None:
    rows = dict(summary({**USER_EVENT, "errorCode": "AccessDenied", "errorMessage": "no"}))
    assert rows["Principal"] == "arn:aws:iam::123456789012:user/alice"
    assert rows["Outcome"] == "denied" and rows["Error code"] == "AccessDenied" and rows["Event name"] == "CreateUser"
