"""The store failing under a real ``tessera serve``: a full disk, a read-only database,
and PostgreSQL connections killed while a client writes.

What every case holds to:

* a write the store refuses answers 503 ``ServiceUnavailable`` with a message saying
  what failed (never a 500, never an empty message), and leaves nothing behind;
* a write answered 200 is there afterwards (through the API, and after a restart);
* ``/readyz`` is not ready while writes fail (``store_writes``, and ``audit`` once the
  trail cannot be written either);
* nothing is served unaudited: while the trail cannot be written, every request (reads
  too) is refused 503 saying so, and any request answered 200 has its event;
* once the store takes writes again, so does the server, without a restart.

The full disk is a real one: the SQLite database on a small tmpfs, filled with a file
until writes fail, then freed. Mounting needs root (these tests run as root in CI); a
test that cannot mount is skipped saying so. A read-only SQLite store cannot be made
here without a restart: Linux refuses to remount a file system read-only while the
server holds its database open for writing (EBUSY), and file modes do not bind root;
the read-only case runs on PostgreSQL (``default_transaction_read_only`` on the
server's own database, its connections terminated so new ones read the setting).

Whether the audit trail holds an event for every acknowledged write is checked by
``assert_events_for_acknowledged_writes``, in test functions of its own (the
``…_audit_…`` ones): a write commits its event with its change, and the writer keeps
every other event queued until the store takes it.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pgutil import base_pg_url
from serverproc import TesseraServer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from tessera.store.sql import default_url, open_store

STORE_UNAVAILABLE = "The identity store is unavailable: "
AUDIT_UNAVAILABLE = "The audit trail is unavailable: "
RECOVERY_SECONDS = 60
"""How long a recovered store may take to be noticed (the writer retries every 0.5 s):
a bound on the wait, not a measurement."""
TMPFS_BYTES = 4 * 1024 * 1024
MAX_WRITES_TO_FILL = 400
"""Writes tried on a full disk before giving up: each commits a few 4 KiB pages of
write-ahead log, which stops growing once the file system is full."""


# -- what a client saw -------------------------------------------------------------------


@dataclass
class Ledger:
    """Every write a client made and what it was answered."""

    acknowledged: dict[str, str] = field(default_factory=dict)  # user name -> request id
    refused: list[str] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)  # the refusals' error responses
    lock: threading.Lock = field(default_factory=threading.Lock)

    def create_user(self, iam: Any, name: str) -> bool:
        """CreateUser ``name``; True when answered 200. Any answer but 200 or a 503 fails
        the test (through ``check_refusals``)."""
        try:
            response = iam.create_user(UserName=name)
        except ClientError as error:
            with self.lock:
                self.refused.append(name)
                self.answers.append(error.response)
            return False
        with self.lock:
            self.acknowledged[name] = response["ResponseMetadata"]["RequestId"]
        return True

    def check_refusals(self, reason: str | None = None) -> None:
        """Every refusal is a 503 saying what failed: the store (with ``reason``), or the
        audit trail, which the same fault leaves unwritable (whichever of the write and
        the audit writer meets it first)."""
        for answer in self.answers:
            assert answer["ResponseMetadata"]["HTTPStatusCode"] == 503, answer
            assert answer["Error"]["Code"] == "ServiceUnavailable", answer
            message = answer["Error"]["Message"]
            assert message.startswith((STORE_UNAVAILABLE, AUDIT_UNAVAILABLE)) and message.endswith("Retry later."), message
            if reason is not None and message.startswith(STORE_UNAVAILABLE):
                assert f"({reason})" in message, message

    def create_user_once_recovered(self, iam: Any, name: str) -> None:
        """CreateUser ``name`` until it is answered 200 (the server noticing on its own that
        the store is back), at most ``RECOVERY_SECONDS``; every refusal meanwhile is a 503."""
        deadline = time.monotonic() + RECOVERY_SECONDS
        while not self.create_user(iam, name):
            assert time.monotonic() < deadline, self.answers[-1]
            self.refused.remove(name)  # refused this time: asked again under the same name
            time.sleep(0.2)


def user_names(iam: Any) -> set[str]:
    return {user["UserName"] for page in iam.get_paginator("list_users").paginate() for user in page["Users"]}


def assert_writes_kept(server: TesseraServer, ledger: Ledger) -> None:
    """Every acknowledged user is there and no refused one is, through the API now and
    after a restart (what was answered 200 was committed)."""
    for restart in (True, False):
        present = user_names(server.client("iam"))
        assert set(ledger.acknowledged) <= present, sorted(set(ledger.acknowledged) - present)
        assert not present & set(ledger.refused), sorted(present & set(ledger.refused))
        if restart:
            server.restart()


def assert_events_for_acknowledged_writes(database_url: str, ledger: Ledger) -> None:
    """The audit trail holds a CreateUser event, without an error, for the request id of
    every acknowledged write. Read from the store after the server stopped (a graceful
    stop writes every event accepted so far)."""
    store = open_store(database_url)
    try:
        events = list(store.query_audit(event_name="CreateUser", limit=1_000_000))
    finally:
        store.close()
    recorded = {event["requestID"] for event in events if not event.get("errorCode")}
    missing = {name: rid for name, rid in ledger.acknowledged.items() if rid not in recorded}
    assert not missing, f"{len(missing)} acknowledged writes have no audit event: {sorted(missing)[:10]}"


def readiness(server: TesseraServer) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{server.endpoint}/readyz", timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def assert_reads_answered_or_refused_as_unaudited(server: TesseraServer, ledger: Ledger) -> None:
    """Reads come from the in-memory view, but nothing is served unaudited: each read is
    answered (200, with what was acknowledged) or refused 503 because the trail cannot be
    written, never anything else."""
    iam, sts = server.client("iam"), server.client("sts")
    some = next(iter(ledger.acknowledged))
    for read in (
        lambda: sts.get_caller_identity()["Account"] == server.account_id,
        lambda: iam.get_user(UserName=some)["User"]["UserName"] == some,
    ):
        try:
            answered = read()
        except ClientError as error:
            refusal = error.response
        else:
            assert answered
            continue
        assert refusal["ResponseMetadata"]["HTTPStatusCode"] == 503, refusal
        assert refusal["Error"]["Message"].startswith(AUDIT_UNAVAILABLE), refusal


def assert_ready_again(server: TesseraServer) -> None:
    deadline = time.monotonic() + RECOVERY_SECONDS
    while True:
        status, body = readiness(server)
        if status == 200:
            assert body["checks"]["store_writes"]["ok"] and body["checks"]["audit"]["ok"], body
            return
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def assert_not_ready(server: TesseraServer) -> None:
    status, body = readiness(server)
    checks = body["checks"]
    assert status == 503 and not (checks["store_writes"]["ok"] and checks["audit"]["ok"]), body


# -- a full disk (SQLite on a small tmpfs) -----------------------------------------------


@contextmanager
def tmpfs(size: int) -> Iterator[str]:
    """A fresh tmpfs of ``size`` bytes, mounted on a new directory; the test is skipped
    (saying why) where mounting is not allowed."""
    where = tempfile.mkdtemp(prefix="tessera-tmpfs-")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", where], capture_output=True, text=True, check=False
    )
    if mounted.returncode != 0:
        os.rmdir(where)
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "--lazy", where], check=True)
        os.rmdir(where)


def fill(directory: str) -> str:
    """Write a file into ``directory`` until its file system has no space left; returns
    its path (delete it to free the space)."""
    path = os.path.join(directory, "filler")
    with open(path, "wb", buffering=0) as filler:
        for block in (1 << 16, 1 << 12, 1 << 9):
            chunk = b"\0" * block
            try:
                while True:
                    filler.write(chunk)
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
    return path


@contextmanager
def sqlite_on_tmpfs() -> Iterator[tuple[TesseraServer, str, str]]:
    """A server whose data directory (its SQLite database) is a small tmpfs; its log is
    kept elsewhere, so the full disk is the store's alone."""
    logs = tempfile.mkdtemp(prefix="tessera-e2e-logs-")
    with tmpfs(TMPFS_BYTES) as data_dir:
        server = TesseraServer(data_dir=data_dir, log_dir=logs)
        try:
            server.start()
            yield server, data_dir, default_url(data_dir)
        finally:
            server.stop()
            shutil.rmtree(logs, ignore_errors=True)


def fill_until_writes_fail(server: TesseraServer, data_dir: str, ledger: Ledger) -> str:
    """Fill the disk, then write until the store refuses; returns the filler's path."""
    iam = server.client("iam")
    filler = fill(data_dir)
    for i in range(MAX_WRITES_TO_FILL):
        if not ledger.create_user(iam, f"full-{i}"):
            break
    assert ledger.refused, f"{MAX_WRITES_TO_FILL} writes succeeded on a full disk"
    for i in range(3):  # the disk is still full: every further write is refused too
        assert not ledger.create_user(iam, f"still-full-{i}")
    return filler


def run_full_disk(server: TesseraServer, data_dir: str) -> Ledger:
    iam = server.client("iam")
    ledger = Ledger()
    for i in range(3):
        assert ledger.create_user(iam, f"before-{i}")
    filler = fill_until_writes_fail(server, data_dir, ledger)
    ledger.check_refusals("database storage full")
    assert_not_ready(server)
    assert_reads_answered_or_refused_as_unaudited(server, ledger)

    os.remove(filler)
    ledger.create_user_once_recovered(iam, "after-free")
    assert_ready_again(server)
    ledger.check_refusals("database storage full")
    return ledger


def test_full_disk_refuses_writes_with_503_recovers_when_space_is_freed_and_audits_every_acknowledged_write() -> None:
    with sqlite_on_tmpfs() as (server, data_dir, url):
        ledger = run_full_disk(server, data_dir)
        assert_writes_kept(server, ledger)
        server.stop()
        assert_events_for_acknowledged_writes(url, ledger)


# -- PostgreSQL: its own database, connections tagged by application name ---------------


@dataclass
class PgNode:
    server: TesseraServer
    admin: Engine  # connected to another database of the same cluster
    database: str
    application_name: str
    url: str  # the server's own URL (with its application name)

    def terminate(self) -> int:
        """Kill every connection the server holds; how many there were."""
        with self.admin.begin() as conn:
            killed = conn.execute(
                text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = :name"),
                {"name": self.application_name},
            ).scalar_one()
        return int(killed)

    def set_read_only(self, read_only: bool) -> None:
        """``default_transaction_read_only`` of the server's database: sessions started
        from now on read it (the server's open connections keep what they read)."""
        with self.admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'ALTER DATABASE "{self.database}" SET default_transaction_read_only = {"on" if read_only else "off"}'))


@pytest.fixture
def pg_node() -> Iterator[PgNode]:
    """A server on a PostgreSQL database of its own (``ALTER DATABASE`` must not reach
    anything else using the test cluster), dropped afterwards."""
    base = make_url(base_pg_url()).set(drivername="postgresql+psycopg")
    database = f"tessera_faults_{uuid.uuid4().hex[:12]}"
    name = f"tessera_faults_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, poolclass=NullPool, connect_args={"connect_timeout": 5})
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    url = base.set(database=database).update_query_dict({"application_name": name}).render_as_string(hide_password=False)
    data_dir = tempfile.mkdtemp(prefix="tessera-e2e-")
    server = TesseraServer(data_dir=data_dir, database_url=url)
    try:
        server.start()
        yield PgNode(server, admin, database, name, url)
    finally:
        server.stop()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(data_dir, ignore_errors=True)


def run_read_only(node: PgNode) -> Ledger:
    server = node.server
    iam = server.client("iam")
    ledger = Ledger()
    for i in range(3):
        assert ledger.create_user(iam, f"before-{i}")
    node.set_read_only(True)
    assert node.terminate() >= 1
    for i in range(3):
        assert not ledger.create_user(iam, f"read-only-{i}")
    ledger.check_refusals("database is read-only")
    assert_not_ready(server)
    assert_reads_answered_or_refused_as_unaudited(server, ledger)

    node.set_read_only(False)  # no restart, no terminated connections: the server recovers alone
    ledger.create_user_once_recovered(iam, "writable-again")
    assert_ready_again(server)
    ledger.check_refusals("database is read-only")
    return ledger


@pytest.mark.postgres
def test_read_only_database_refuses_writes_with_503_recovers_and_audits_every_acknowledged_write(pg_node: PgNode) -> None:
    ledger = run_read_only(pg_node)
    assert_writes_kept(pg_node.server, ledger)
    pg_node.server.stop()
    assert_events_for_acknowledged_writes(pg_node.url, ledger)


WRITERS = 2
WRITES_PER_WRITER = 40


def run_killed_connections(node: PgNode) -> tuple[Ledger, int]:
    """Two clients write while a third kills the server's connections over and over;
    returns what they were answered and how many connections were killed."""
    ledger = Ledger()
    stop = threading.Event()
    killed = [0]

    def killer() -> None:
        while not stop.is_set():
            killed[0] += node.terminate()
            stop.wait(0.005)  # pacing only: the kills land wherever the writes are

    def writer(prefix: str) -> Callable[[], None]:
        def run() -> None:
            iam = node.server.client("iam")
            for i in range(WRITES_PER_WRITER):
                ledger.create_user(iam, f"{prefix}-{i}")

        return run

    threads = [threading.Thread(target=writer(f"w{n}")) for n in range(WRITERS)]
    kill_thread = threading.Thread(target=killer)
    kill_thread.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    kill_thread.join()
    return ledger, killed[0]


@pytest.mark.postgres
def test_connections_killed_under_load_lose_no_acknowledged_write_nor_its_event(pg_node: PgNode) -> None:
    ledger, killed = run_killed_connections(pg_node)
    assert killed >= 1
    ledger.check_refusals()
    assert len(ledger.acknowledged) + len(ledger.refused) == WRITERS * WRITES_PER_WRITER
    ledger.create_user_once_recovered(pg_node.server.client("iam"), "after-the-kills")  # recovered
    assert_writes_kept(pg_node.server, ledger)
    pg_node.server.stop()
    assert_events_for_acknowledged_writes(pg_node.url, ledger)
