"""``tessera audit``: stream, filter and export the CloudTrail-format audit trail.

``tessera audit [--start T] [--end T] [--principal P] [--event-name N] [--outcome O] [--json]``
prints matching events oldest first as they are read from the store, page by page
(``Store.query_audit``), so memory stays constant whatever the trail holds: a table, or
with ``--json`` one CloudTrail record per line.

``tessera audit export --out DIR [--start T] [--end T]`` writes CloudTrail log files:
gzip JSON ``{"Records": [...]}``, one file per account and region for each five-minute
window of eventTime (CloudTrail delivers about every five minutes), named and placed as
CloudTrail names and places them in its bucket
(https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-examples.html):
``DIR/AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_UNIQUE.json.gz``,
the time being the end of the window. Records are written to the files as they are
read: only the files of the current window are open.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
import re
import secrets
import string
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import orjson

from tessera.cli.serve import add_store_arguments
from tessera.store.base import StoreError

OUTCOMES = ("success", "error", "denied")
WINDOW_MINUTES = 5
RECORDS_PER_FILE = 10_000
NO_ACCOUNT = "000000000000"  # requests that never authenticated as an account
NO_REGION = "unknown"  # a region name a client sent that cannot name a file
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}")
_UNIQUE_ALPHABET = string.ascii_letters + string.digits


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("audit", help="stream, filter or export audit events (CloudTrail format)")
    add_store_arguments(parser, required_data_dir=False)
    _add_time_range(parser)
    parser.add_argument(
        "--principal",
        help="an ARN or access key id; for web identity and SAML users their identity provider (ARN or name qualifier) or principalId",
    )
    parser.add_argument("--event-name", "--action", dest="event_name", help="an operation name, e.g. AssumeRole")
    parser.add_argument("--outcome", choices=OUTCOMES, help="success, error (any error but a refusal by policy) or denied")
    parser.add_argument("--errors-only", action="store_true", help="any error, denied or not")
    parser.add_argument("--limit", type=int, default=None, help="print at most this many events (default: all)")
    parser.add_argument("--json", action="store_true", help="one CloudTrail record (JSON object) per line")
    parser.set_defaults(func=run)
    commands = parser.add_subparsers(dest="audit_command")
    export = commands.add_parser("export", help="write CloudTrail-format gzip JSON log files")
    add_store_arguments(export, required_data_dir=False)
    _add_time_range(export)
    export.add_argument("--out", required=True, help="directory to write the AWSLogs/ tree into")
    export.set_defaults(func=run_export)
    for action in export._actions:  # given before ``export`` (to ``audit``), they must stay
        if action.dest in ("data_dir", "database_url", "start", "end"):
            action.default = argparse.SUPPRESS


def _add_time_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", help="ISO-8601 UTC time, inclusive")
    parser.add_argument("--end", help="ISO-8601 UTC time, inclusive")


def run(args: argparse.Namespace) -> int:
    def show(events: Iterator[Mapping[str, Any]]) -> None:
        out = sys.stdout
        if args.json:
            for event in events:
                out.write(orjson.dumps(event).decode("utf-8"))
                out.write("\n")
        else:
            print_table(events, out)

    return _with_events(args, show, principal=args.principal, event_name=args.event_name, outcome=args.outcome, limit=args.limit)


def run_export(args: argparse.Namespace) -> int:
    def export(events: Iterator[Mapping[str, Any]]) -> None:
        files, records = export_events(events, Path(args.out))
        print(f"wrote {records} records to {files} files under {Path(args.out) / 'AWSLogs'}", file=sys.stderr)

    return _with_events(args, export, limit=None)


def _with_events(args: argparse.Namespace, consume: Any, **filters: Any) -> int:
    from tessera.store.sql import default_url, open_store

    if not (args.database_url or args.data_dir):
        print("tessera audit: give --data-dir or --database-url", file=sys.stderr)
        return 2
    try:
        store = open_store(args.database_url or default_url(args.data_dir))
    except StoreError as error:
        print(f"tessera audit: cannot open the database: {error}", file=sys.stderr)
        return 2
    try:
        events = store.query_audit(start=args.start, end=args.end, errors_only=getattr(args, "errors_only", False), **filters)
        consume(events)
    except ValueError as error:  # a malformed --start/--end
        print(f"tessera audit: {error}", file=sys.stderr)
        return 2
    except StoreError as error:
        print(f"tessera audit: cannot read the database: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `tessera audit | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        store.close()
    return 0


COLUMNS = (("TIME", 20), ("EVENT", 44), ("PRINCIPAL", 64), ("SOURCE IP", 39), ("RESULT", 0))


def print_table(events: Iterable[Mapping[str, Any]], out: IO[str]) -> None:
    """Fixed-width columns, so each row is printed as it is read (a wider cell pushes its row only)."""
    out.write(_row([name for name, _ in COLUMNS]))
    for event in events:
        ident = event.get("userIdentity") or {}
        cells = [
            str(event.get("eventTime", "")),
            f"{str(event.get('eventSource', '')).split('.')[0]}:{event.get('eventName', '')}",
            _principal(ident),
            str(event.get("sourceIPAddress", "")),
            str(event.get("errorCode") or "OK"),
        ]
        out.write(_row(cells))


def _principal(identity: Mapping[str, Any]) -> str:
    """The ARN, else (a WebIdentityUser or SAMLUser) the user name and its identity
    provider, else the access key id, else what invoked it (an operator's command)."""
    if identity.get("arn"):
        return str(identity["arn"])
    if identity.get("identityProvider"):
        return f"{identity.get('userName') or '-'} ({identity['identityProvider']})"
    return str(identity.get("accessKeyId") or identity.get("invokedBy") or "-")


def _row(cells: list[str]) -> str:
    return "  ".join(cell.ljust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True)).rstrip() + "\n"


class _LogFile:
    """One CloudTrail log file being written: ``{"Records":[`` … ``]}`` streamed into gzip."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.count = 0
        self._file = gzip.open(path, "wb")  # noqa: SIM115 (closed by close(), after the records stream in)
        self._file.write(b'{"Records":[')

    def add(self, event: Mapping[str, Any]) -> None:
        if self.count:
            self._file.write(b",")
        self._file.write(orjson.dumps(event))
        self.count += 1

    def close(self) -> None:
        self._file.write(b"]}")
        self._file.close()


def export_events(events: Iterable[Mapping[str, Any]], out: Path) -> tuple[int, int]:
    """Write ``events`` (oldest first) as CloudTrail log files under ``out``; (files, records)."""
    open_files: dict[tuple[str, str], _LogFile] = {}
    window: dt.datetime | None = None
    files = records = 0
    try:
        for event in events:
            start = _window(str(event.get("eventTime", "")))
            if start != window:
                files += _close_all(open_files)
                window = start
            assert window is not None  # INVARIANT: set just above
            account, region = _account(event), _region(event)
            log_file = open_files.get((account, region))
            if log_file is None or log_file.count >= RECORDS_PER_FILE:
                if log_file is not None:
                    log_file.close()
                    files += 1
                log_file = open_files[(account, region)] = _LogFile(_file_path(out, account, region, window))
            log_file.add(event)
            records += 1
    finally:
        files += _close_all(open_files)
    return files, records


def _close_all(open_files: dict[tuple[str, str], _LogFile]) -> int:
    count = len(open_files)
    for log_file in open_files.values():
        log_file.close()
    open_files.clear()
    return count


def _window(event_time: str) -> dt.datetime:
    when = dt.datetime.strptime(event_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    return when.replace(minute=when.minute - when.minute % WINDOW_MINUTES, second=0)


def _account(event: Mapping[str, Any]) -> str:
    identity = event.get("userIdentity") or {}
    account = str(event.get("recipientAccountId") or identity.get("accountId") or NO_ACCOUNT)
    return account if account.isdigit() and len(account) == 12 else NO_ACCOUNT


def _region(event: Mapping[str, Any]) -> str:
    """The event's region if it has a region's form (it is client text: never a path)."""
    region = str(event.get("awsRegion") or "")
    return region if _REGION.fullmatch(region) else NO_REGION


def _file_path(out: Path, account: str, region: str, window: dt.datetime) -> Path:
    delivered = window + dt.timedelta(minutes=WINDOW_MINUTES)
    unique = "".join(secrets.choice(_UNIQUE_ALPHABET) for _ in range(16))
    name = f"{account}_CloudTrail_{region}_{delivered:%Y%m%dT%H%MZ}_{unique}.json.gz"
    # the folder is dated by the delivery time, as the name is (the last window of a day is
    # delivered at midnight: the next day's folder)
    return out / "AWSLogs" / account / "CloudTrail" / region / f"{delivered:%Y/%m/%d}" / name
