"""The audit trail keeps everything a client was told succeeded, with real servers.

* ``kill -9`` under concurrent writes and credential requests, a few rounds on SQLite
  and PostgreSQL: afterwards every write a client got a 200 for is in the store with
  its event, and every credential returned has its event naming it.
* ``--audit-retention`` deletes the events older than the period, and only those.
* A store that refuses audit writes (a trigger on the audit table): requests are
  refused 503 "The audit trail is unavailable…", credentials are not returned, writes
  are rolled back, ``/readyz`` fails on ``audit``; once the store takes writes again the
  server serves again without a restart, and nothing answered with success lacks its
  event.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError
from serverproc import Credentials, TesseraServer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from tessera.clock import iso_seconds
from tessera.store.sql import default_url, open_store

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
ROUNDS = 3
WORKERS = 4
ACKNOWLEDGED_BEFORE_KILL = 24  # per round, counted over all workers


def store_url(server: TesseraServer) -> str:
    return server.database_url or default_url(server.data_dir)


def trust_root(server: TesseraServer) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{server.account_id}:root"}, "Action": "sts:AssumeRole"}],
        }
    )


class Acknowledged:
    """What clients were answered 200: users created, and credentials issued (by request id)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users: dict[str, str] = {}  # request id → user name
        self.credentials: dict[str, str] = {}  # request id → access key id
        self.changed = threading.Condition(self.lock)

    def count(self) -> int:
        return len(self.users) + len(self.credentials)

    def add(self, table: dict[str, str], request_id: str, value: str) -> None:
        with self.changed:
            table[request_id] = value
            self.changed.notify_all()


def assumer(server: TesseraServer) -> Credentials:
    """A user allowed to assume roles (root never may)."""
    return server.make_user(
        "assumer", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    )


def work(server: TesseraServer, creds: Credentials, role_arn: str, prefix: str, acked: Acknowledged, stop: threading.Event) -> None:
    """Create users and assume the role, alternately, until the server dies or ``stop``."""
    iam, sts = server.client("iam"), server.client("sts", creds)
    n = 0
    while not stop.is_set():
        n += 1
        try:
            if n % 2:
                name = f"{prefix}-{n}"
                answer = iam.create_user(UserName=name)
                acked.add(acked.users, answer["ResponseMetadata"]["RequestId"], name)
            else:
                answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=f"{prefix}-{n}")
                acked.add(acked.credentials, answer["ResponseMetadata"]["RequestId"], answer["Credentials"]["AccessKeyId"])
        except ClientError as error:  # answered, but not a success: nothing to check
            if error.response["ResponseMetadata"]["HTTPStatusCode"] >= 500:
                continue
            raise
        except BotoCoreError:  # the connection died with the server
            return


def enough(acked: Acknowledged) -> bool:
    return acked.count() >= ACKNOWLEDGED_BEFORE_KILL


def check_nothing_acknowledged_is_lost(server: TesseraServer, acked: Acknowledged) -> None:
    store = open_store(store_url(server))
    try:
        by_request = {event["requestID"]: event for event in store.query_audit(limit=None)}
        with store.read() as tx:
            for request_id, name in acked.users.items():
                assert tx.get(server.account_id, "user", name) is not None, f"acknowledged user {name} is missing"
                event = by_request.get(request_id)
                assert event is not None and event["eventName"] == "CreateUser", f"CreateUser {request_id} has no event"
                assert event["requestParameters"] == {"userName": name} and "errorCode" not in event
        for request_id, key_id in acked.credentials.items():
            event = by_request.get(request_id)
            assert event is not None and event["eventName"] == "AssumeRole", f"credentials {key_id} have no event"
            assert event["responseElements"]["credentials"]["accessKeyId"] == key_id
    finally:
        store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_9_under_concurrent_writes_loses_no_acknowledged_write_or_event(backend: str, fresh_server: Any) -> None:
    server: TesseraServer = fresh_server(backend)
    role_arn = server.client("iam").create_role(RoleName="crash", AssumeRolePolicyDocument=trust_root(server))["Role"]["Arn"]
    creds = assumer(server)
    for round_number in range(ROUNDS):
        acked, stop = Acknowledged(), threading.Event()
        workers = [
            threading.Thread(target=work, args=(server, creds, role_arn, f"r{round_number}w{i}", acked, stop), daemon=True)
            for i in range(WORKERS)
        ]
        for worker in workers:
            worker.start()
        try:
            with acked.changed:
                assert acked.changed.wait_for(functools.partial(enough, acked), timeout=120), server.log()
            assert server.process is not None
            server.process.kill()  # SIGKILL: no shutdown, no flush
            server.process.wait(timeout=30)
            server.process = None
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=60)
        assert acked.users and acked.credentials
        check_nothing_acknowledged_is_lost(server, acked)
        server.start()  # the next round on the same database


# -- a store that refuses audit writes ------------------------------------------------

SQLITE_REFUSE = [
    "CREATE TRIGGER refuse_audit_insert BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit refused'); END",
    "CREATE TRIGGER refuse_audit_update BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit refused'); END",
]
SQLITE_ACCEPT = ["DROP TRIGGER refuse_audit_insert", "DROP TRIGGER refuse_audit_update"]
POSTGRES_REFUSE = [
    "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$",
    "CREATE TRIGGER refuse_audit BEFORE INSERT OR UPDATE ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
]
POSTGRES_ACCEPT = ["DROP TRIGGER refuse_audit ON audit_events", "DROP FUNCTION refuse_audit()"]


@pytest.fixture
def admin() -> Iterator[Callable[[TesseraServer], Engine]]:
    engines: list[Engine] = []

    def connect(server: TesseraServer) -> Engine:
        engine = create_engine(store_url(server), poolclass=NullPool)
        engines.append(engine)
        return engine

    yield connect
    for engine in engines:
        engine.dispose()


def execute(engine: Engine, statements: list[str]) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def readyz(server: TesseraServer) -> tuple[int, Mapping[str, Any]]:
    try:
        with urllib.request.urlopen(f"{server.endpoint}/readyz", timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def refusal(call: Callable[[], Any]) -> Mapping[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_store_refusing_audit_writes_refuses_requests_then_recovers_without_restart(
    backend: str, fresh_server: Any, admin: Callable[[TesseraServer], Engine]
) -> None:
    server: TesseraServer = fresh_server(backend)
    iam = server.client("iam")
    role_arn = iam.create_role(RoleName="audited", AssumeRolePolicyDocument=trust_root(server))["Role"]["Arn"]
    sts = server.client("sts", assumer(server))
    served = [sts.get_caller_identity()["ResponseMetadata"]["RequestId"]]
    engine = admin(server)
    execute(engine, POSTGRES_REFUSE if backend == "postgres" else SQLITE_REFUSE)

    refused = refusal(lambda: sts.assume_role(RoleArn=role_arn, RoleSessionName="refused"))
    assert refused["ResponseMetadata"]["HTTPStatusCode"] == 503 and "Credentials" not in refused
    assert refused["Error"]["Code"] == "ServiceUnavailable"
    assert refused["Error"]["Message"].startswith("The audit trail is unavailable")
    created = refusal(lambda: iam.create_user(UserName="never"))
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert created["Error"]["Message"].startswith("The audit trail is unavailable")
    status, body = readyz(server)
    assert status == 503 and not body["checks"]["audit"]["ok"]
    assert refusal(sts.get_caller_identity)["ResponseMetadata"]["HTTPStatusCode"] == 503

    execute(engine, POSTGRES_ACCEPT if backend == "postgres" else SQLITE_ACCEPT)
    deadline = time.monotonic() + 60
    while readyz(server)[0] != 200:  # the writer retries on its own
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    answer = sts.assume_role(RoleArn=role_arn, RoleSessionName="served")
    served.append(answer["ResponseMetadata"]["RequestId"])
    refusal(lambda: iam.get_user(UserName="never"))  # the refused write left nothing
    assert server.stop() == 0
    with open_store(store_url(server)) as store:
        trail = {event["requestID"]: event for event in store.query_audit(limit=None)}
    assert all(request_id in trail and "errorCode" not in trail[request_id] for request_id in served)
    assert trail[served[1]]["responseElements"]["credentials"]["accessKeyId"] == answer["Credentials"]["AccessKeyId"]
    # refused at the door (the writer had already failed) it has no event; refused after
    # its event failed to commit, its event records the refusal: never credentials
    refused_event = trail.get(refused["ResponseMetadata"]["RequestId"])
    assert refused_event is None or refused_event["errorCode"] == "ServiceUnavailable"


# -- retention -------------------------------------------------------------------------


def test_audit_retention_deletes_only_older_events_off_the_request_path(fresh_server: Any) -> None:
    server: TesseraServer = fresh_server()
    served = server.client("sts").get_caller_identity()["ResponseMetadata"]["RequestId"]
    assert server.stop() == 0
    now = dt.datetime.now(dt.UTC)
    aged = {"old": now - dt.timedelta(days=3), "kept": now - dt.timedelta(days=1)}
    with open_store(store_url(server)) as store:
        store.append_audit(
            [{"eventID": name, "requestID": name, "eventTime": iso_seconds(when), "eventName": "GetUser"} for name, when in aged.items()]
        )
    server.start(args=["--audit-retention", "2d"])
    deadline = time.monotonic() + 60
    while True:  # the server prunes at start-up, in the background
        with open_store(store_url(server)) as store:
            left = {event["requestID"] for event in store.query_audit(limit=None)}
        if "old" not in left:
            break
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    assert {"kept", served} <= left
    bad = subprocess.run(
        [sys.executable, "-m", "tessera", "serve", "--data-dir", server.data_dir, "--audit-retention", "forever"],
        capture_output=True,
        text=True,
        timeout=60,
        env=server.environment(),
    )
    assert bad.returncode == 2 and "--audit-retention" in bad.stderr
