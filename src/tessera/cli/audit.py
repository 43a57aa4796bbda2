"""``tessera audit``: list and filter the CloudTrail-format audit trail."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from tessera.cli.serve import add_store_arguments


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("audit", help="list audit events (CloudTrail format)")
    add_store_arguments(parser, required_data_dir=False)
    parser.add_argument("--principal", help="an ARN or access key id")
    parser.add_argument("--event-name", help="an operation name, e.g. AssumeRole")
    parser.add_argument("--start", help="ISO-8601 UTC time, inclusive")
    parser.add_argument("--end", help="ISO-8601 UTC time, inclusive")
    parser.add_argument("--errors-only", action="store_true")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help='print CloudTrail records ({"Records": [...]})')
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tessera.store.sql import default_url, open_store

    if not (args.database_url or args.data_dir):
        print("tessera audit: give --data-dir or --database-url", file=sys.stderr)
        return 2
    store = open_store(args.database_url or default_url(args.data_dir))
    try:
        events = list(
            store.query_audit(
                principal=args.principal,
                event_name=args.event_name,
                start=args.start,
                end=args.end,
                errors_only=args.errors_only,
                limit=args.limit,
            )
        )
    except ValueError as error:  # a malformed --start/--end
        print(f"tessera audit: {error}", file=sys.stderr)
        return 2
    finally:
        store.close()
    if args.json:
        json.dump({"Records": events}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_table(events)
    return 0


def print_table(events: list[Mapping[str, Any]]) -> None:
    rows = [("TIME", "EVENT", "PRINCIPAL", "SOURCE IP", "RESULT")]
    for event in events:
        ident = event.get("userIdentity", {})
        rows.append(
            (
                event.get("eventTime", ""),
                f"{event.get('eventSource', '').split('.')[0]}:{event.get('eventName', '')}",
                ident.get("arn") or ident.get("accessKeyId") or "-",
                event.get("sourceIPAddress", ""),
                event.get("errorCode") or "OK",
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip())
