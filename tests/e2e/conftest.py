"""End-to-end fixtures: a real ``tessera serve`` process per test module, on SQLite and
on PostgreSQL (each server gets its own PostgreSQL schema), driven by real boto3 clients.

Fixtures:
- ``server``: module-scoped, parametrized over the two backends.
- ``sqlite_server``: module-scoped, SQLite only (for tests about the process itself).
- ``fresh_server``: function-scoped factory ``fresh_server(backend="sqlite", **kw)``
  for tests that restart or reconfigure a server.
- ``iam``, ``sts``, ``org``: root clients of ``server``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pgutil import base_pg_url, fresh_pg_url
from serverproc import Credentials, TesseraServer, new_data_dir

__all__ = ["Credentials", "TesseraServer"]


def _start(backend: str, **kwargs: Any) -> tuple[TesseraServer, Callable[[], None]]:
    data_dir = new_data_dir()

    def drop() -> None:
        pass

    url = None
    if backend == "postgres":
        url, drop = fresh_pg_url(base_pg_url())
    server = TesseraServer(data_dir=data_dir, database_url=url, **kwargs)
    try:
        server.start()
    except Exception:
        drop()
        raise

    def cleanup() -> None:
        server.stop()
        drop()
        shutil.rmtree(data_dir, ignore_errors=True)

    return server, cleanup


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest) -> Iterator[TesseraServer]:
    srv, cleanup = _start(request.param)
    try:
        yield srv
    finally:
        cleanup()


@pytest.fixture(scope="module")
def sqlite_server() -> Iterator[TesseraServer]:
    srv, cleanup = _start("sqlite")
    try:
        yield srv
    finally:
        cleanup()


@pytest.fixture
def fresh_server() -> Iterator[Callable[..., TesseraServer]]:
    cleanups: list[Callable[[], None]] = []

    def factory(backend: str = "sqlite", **kwargs: Any) -> TesseraServer:
        srv, cleanup = _start(backend, **kwargs)
        cleanups.append(cleanup)
        return srv

    yield factory
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture
def iam(server: TesseraServer) -> Any:
    return server.client("iam")


@pytest.fixture
def sts(server: TesseraServer) -> Any:
    return server.client("sts")


@pytest.fixture
def org(server: TesseraServer) -> Any:
    return server.client("organizations")
