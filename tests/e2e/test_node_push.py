"""Nodes and workers agree without waiting for the poll: a change made through one
server process is enforced by another well before its fallback poll (set to 30 s here)
would have run. PostgreSQL pushes changes (LISTEN/NOTIFY, reconnecting when the listening
connection is killed); processes on one SQLite file check ``PRAGMA data_version``.

The bound asserted (``PROMPT``) is a correctness bound, far above the measured delays
(``python -m bench.node_delay``) and far below the fallback poll."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pgutil import base_pg_url, fresh_pg_url
from serverproc import Credentials, TesseraServer, free_port, new_data_dir
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tessera.store.notify import LISTENER_NAME
from tessera.store.sql import default_url, open_store

SLOW_POLL = ["--poll-interval", "30"]
PROMPT = 5.0  # seconds: a node seeing a change this late would be waiting for the poll

ALLOW_READS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]}
DENY_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}


def within(check: Callable[[], bool], seconds: float = PROMPT) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not seen within {seconds} s (the fallback poll is 30 s)")
        time.sleep(0.01)


def answer(client: Any) -> str:
    """What ``client`` (a user's IAM client) is answered to GetUser of itself:
    ``allowed`` or the error code."""
    try:
        client.get_user()
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return "allowed"


def all_answered(clients: list[Any], expected: str) -> bool:
    return all(answer(client) == expected for client in clients)


@pytest.fixture
def shared(request: pytest.FixtureRequest) -> Iterator[Callable[..., TesseraServer]]:
    """A factory of server processes on one store (a fresh PostgreSQL schema or one
    SQLite data directory), all stopped afterwards."""
    backend = request.param
    data_dir = new_data_dir()
    url, drop = fresh_pg_url(base_pg_url()) if backend == "postgres" else (None, lambda: None)
    started: list[TesseraServer] = []

    def start(args: list[str] | None = None) -> TesseraServer:
        server = TesseraServer(data_dir=data_dir, database_url=url, extra_args=SLOW_POLL + (args or []))
        started.append(server.start())
        return server

    yield start
    for server in reversed(started):
        server.stop()
    drop()


BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("shared", BACKENDS, indirect=True)
def test_a_revocation_on_one_node_is_enforced_by_the_other_before_any_poll(shared: Callable[..., TesseraServer]) -> None:
    first, second = shared(), shared()
    creds = first.make_user("mover", ALLOW_READS)
    on_second = second.client("iam", creds)
    within(lambda: answer(on_second) == "allowed")

    first.client("iam").put_user_policy(UserName="mover", PolicyName="deny", PolicyDocument=json.dumps(DENY_ALL))
    within(lambda: answer(on_second) == "AccessDenied")
    first.client("iam").delete_user_policy(UserName="mover", PolicyName="deny")
    within(lambda: answer(on_second) == "allowed")

    first.client("iam").delete_access_key(UserName="mover", AccessKeyId=creds.access_key_id)
    within(lambda: answer(on_second) == "InvalidClientTokenId")


def listeners(admin: Any, pid: int) -> list[int]:
    """The PostgreSQL backends of server process ``pid``'s listening connection."""
    with admin.begin() as conn:
        rows = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"), {"name": f"{LISTENER_NAME} {pid}"})
        return [int(row[0]) for row in rows]


@pytest.mark.postgres
@pytest.mark.parametrize("shared", ["postgres"], indirect=True)
def test_a_killed_listening_connection_reconnects_and_catches_up(shared: Callable[..., TesseraServer]) -> None:
    first, second = shared(), shared()
    assert first.database_url is not None and second.process is not None
    admin = create_engine(first.database_url, poolclass=NullPool)
    try:
        creds = first.make_user("survivor", ALLOW_READS)
        on_second = second.client("iam", creds)
        within(lambda: answer(on_second) == "allowed")
        (killed,) = listeners(admin, second.process.pid)
        with admin.begin() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": killed}).scalar_one()
        # written while the listener may be down: its notice can be lost, the catch-up poll is not
        first.client("iam").put_user_policy(UserName="survivor", PolicyName="deny", PolicyDocument=json.dumps(DENY_ALL))
        within(lambda: answer(on_second) == "AccessDenied")
        within(lambda: len(listeners(admin, second.process.pid)) == 1 and listeners(admin, second.process.pid) != [killed])
        # and notices flow again on the new connection
        first.client("iam").delete_access_key(UserName="survivor", AccessKeyId=creds.access_key_id)
        within(lambda: answer(on_second) == "InvalidClientTokenId")
    finally:
        admin.dispose()


# -- --workers ----------------------------------------------------------------------------


def workers_of(parent: int) -> set[int]:
    """The live child processes of ``parent`` (from /proc)."""
    children = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent and fields[0] != "Z":
                children.add(int(entry))
    return children


def scrape_workers(metrics_port: int, attempts: int = 40) -> dict[int, float]:
    """worker pid → the requests it answered, from /metrics scrapes (each one new
    connection, answered by one of the workers)."""
    seen: dict[int, float] = {}
    for _ in range(attempts):
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
            body = response.read().decode()
        pid = int(body.split('tessera_worker{pid="', 1)[1].split('"', 1)[0])
        seen[pid] = sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith("tessera_requests_total{"))
    return seen


def user_clients(server: TesseraServer, creds: Credentials) -> list[Any]:
    """Clients of one user, each on a connection of its own: the kernel spreads the
    connections over the workers (all land on one with a chance of 2^-19)."""
    return [server.client("iam", creds) for _ in range(CONNECTIONS)]


CONNECTIONS = 20


@pytest.mark.parametrize("shared", BACKENDS, indirect=True)
def test_two_workers_share_one_port_and_agree(shared: Callable[..., TesseraServer]) -> None:
    metrics_port = free_port()
    server = shared(["--workers", "2", "--metrics-listen", f"127.0.0.1:{metrics_port}"])
    assert server.process is not None
    within(lambda: len(workers_of(server.process.pid)) == 2, 30)

    clients = user_clients(server, server.make_user("worker-user", ALLOW_READS))
    # the worker that did not create the key learns of it without its 30 s poll
    within(lambda: all_answered(clients, "allowed"))
    answered = scrape_workers(metrics_port)
    assert set(answered) == workers_of(server.process.pid)
    assert all(count > 0 for count in answered.values()), answered

    server.client("iam").put_user_policy(UserName="worker-user", PolicyName="deny", PolicyDocument=json.dumps(DENY_ALL))
    within(lambda: all_answered(clients, "AccessDenied"))


@pytest.mark.parametrize("shared", BACKENDS, indirect=True)
def test_a_graceful_stop_of_workers_loses_no_audit_event(shared: Callable[..., TesseraServer]) -> None:
    server = shared(["--workers", "2"])
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["iam:GetUser", "iam:ListUserTags"], "Resource": "*"}]}
    creds = server.make_user("audited", policy)
    clients = user_clients(server, creds)
    within(lambda: all_answered(clients, "allowed"))
    calls = 200
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: clients[i % CONNECTIONS].list_user_tags(UserName="audited"), range(calls)))
    assert server.stop() == 0  # at once: much of the trail is still queued in the workers
    with open_store(server.database_url or default_url(server.data_dir)) as store:
        events = list(store.query_audit(principal=creds.access_key_id, event_name="ListUserTags", limit=10 * calls))
    assert len(events) == calls


@pytest.mark.parametrize("shared", ["sqlite"], indirect=True)
def test_a_killed_worker_is_replaced(shared: Callable[..., TesseraServer]) -> None:
    server = shared(["--workers", "2"])
    assert server.process is not None
    parent = server.process.pid
    within(lambda: len(workers_of(parent)) == 2, 30)
    before = workers_of(parent)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    within(lambda: len(workers_of(parent)) == 2 and victim not in workers_of(parent), 30)
    with ThreadPoolExecutor(4) as pool:
        arns = set(pool.map(lambda _: server.client("sts").get_caller_identity()["Arn"], range(20)))
    assert arns == {f"arn:aws:iam::{server.account_id}:root"}
    assert server.process.poll() is None
