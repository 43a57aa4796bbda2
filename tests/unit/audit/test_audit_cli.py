"""``tessera audit``: filters and JSON lines over a real store; ``tessera audit export``:
CloudTrail log files (gzip JSON ``{"Records": [...]}``, CloudTrail's names and layout,
grouped per account, region and five-minute window); ``--audit-retention`` durations."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tessera.audit.retention import parse_retention, prune
from tessera.cli.main import main
from tessera.store.sql import SqlStore, default_url, open_store

ALICE = "arn:aws:iam::111111111111:user/alice"
BOB = "arn:aws:iam::222222222222:user/bob"


def event(event_id: str, when: str, name: str, arn: str, *, error: str | None = None, region: str = "us-east-1") -> dict[str, Any]:
    account = arn.split(":")[4]
    record: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": arn, "accountId": account, "accessKeyId": "AKIA" + event_id.upper()},
        "eventTime": when,
        "eventSource": "iam.amazonaws.com",
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "127.0.0.1",
        "eventID": event_id,
        "recipientAccountId": account,
    }
    if error:
        record["errorCode"] = error
    return record


EVENTS = [
    event("a1", "2026-03-01T10:00:10Z", "CreateUser", ALICE),
    event("a2", "2026-03-01T10:03:00Z", "GetUser", ALICE, error="NoSuchEntity"),
    event("b1", "2026-03-01T10:04:59Z", "CreateUser", BOB, error="AccessDenied"),
    event("a3", "2026-03-01T10:05:00Z", "AssumeRole", ALICE, region="eu-west-1"),
    event("b2", "2026-03-01T10:07:00Z", "AssumeRole", BOB),
    event("x1", "2026-03-01T10:08:00Z", "GetUser", ALICE, region="../../etc"),
]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    with open_store(default_url(str(tmp_path))) as store:
        store.append_audit(EVENTS)
    return tmp_path


def lines(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["audit", *args, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([], ["a1", "a2", "b1", "a3", "b2", "x1"]),
        (["--outcome", "success"], ["a1", "a3", "b2", "x1"]),
        (["--outcome", "error"], ["a2"]),
        (["--outcome", "denied"], ["b1"]),
        (["--principal", BOB], ["b1", "b2"]),
        (["--action", "AssumeRole"], ["a3", "b2"]),
        (["--event-name", "CreateUser", "--outcome", "success"], ["a1"]),
        (["--start", "2026-03-01T10:04:59Z", "--end", "2026-03-01T10:07:00Z"], ["b1", "a3", "b2"]),
        (["--limit", "2"], ["a1", "a2"]),
    ],
)
def test_audit_streams_matching_events_as_json_lines(
    data_dir: Path, capsys: pytest.CaptureFixture[str], filters: list[str], expected: list[str]
) -> None:
    assert [e["eventID"] for e in lines(capsys, "--data-dir", str(data_dir), *filters)] == expected


def test_audit_prints_a_table_and_refuses_bad_input(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--data-dir", str(data_dir), "--outcome", "denied"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["TIME", "EVENT", "PRINCIPAL", "SOURCE", "IP", "RESULT"]
    assert len(out) == 2 and "iam:CreateUser" in out[1] and BOB in out[1] and out[1].endswith("AccessDenied")
    assert main(["audit", "--data-dir", str(data_dir), "--start", "yesterday"]) == 2
    assert "tessera audit:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["audit", "--data-dir", str(data_dir), "--outcome", "maybe"])


OIDC = "arn:aws:iam::111111111111:oidc-provider/idp.example.com"
FEDERATED = [
    {
        "eventVersion": "1.09",
        "userIdentity": {"type": "WebIdentityUser", "principalId": f"{OIDC}:app:dev", "userName": "dev", "identityProvider": OIDC},
        "eventTime": "2026-03-01T11:00:00Z",
        "eventName": "AssumeRoleWithWebIdentity",
        "eventID": "w1",
    },
    {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "SAMLUser",
            "principalId": "Q+qualifier=:alice@corp",
            "userName": "alice@corp",
            "identityProvider": "Q+qualifier=",
        },
        "eventTime": "2026-03-01T11:01:00Z",
        "eventName": "AssumeRoleWithSAML",
        "eventID": "s1",
    },
]


def test_federated_users_are_found_by_identity_provider_or_principal_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """WebIdentityUser and SAMLUser events have no ARN and no key: --principal finds them
    by identity provider or principalId, and the table names the user and its provider."""
    with open_store(default_url(str(tmp_path))) as store:
        store.append_audit(FEDERATED)
    data = ["--data-dir", str(tmp_path)]
    assert [e["eventID"] for e in lines(capsys, *data, "--principal", OIDC)] == ["w1"]
    assert [e["eventID"] for e in lines(capsys, *data, "--principal", f"{OIDC}:app:dev")] == ["w1"]
    assert [e["eventID"] for e in lines(capsys, *data, "--principal", "Q+qualifier=")] == ["s1"]
    assert [e["eventID"] for e in lines(capsys, *data, "--principal", "Q+qualifier=:alice@corp")] == ["s1"]
    assert main(["audit", *data]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert f"dev ({OIDC})" in rows[0] and "alice@corp (Q+qualifier=)" in rows[1]


NAME = re.compile(r"(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8}T\d{4}Z)_([A-Za-z0-9]{16})\.json\.gz")


def exported(out: Path) -> dict[str, list[str]]:
    """File name (without its unique part) → the event ids it holds, checking each file."""
    files: dict[str, list[str]] = {}
    for path in sorted(out.rglob("*.json.gz")):
        match = NAME.fullmatch(path.name)
        assert match is not None, path.name
        account, region, delivered, _unique = match.groups()
        when = dt.datetime.strptime(delivered, "%Y%m%dT%H%MZ")
        assert path.parent.relative_to(out).parts == ("AWSLogs", account, "CloudTrail", region, *f"{when:%Y/%m/%d}".split("/"))
        with gzip.open(path, "rb") as handle:
            document = json.loads(handle.read())
        assert list(document) == ["Records"] and document["Records"]
        for record in document["Records"]:
            assert record["recipientAccountId"] == account
            assert dt.datetime.strptime(record["eventTime"], "%Y-%m-%dT%H:%M:%SZ") < when  # delivered after its events
        files[f"{account}_{region}_{delivered}"] = [r["eventID"] for r in document["Records"]]
    return files


def test_export_writes_cloudtrail_log_files_per_account_region_and_window(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    assert main(["audit", "export", "--data-dir", str(data_dir), "--out", str(out)]) == 0
    assert exported(out) == {
        "111111111111_us-east-1_20260301T1005Z": ["a1", "a2"],
        "222222222222_us-east-1_20260301T1005Z": ["b1"],
        "111111111111_eu-west-1_20260301T1010Z": ["a3"],
        "222222222222_us-east-1_20260301T1010Z": ["b2"],
        "111111111111_unknown_20260301T1010Z": ["x1"],  # a region that cannot name a file
    }


def test_export_files_of_the_last_window_of_a_day_are_in_the_next_days_folder(tmp_path: Path) -> None:
    """The folder's date is the delivery time's, as the file name's: an event at 23:57:10
    is delivered at 00:00 the next day (``exported`` checks folder and name agree)."""
    with open_store(default_url(str(tmp_path))) as store:
        store.append_audit([event("late", "2026-03-01T23:57:10Z", "GetUser", ALICE)])
    out = tmp_path / "export"
    assert main(["audit", "export", "--data-dir", str(tmp_path), "--out", str(out)]) == 0
    assert exported(out) == {"111111111111_us-east-1_20260302T0000Z": ["late"]}
    assert [p.parent.relative_to(out).parts[-3:] for p in out.rglob("*.json.gz")] == [("2026", "03", "02")]


def test_export_takes_a_time_range_given_after_or_before_export(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    assert main(["audit", "export", "--data-dir", str(data_dir), "--out", str(out), "--start", "2026-03-01T10:05:00Z"]) == 0
    assert sorted(e for ids in exported(out).values() for e in ids) == ["a3", "b2", "x1"]
    out = tmp_path / "export-2"
    assert main(["audit", "--data-dir", str(data_dir), "--end", "2026-03-01T10:03:00Z", "export", "--out", str(out)]) == 0
    assert sorted(e for ids in exported(out).values() for e in ids) == ["a1", "a2"]


@pytest.mark.parametrize(("text", "seconds"), [("90", 90 * 86400), ("36h", 36 * 3600), ("30m", 1800), ("45s", 45), ("1.5d", 129600)])
def test_retention_durations(text: str, seconds: int) -> None:
    assert parse_retention(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "0", "-1", "3w", "1 d", "d"])
def test_retention_refuses_what_is_not_a_positive_duration(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|positive"):
        parse_retention(text)


def test_prune_deletes_only_events_older_than_the_retention_in_batches(tmp_path: Path) -> None:
    with open_store(default_url(str(tmp_path))) as store:
        store.append_audit(EVENTS)
        now = dt.datetime(2026, 3, 2, 10, 5, tzinfo=dt.UTC)
        assert prune(store, now, dt.timedelta(days=1), batch=2, pause=0) == 3  # a1, a2, b1: before 10:05 the day before
        assert [e["eventID"] for e in remaining(store)] == ["a3", "b2", "x1"]
        assert prune(store, now, dt.timedelta(days=1), batch=2, pause=0) == 0


def remaining(store: SqlStore) -> list[dict[str, Any]]:
    return [dict(e) for e in store.query_audit(limit=None)]
