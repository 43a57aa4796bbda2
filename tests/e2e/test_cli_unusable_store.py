"""Every command that opens the store, given one it cannot use (an unknown database
scheme, a PostgreSQL server that refuses connections, a data directory that cannot
exist), ends with exit status 2 and one line saying what failed: never a traceback, and
nothing created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = {
    "serve": ["serve", "--port", "0"],
    "accounts list": ["accounts", "list"],
    "accounts set-root-password": ["accounts", "set-root-password"],
    "keys rotate": ["keys", "rotate"],
    "audit": ["audit"],
    "audit export": ["audit", "export", "--out", "{tmp}/export"],
}


def _stores(tmp: Path) -> dict[str, list[str]]:
    blocker = tmp / "a-file"
    blocker.write_text("")
    return {
        "unknown scheme": ["--data-dir", str(tmp / "d"), "--database-url", "bogus://x"],
        "postgres refusing": ["--data-dir", str(tmp / "d"), "--database-url", "postgresql+psycopg://postgres@127.0.0.1:1/test"],
        "data dir under a file": ["--data-dir", str(blocker / "d")],
    }


@pytest.mark.parametrize("store", ["unknown scheme", "postgres refusing", "data dir under a file"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_unusable_store_is_one_line_and_status_2(tmp_path: Path, command: str, store: str) -> None:
    args = [a.format(tmp=tmp_path) for a in COMMANDS[command]] + _stores(tmp_path)[store]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TESSERA_"))}
    done = subprocess.run(
        [sys.executable, "-m", "tessera", *args], env=env, input="Root-Password-2026\n", capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot" in lines[0] and lines[0].startswith("tessera"), done.stderr
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())
    assert not (tmp_path / "export").exists()
