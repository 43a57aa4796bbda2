"""Session-token keys: creation, staged rotation, retention, and propagation to other
nodes through the store (services/keys.py)."""

from __future__ import annotations

import base64
import datetime as dt
import io
from pathlib import Path

import pytest
from sts_world import ENV, A, World, doc, trust

from tessera.auth.tokens import unseal
from tessera.errors import InvalidClientTokenId
from tessera.server.bootstrap import open_runtime
from tessera.services import records as R
from tessera.services.keys import RETENTION, current_keyring, ensure_token_key, rotate_token_key

ALICE_ARN = f"arn:aws:iam::{A}:user/alice"
NOW = dt.timedelta(0)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def _credentials(world: World) -> dict[str, object]:
    alice = world.add_user("alice")
    role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})), max_session=43200)
    result = world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s", DurationSeconds=43200)
    return dict(result["Credentials"])


def test_ensure_is_idempotent(world: World) -> None:
    first = current_keyring(world.runtime).current.key_id
    ensure_token_key(world.runtime)
    assert [k.key_id for k in current_keyring(world.runtime).keys] == [first]


def test_secrets_are_sealed_in_the_store(world: World) -> None:
    (record,) = world.runtime.view.global_records(R.TOKEN_KEY)
    assert set(record) == {"id", "secret_sealed", "created", "activates", "sequence"}
    assert record["secret_sealed"].startswith("v1:")


def test_rotation_is_staged_then_active(world: World) -> None:
    old = current_keyring(world.runtime).current.key_id
    new = rotate_token_key(world.runtime, activation_delay=dt.timedelta(seconds=30))
    assert current_keyring(world.runtime).current.key_id == old
    assert current_keyring(world.runtime).get(new) is not None
    world.clock.advance(30)
    assert current_keyring(world.runtime).current.key_id == new


def test_tokens_of_older_keys_keep_opening_until_the_key_is_dropped(world: World) -> None:
    creds = _credentials(world)
    token, key_id = str(creds["SessionToken"]), str(creds["AccessKeyId"])
    rotate_token_key(world.runtime, activation_delay=NOW)
    world.authenticate(creds)
    world.clock.advance(RETENTION.total_seconds() + 1)
    unseal(token, current_keyring(world.runtime), key_id)
    rotate_token_key(world.runtime, activation_delay=NOW)
    assert len(current_keyring(world.runtime).keys) == 2
    with pytest.raises(InvalidClientTokenId):
        unseal(token, current_keyring(world.runtime), key_id)


def _sealing_key_id(token: str) -> str:
    """The key id in a token's clear header (version byte, length byte, key id)."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    return raw[2 : 2 + raw[1]].decode("ascii")


def test_new_tokens_are_sealed_with_the_active_key(world: World) -> None:
    old = current_keyring(world.runtime).current.key_id
    new = rotate_token_key(world.runtime, activation_delay=dt.timedelta(seconds=30))
    assert _sealing_key_id(str(_credentials(world)["SessionToken"])) == old
    world.clock.advance(30)
    assert _sealing_key_id(str(_credentials(world)["SessionToken"])) == new


def test_rotation_on_one_node_reaches_another_through_the_store(world: World, tmp_path: Path) -> None:
    other = open_runtime(str(tmp_path), env=ENV, clock=world.clock, out=io.StringIO())
    assert current_keyring(other).current.key_id == current_keyring(world.runtime).current.key_id
    new = rotate_token_key(world.runtime, activation_delay=dt.timedelta(seconds=30))
    assert current_keyring(other).get(new) is None  # not polled yet: still cached
    other.view.poll()
    assert current_keyring(other).get(new) is not None
    world.clock.advance(30)
    assert current_keyring(other).current.key_id == new
    other.store.close()
