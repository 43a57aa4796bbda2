"""End-to-end fixtures: a real ``tessera serve`` process per test module, on SQLite and
on PostgreSQL (each server gets its own PostgreSQL schema), driven by real boto3 clients.

Fixtures:
- ``server``: module-scoped, parametrized over the two backends.
- ``sqlite_server``: module-scoped, SQLite only (for tests about the process itself).
- ``fresh_server``: function-scoped factory ``fresh_server(backend="sqlite", **kw)``
  for tests that restart or reconfigure a server.
- ``iam``, ``sts``, ``org``: root clients of ``server``.
- ``browser``: module-scoped headless Chromium; ``console``: a browser context on
  ``server``'s console, not signed in (tests/consoleui.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from serverproc import Credentials, TesseraServer, server_factory, start_server

__all__ = ["Credentials", "TesseraServer"]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest) -> Iterator[TesseraServer]:
    srv, cleanup = start_server(request.param)
    try:
        yield srv
    finally:
        cleanup()


@pytest.fixture(scope="module")
def sqlite_server() -> Iterator[TesseraServer]:
    srv, cleanup = start_server("sqlite")
    try:
        yield srv
    finally:
        cleanup()


@pytest.fixture
def fresh_server() -> Iterator[Callable[..., TesseraServer]]:
    yield from server_factory()


@pytest.fixture
def iam(server: TesseraServer) -> Any:
    return server.client("iam")


@pytest.fixture
def sts(server: TesseraServer) -> Any:
    return server.client("sts")


@pytest.fixture
def org(server: TesseraServer) -> Any:
    return server.client("organizations")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium for the module's console tests (tests/consoleui.py)."""
    from consoleui import open_browser

    with open_browser() as opened:
        yield opened


@pytest.fixture
def console(browser: Any, server: TesseraServer) -> Iterator[Any]:
    """A fresh browser context (its own cookies) on ``server``'s console, not signed in."""
    from consoleui import Console

    with Console.opened(browser, server) as opened:
        yield opened
