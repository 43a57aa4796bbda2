"""The SQLite database and its companion files are created owner-only (0600) whatever
the directory's mode and the process umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.store.base import GLOBAL
from tessera.store.sql import default_url, open_store


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def modes(directory: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir() if p.name.startswith("tessera.db")}


def test_database_files_are_private_in_a_0755_directory(tmp_path: Path, loose_umask: None) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    store = open_store(default_url(str(data)))
    try:
        with store.write(GLOBAL) as tx:
            tx.insert(GLOBAL, "test", "k", {"v": 1})
        found = modes(data)
        assert "tessera.db" in found and any(name.endswith("-wal") for name in found), found
        assert all(mode == 0o600 for mode in found.values()), found
    finally:
        store.close()


def test_a_database_left_readable_by_others_is_made_private(tmp_path: Path, loose_umask: None) -> None:
    path = tmp_path / "tessera.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    store = open_store(default_url(str(tmp_path)))
    store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
