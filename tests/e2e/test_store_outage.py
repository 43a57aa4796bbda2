"""PostgreSQL connections killed between requests: every write answers either success
(and is saved) or 503 ServiceUnavailable (and nothing is saved), never a 500.

The server's connections carry their own ``application_name``, so only they are
terminated (``pg_terminate_backend``), not those of anything else using the database."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pgutil import base_pg_url, fresh_pg_url
from serverproc import TesseraServer, new_data_dir
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

pytestmark = pytest.mark.postgres


@pytest.fixture
def node() -> Iterator[tuple[TesseraServer, Engine, str]]:
    url, drop = fresh_pg_url(base_pg_url())
    name = f"tessera_outage_{uuid.uuid4().hex[:12]}"
    tagged = make_url(url).update_query_dict({"application_name": name}).render_as_string(hide_password=False)
    admin = create_engine(make_url(url), poolclass=NullPool)
    data_dir = new_data_dir()
    server = TesseraServer(data_dir=data_dir, database_url=tagged)
    try:
        server.start()
        yield server, admin, name
    finally:
        server.stop()
        admin.dispose()
        drop()
        shutil.rmtree(data_dir, ignore_errors=True)


def terminate(admin: Engine, application_name: str) -> int:
    """Kill every connection the server holds, and wait until PostgreSQL reports those
    gone (``pg_terminate_backend`` only signals a backend: it ends a moment later; the
    server may meanwhile open new ones, which are left alone); how many there were. A
    connection ended after the pool's ping, before its first statement, is
    tests/unit/store/test_lost_connections.py's case."""
    with admin.begin() as conn:
        killed = [
            int(pid)
            for pid, _ in conn.execute(
                text("SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
                {"name": application_name},
            )
        ]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with admin.begin() as conn:
            if not conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"), {"pids": killed}).scalar_one():
                return len(killed)
        time.sleep(0.01)
    raise AssertionError("the server's connections outlived pg_terminate_backend")


def test_writes_after_killed_connections_succeed_or_answer_503_never_500(node: tuple[TesseraServer, Engine, str]) -> None:
    server, admin, name = node
    iam = server.client("iam")
    iam.create_user(UserName="outage")
    answered: list[str] = []
    for _ in range(6):
        before = {k["AccessKeyId"] for k in iam.list_access_keys(UserName="outage")["AccessKeyMetadata"]}
        assert terminate(admin, name) >= 1
        failure: Any = None
        try:
            created = iam.create_access_key(UserName="outage")["AccessKey"]
        except ClientError as error:
            failure = error.response
        after = {k["AccessKeyId"] for k in iam.list_access_keys(UserName="outage")["AccessKeyMetadata"]}
        if failure is not None:
            assert failure["ResponseMetadata"]["HTTPStatusCode"] == 503, failure
            assert failure["Error"]["Code"] == "ServiceUnavailable"
            assert failure["Error"]["Message"].startswith("The identity store is unavailable: ")
            assert after == before
            answered.append("503")
        else:
            assert after == before | {created["AccessKeyId"]} and created["SecretAccessKey"]
            iam.delete_access_key(UserName="outage", AccessKeyId=created["AccessKeyId"])
            answered.append("ok")
    assert "ok" in answered  # the pool reconnects: killed idle connections do not stop writes
