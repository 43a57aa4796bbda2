"""Attack suite fixtures: a real ``tessera serve`` on SQLite and a raw client for it.

- ``target``: module-scoped server (SQLite), root credentials in ``target.root``.
- ``fresh_target``: function-scoped factory ``fresh_target(args=[...], env={...})`` for
  tests that need their own flags or a server they may hurt.
- ``raw``: an ``attackkit.RawClient`` for ``target``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping

import pytest
from attackkit import RawClient
from serverproc import TesseraServer, new_data_dir


def _start(args: list[str] | None = None, env: Mapping[str, str] | None = None) -> tuple[TesseraServer, Callable[[], None]]:
    data_dir = new_data_dir()
    server = TesseraServer(data_dir=data_dir)
    server.start(extra_env=env, args=args)

    def cleanup() -> None:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)

    return server, cleanup


@pytest.fixture(scope="module")
def target() -> Iterator[TesseraServer]:
    server, cleanup = _start()
    try:
        yield server
    finally:
        cleanup()


@pytest.fixture
def fresh_target() -> Iterator[Callable[..., TesseraServer]]:
    cleanups: list[Callable[[], None]] = []

    def factory(args: list[str] | None = None, env: Mapping[str, str] | None = None) -> TesseraServer:
        server, cleanup = _start(args, env)
        cleanups.append(cleanup)
        return server

    yield factory
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture
def raw(target: TesseraServer) -> RawClient:
    return RawClient(target)
