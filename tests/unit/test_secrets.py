from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from collections.abc import Callable

import pytest

from tessera.secrets import ENV_VAR, KEY_FILE, MasterKey, SecretBox, SecretError, load_master_key

CONTEXT = "access-key:AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(MasterKey.generate())


@pytest.mark.parametrize("plaintext", [SECRET, "", "ünïcode ✓ \x00 end"], ids=["ascii", "empty", "unicode"])
def test_sealed_value_opens_with_the_same_context(box: SecretBox, plaintext: str) -> None:
    assert box.open(box.seal(plaintext, context=CONTEXT), context=CONTEXT) == plaintext


def test_sealed_value_hides_the_plaintext_and_differs_each_time(box: SecretBox) -> None:
    first, second = box.seal(SECRET, context=CONTEXT), box.seal(SECRET, context=CONTEXT)
    assert first != second
    assert SECRET not in first
    assert first.split(":")[:2] == ["v1", box.key_id_of(first)]


def test_sealed_value_does_not_open_in_another_context(box: SecretBox) -> None:
    sealed = box.seal(SECRET, context=CONTEXT)
    with pytest.raises(SecretError):
        box.open(sealed, context="access-key:AKIAOTHERKEY")


def test_sealed_value_does_not_open_under_another_master_key(box: SecretBox) -> None:
    sealed = box.seal(SECRET, context=CONTEXT)
    with pytest.raises(SecretError, match="unknown master key"):
        SecretBox(MasterKey.generate()).open(sealed, context=CONTEXT)


def flip_last_body_char(sealed: str) -> str:
    head, body = sealed.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[-1] ^= 0x01
    return f"{head}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"


def flip_nonce(sealed: str) -> str:
    head, body = sealed.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(body))
    raw[0] ^= 0x80
    return f"{head}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"


@pytest.mark.parametrize(
    "tamper",
    [
        flip_last_body_char,
        flip_nonce,
        lambda sealed: sealed[: len(sealed) // 2],
        lambda sealed: sealed.replace("v1:", "v2:", 1),
        lambda sealed: "v1:" + sealed.split(":", 2)[1],
        lambda sealed: sealed + "!!",
        lambda sealed: "plain text",
    ],
    ids=["ciphertext", "nonce", "truncated", "version", "no-body", "garbage-suffix", "not-sealed"],
)
def test_tampered_values_are_refused(box: SecretBox, tamper: Callable[[str], str]) -> None:
    with pytest.raises(SecretError):
        box.open(tamper(box.seal(SECRET, context=CONTEXT)), context=CONTEXT)


def test_retired_keys_still_open_old_values_while_new_values_use_the_current_key() -> None:
    old_key, new_key = MasterKey.generate(), MasterKey.generate()
    old_sealed = SecretBox(old_key).seal(SECRET, context=CONTEXT)
    rotated = SecretBox(new_key, retired=[old_key])
    assert rotated.open(old_sealed, context=CONTEXT) == SECRET
    assert rotated.key_id_of(rotated.seal(SECRET, context=CONTEXT)) == new_key.key_id
    assert rotated.key_id_of(old_sealed) == old_key.key_id


def test_master_key_repr_shows_only_its_id() -> None:
    key = MasterKey.generate()
    for text in (repr(key), str(key), repr(SecretBox(key))):
        assert key.to_base64() not in text
        assert key.key_id in text


def test_env_key_is_used_and_no_file_is_written(tmp_path) -> None:
    key = MasterKey.generate()
    loaded = load_master_key(str(tmp_path), {ENV_VAR: key.to_base64()})
    assert loaded == key
    assert not (tmp_path / KEY_FILE).exists()


def test_env_key_takes_precedence_over_the_key_file(tmp_path) -> None:
    file_key = load_master_key(str(tmp_path), {})
    env_key = MasterKey.generate()
    assert load_master_key(str(tmp_path), {ENV_VAR: env_key.to_base64()}) == env_key
    assert load_master_key(str(tmp_path), {}) == file_key != env_key


@pytest.mark.parametrize(
    "value",
    ["", "not base64!", base64.b64encode(b"short").decode()],
    ids=["empty", "not-base64", "wrong-length"],
)
def test_malformed_env_key_is_an_error_not_a_fallback(tmp_path, value: str) -> None:
    with pytest.raises(SecretError) as raised:
        load_master_key(str(tmp_path), {ENV_VAR: value})
    assert value == "" or value not in str(raised.value)
    assert not (tmp_path / KEY_FILE).exists()


def test_key_file_is_created_once_with_mode_0600_and_reused(tmp_path) -> None:
    data_dir = tmp_path / "data"
    first = load_master_key(str(data_dir), {})
    path = data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert MasterKey.from_base64(path.read_text()) == first
    assert load_master_key(str(data_dir), {}) == first
    assert sorted(p.name for p in data_dir.iterdir()) == [KEY_FILE]


def test_values_sealed_before_a_restart_open_after_it(tmp_path) -> None:
    sealed = SecretBox(load_master_key(str(tmp_path), {})).seal(SECRET, context=CONTEXT)
    assert SecretBox(load_master_key(str(tmp_path), {})).open(sealed, context=CONTEXT) == SECRET


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644], ids=["group", "others", "both"])
def test_key_file_readable_by_others_is_refused(tmp_path, mode: int) -> None:
    load_master_key(str(tmp_path), {})
    os.chmod(tmp_path / KEY_FILE, mode)
    with pytest.raises(SecretError, match="chmod 600"):
        load_master_key(str(tmp_path), {})


def test_corrupt_key_file_is_refused(tmp_path) -> None:
    path = tmp_path / KEY_FILE
    path.write_text("garbage\n")
    path.chmod(0o600)
    with pytest.raises(SecretError, match="not base64 of 32 bytes"):
        load_master_key(str(tmp_path), {})


KEY_PRINTER = """
import sys
from tessera.secrets import load_master_key
print("ready", flush=True)
sys.stdin.readline()
print(load_master_key(sys.argv[1], {}).key_id)
"""


def test_processes_starting_together_agree_on_one_key(tmp_path) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", KEY_PRINTER, str(tmp_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        for process in processes:
            assert process.stdout.readline() == "ready\n"
        for process in processes:
            process.stdin.write("go\n")
            process.stdin.flush()
        key_ids = {process.communicate(timeout=30)[0].strip() for process in processes}
    finally:
        for process in processes:
            process.kill()
            process.wait()
    assert key_ids == {load_master_key(str(tmp_path), {}).key_id}
    assert sorted(p.name for p in tmp_path.iterdir()) == [KEY_FILE]


def test_key_file_is_not_created_when_creation_is_off(tmp_path) -> None:
    with pytest.raises(SecretError, match="does not exist"):
        load_master_key(str(tmp_path), {}, create=False)
    assert not (tmp_path / KEY_FILE).exists()
    env_key = MasterKey.generate()
    assert load_master_key(str(tmp_path), {ENV_VAR: env_key.to_base64()}, create=False) == env_key
