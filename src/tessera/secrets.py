"""The master key, and ``SecretBox``, which seals secrets before they reach the store.

Secret access keys, session-token signing keys and other secrets are stored only as
``SecretBox.seal`` output: AES-256-GCM under a key derived from the master key, with
a fresh random 96-bit nonce per value and the record's *context* (for example
``"access-key:AKIA…"``) as associated data, so a sealed value copied into another
record does not open. The sealed form names the key that sealed it::

    v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>

so a later master-key rotation can open old values with the retired key while sealing
new ones with the current key.

Where the master key comes from (``load_master_key``):

1. ``TESSERA_MASTER_KEY``: base64 of 32 bytes; nothing is written to disk.
2. Otherwise ``<data dir>/master.key`` (the same base64 text). It is created on first
   start with mode 0600, atomically, so two processes starting together agree on one
   key. An existing file that its group or others may access is **refused**, as
   OpenSSH refuses such private keys: silently tightening the mode would hide that
   the key may already have leaked. Fix it with ``chmod 600`` (or use the variable).
   The file is never created for a store that already holds sealed secrets: a new key
   could not open them (``server/bootstrap.py`` checks the key against the store first).

Nothing here logs, and ``MasterKey``'s repr shows only its id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "ENV_VAR",
    "KEY_FILE",
    "MasterKey",
    "SecretBox",
    "SecretError",
    "load_master_key",
]

ENV_VAR = "TESSERA_MASTER_KEY"
KEY_FILE = "master.key"
KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT_VERSION = "v1"
_SEALING_INFO = b"tessera secret box v1"
_KEY_ID_LABEL = b"tessera master key id\x00"


class SecretError(Exception):
    """A master key cannot be loaded, or a sealed value cannot be opened (wrong key,
    wrong context, tampered or malformed). Messages never contain secret material."""


class MasterKey:
    """32 bytes of key material and a short public id derived from it."""

    __slots__ = ("_key_id", "_material")

    def __init__(self, material: bytes) -> None:
        if len(material) != KEY_BYTES:
            raise SecretError(f"a master key is {KEY_BYTES} bytes, not {len(material)}")
        self._material = bytes(material)
        self._key_id = hashlib.sha256(_KEY_ID_LABEL + self._material).hexdigest()[:16]

    @property
    def key_id(self) -> str:
        """Public: names the key in sealed values without revealing it."""
        return self._key_id

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(os.urandom(KEY_BYTES))

    @classmethod
    def from_base64(cls, encoded: str) -> MasterKey:
        try:
            material = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SecretError("a master key must be base64 of 32 bytes") from exc
        return cls(material)

    def to_base64(self) -> str:
        """The form stored in ``master.key`` and accepted in ``TESSERA_MASTER_KEY``."""
        return base64.b64encode(self._material).decode("ascii")

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MasterKey):
            return NotImplemented
        return hmac.compare_digest(self._material, other._material)

    def __hash__(self) -> int:
        return hash(self._key_id)


def load_master_key(data_dir: str, env: Mapping[str, str], *, create: bool = True) -> MasterKey:
    """The master key from ``env[TESSERA_MASTER_KEY]`` (set but empty or malformed is
    an error, not a fallback), else from ``<data_dir>/master.key``, creating that file
    (and the directory) on first use — unless ``create`` is false (a store that already
    holds sealed secrets), when a missing file is an error."""
    if ENV_VAR in env:
        return MasterKey.from_base64(env[ENV_VAR])
    path = Path(data_dir) / KEY_FILE
    try:
        if not path.exists():
            if not create:
                raise SecretError(f"there is no master key: {str(path)!r} does not exist and {ENV_VAR} is not set")
            _create_key_file(path)
        return _read_key_file(path)
    except OSError as exc:
        raise SecretError(f"master key file {str(path)!r}: {exc.strerror or exc}") from exc


class SecretBox:
    """Seals with ``master_key``; opens values sealed by it or by any ``retired`` key."""

    def __init__(self, master_key: MasterKey, *, retired: Iterable[MasterKey] = ()) -> None:
        self._key_id = master_key.key_id
        self._ciphers = {key.key_id: _sealing_cipher(key) for key in retired}
        self._ciphers[master_key.key_id] = _sealing_cipher(master_key)

    def __repr__(self) -> str:
        return f"SecretBox(key_id={self._key_id!r})"

    def seal(self, plaintext: str, *, context: str) -> str:
        return self.seal_bytes(plaintext.encode("utf-8"), context=context)

    def open(self, sealed: str, *, context: str) -> str:
        try:
            return self.open_bytes(sealed, context=context).decode("utf-8")
        except UnicodeError as exc:
            raise SecretError("sealed value does not open: wrong context, or altered") from exc

    def seal_bytes(self, data: bytes, *, context: str) -> str:
        """``seal`` for binary data (no text encoding of its own inside the envelope)."""
        nonce = os.urandom(NONCE_BYTES)
        header = f"{FORMAT_VERSION}:{self._key_id}"
        sealed = self._ciphers[self._key_id].encrypt(nonce, data, _associated_data(header, context))
        return f"{header}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open_bytes(self, sealed: str, *, context: str) -> bytes:
        version, key_id, body = _split(sealed)
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise SecretError(f"sealed with unknown master key {key_id!r}")
        try:
            raw = base64.b64decode(body, altchars=b"-_", validate=True)
            associated = _associated_data(f"{version}:{key_id}", context)
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated)
        except (InvalidTag, ValueError) as exc:
            raise SecretError("sealed value does not open: wrong context, or altered") from exc

    def key_id_of(self, sealed: str) -> str:
        """Which master key sealed a value (to find values a rotation must re-seal)."""
        return _split(sealed)[1]


def _sealing_cipher(master_key: MasterKey) -> AESGCM:
    """AES-GCM under an HKDF subkey used for sealing only, so no other use of the
    master key can ever share a key (and nonce space) with sealed secrets."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_SEALING_INFO)
    return AESGCM(hkdf.derive(master_key._material))


def _associated_data(header: str, context: str) -> bytes:
    """The header and the context, NUL-separated so neither can bleed into the other."""
    return f"{header}\x00{context}".encode()


def _split(sealed: str) -> tuple[str, str, str]:
    parts = sealed.split(":")
    if len(parts) != 3 or parts[0] != FORMAT_VERSION:
        raise SecretError("not a sealed value")
    return parts[0], parts[1], parts[2]


def _create_key_file(path: Path) -> None:
    """Write a new key to a private temporary file, then link it into place: the link
    fails if another process got there first, and a reader never sees a partial key."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{KEY_FILE}.{os.getpid()}.{os.urandom(4).hex()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(MasterKey.generate().to_base64() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return
        _fsync_directory(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def _read_key_file(path: Path) -> MasterKey:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretError(f"master key file {str(path)!r} is accessible by group or others (mode {mode:04o}); run chmod 600 on it")
    try:
        return MasterKey.from_base64(path.read_text(encoding="ascii"))
    except (SecretError, UnicodeDecodeError) as exc:
        raise SecretError(f"master key file {str(path)!r} is not base64 of 32 bytes") from exc


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
