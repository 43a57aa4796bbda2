"""Admin commands and the server refuse a master key that does not open the secrets the
store already holds: nothing is written, no new ``master.key`` appears, and the server
keeps working with its real key."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from serverproc import Credentials, TesseraServer, start_server

from tessera.secrets import ENV_VAR, KEY_FILE, MasterKey
from tessera.services import records as R
from tessera.store.base import GLOBAL
from tessera.store.sql import default_url, open_store

REFUSED = "does not open the secrets already stored in this database"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest) -> Iterator[TesseraServer]:
    srv, cleanup = start_server(request.param)
    try:
        yield srv
    finally:
        cleanup()


def _tessera(server: TesseraServer, args: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TESSERA_"))} | extra
    store = ["--data-dir", server.data_dir] + (["--database-url", server.database_url] if server.database_url else [])
    return subprocess.run([sys.executable, "-m", "tessera", *args, *store], env=env, capture_output=True, text=True, timeout=60)


def _token_keys(server: TesseraServer) -> dict[str, str]:
    store = open_store(server.database_url or default_url(server.data_dir))
    try:
        with store.read() as tx:
            return {rec.key: rec.data["secret_sealed"] for rec in tx.list(GLOBAL, R.TOKEN_KEY)}
    finally:
        store.close()


def _works(server: TesseraServer) -> None:
    """Session tokens (sealed with the token keys) are issued and accepted."""
    session = Credentials.from_response(server.client("sts").get_session_token(DurationSeconds=900)["Credentials"])
    assert server.client("sts", session).get_caller_identity()["Account"] == server.account_id


def _other_key() -> str:
    return MasterKey.generate().to_base64()


def test_admin_commands_refuse_a_missing_or_wrong_master_key_and_write_nothing(server: TesseraServer) -> None:
    _works(server)
    key_file = Path(server.data_dir) / KEY_FILE
    real = key_file.read_text(encoding="ascii")
    before = _token_keys(server)
    aside = key_file.with_name("master.key.aside")
    shutil.move(key_file, aside)

    missing = _tessera(server, ["keys", "rotate", "--activate-in", "0"])
    assert missing.returncode == 2 and missing.stdout == ""
    assert f"{key_file}' does not exist" in missing.stderr and "give this command the server's master key" in missing.stderr
    assert not key_file.exists()  # no new master key for a store that holds sealed secrets
    created = _tessera(server, ["accounts", "create", "dev", "--standalone"])
    assert created.returncode == 2 and "does not exist" in created.stderr and not key_file.exists()

    key_file.write_text(_other_key() + "\n", encoding="ascii")
    key_file.chmod(0o600)
    replaced = _tessera(server, ["keys", "rotate", "--activate-in", "0"])
    assert replaced.returncode == 2 and f"the master key in {key_file} {REFUSED}" in replaced.stderr
    wrong_env = _tessera(server, ["keys", "rotate"], **{ENV_VAR: _other_key()})
    assert wrong_env.returncode == 2 and f"the master key in {ENV_VAR} {REFUSED}" in wrong_env.stderr
    created = _tessera(server, ["accounts", "create", "dev", "--standalone"], **{ENV_VAR: _other_key()})
    assert created.returncode == 2 and REFUSED in created.stderr
    assert _token_keys(server) == before

    shutil.move(aside, key_file)
    assert key_file.read_text(encoding="ascii") == real
    listed = _tessera(server, ["accounts", "list", "--json"])
    assert listed.returncode == 0, listed.stderr
    assert [row["account_id"] for row in json.loads(listed.stdout)] == [server.account_id]
    server.restart()
    _works(server)


def test_serve_refuses_to_start_with_a_wrong_master_key(server: TesseraServer) -> None:
    server.stop()
    with pytest.raises(RuntimeError, match="exited with 2") as refused:
        server.start({ENV_VAR: _other_key()})
    assert f"the master key in {ENV_VAR} {REFUSED}" in str(refused.value)
    key_file = Path(server.data_dir) / KEY_FILE
    key_file.write_text(_other_key() + "\n", encoding="ascii")
    with pytest.raises(RuntimeError, match="exited with 2") as refused:
        server.start()
    assert f"the master key in {key_file} {REFUSED}" in str(refused.value)
    key_file.unlink()
    with pytest.raises(RuntimeError, match="exited with 2") as refused:
        server.start()
    assert "does not exist" in str(refused.value) and not key_file.exists()


def test_rotate_with_the_right_key_and_on_a_fresh_store(server: TesseraServer, tmp_path: Path) -> None:
    before = _token_keys(server)
    rotated = _tessera(server, ["keys", "rotate", "--activate-in", "0"])
    assert rotated.returncode == 0, rotated.stderr
    after = _token_keys(server)
    assert set(after) == set(before) | {rotated.stdout.strip()} and len(after) == len(before) + 1
    server.restart()
    _works(server)
    with_env = _tessera(server, ["keys", "rotate"], **{ENV_VAR: (Path(server.data_dir) / KEY_FILE).read_text().strip()})
    assert with_env.returncode == 0, with_env.stderr

    fresh = TesseraServer(data_dir=str(tmp_path / "fresh"))
    first = _tessera(fresh, ["keys", "rotate"])
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "fresh" / KEY_FILE).exists() and len(_token_keys(fresh)) == 2
    assert base64.b64decode((tmp_path / "fresh" / KEY_FILE).read_text())
