"""No request can keep others out of the audit trail. A JSON body with a lone surrogate
escape (``"\\ud800"``) decoded to text that is not Unicode; its event made the store's
encoder fail, and the writer dropped the whole batch around it — every event of every
caller written in the same 250 ms."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable

from attackkit import RawClient
from serverproc import TesseraServer

POISON = b'{"NextToken": "\\ud800"}'


def _audit_events(server: TesseraServer) -> list[dict[str, object]]:
    with sqlite3.connect(os.path.join(server.data_dir, "tessera.db")) as db:
        return [json.loads(row[0]) for row in db.execute("SELECT body FROM audit_events")]


def test_a_lone_surrogate_is_refused_and_nobody_s_events_are_lost(fresh_target: Callable[..., TesseraServer]) -> None:
    server = fresh_target()
    raw = RawClient(server)
    nobody = server.make_user("no-permissions")
    iam = server.client("iam")
    for index in range(5):
        reply = raw.send(
            raw.signed(
                "organizations",
                body=POISON,
                creds=nobody,
                headers={"X-Amz-Target": "AWSOrganizationsV20161128.ListAccounts", "Content-Type": "application/x-amz-json-1.1"},
            )
        )
        assert reply.status == 400 and reply.error_code() == "SerializationException", reply.text
        iam.create_user(UserName=f"audited-{index}")
    server.stop()  # flushes the audit trail
    events = _audit_events(server)
    refused = [event for event in events if event.get("errorCode") == "SerializationException"]
    assert len(refused) == 5  # the refused requests are in the trail too
    created = {
        event["requestParameters"]["userName"]
        for event in events  # type: ignore[index]
        if event["eventName"] == "CreateUser"
    }
    assert {f"audited-{index}" for index in range(5)} <= created
    assert "Traceback" not in server.log()
