"""SSH public keys of IAM users (for CodeCommit): UploadSSHPublicKey, GetSSHPublicKey,
ListSSHPublicKeys, UpdateSSHPublicKey, DeleteSSHPublicKey
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_UploadSSHPublicKey.html).

A key is an RSA key of at least 2048 bits, in OpenSSH (``ssh-rsa AAAA… comment``) or
PEM format (SubjectPublicKeyInfo ``PUBLIC KEY`` or PKCS#1 ``RSA PUBLIC KEY``); the body
is kept as uploaded and ``GetSSHPublicKey`` converts it to the encoding asked for. A
body in neither format, or of another key type, is UnrecognizedPublicKeyEncoding; an
RSA key that does not load or is too short is InvalidPublicKey. The fingerprint is the
MD5 digest of the key's SSH wire blob in colon-separated hex (what ``ssh-keygen -l -E
md5`` prints); the same key twice for one user is DuplicateSSHPublicKey. At most
``quotas.SSH_PUBLIC_KEYS_PER_USER`` keys per user.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
    load_ssh_public_key,
)

from tessera.errors import (
    DuplicateSSHPublicKeyException,
    InvalidPublicKeyException,
    NoSuchEntityException,
    UnrecognizedPublicKeyEncodingException,
    ValidationError,
)
from tessera.services import records as R
from tessera.services.iam import quotas
from tessera.services.iam.entities import (
    account_of,
    caller_user_name,
    ensure_quota,
    iso,
    parse_time,
)
from tessera.services.iam.paging import creation_key, next_sequence, paginate
from tessera.services.iam.user_credentials import authorize_owner, delete_owned, require_owner, update_status, view_owned
from tessera.services.ids import SSH_PUBLIC_KEY_PREFIX, new_unique_id
from tessera.services.request import OperationContext, operation

MIN_BITS = 2048
UNRECOGNIZED = "The public key encoding format is unsupported or unrecognized."
INVALID = "The public key is malformed or otherwise invalid."


def parse_public_key(body: str) -> rsa.RSAPublicKey:
    """The RSA key ``body`` holds, in either format IAM accepts."""
    text = body.strip()
    key: object
    try:
        data = text.encode("latin-1")
        if text.startswith("ssh-rsa "):
            key = load_ssh_public_key(data)
        elif text.startswith(("-----BEGIN PUBLIC KEY-----", "-----BEGIN RSA PUBLIC KEY-----")):
            key = load_pem_public_key(data)
        else:
            raise UnrecognizedPublicKeyEncodingException(UNRECOGNIZED)
    except (ValueError, UnsupportedAlgorithm, UnicodeError) as e:
        raise InvalidPublicKeyException(INVALID) from e
    if not isinstance(key, rsa.RSAPublicKey):
        raise UnrecognizedPublicKeyEncodingException(UNRECOGNIZED)
    if key.key_size < MIN_BITS:
        raise InvalidPublicKeyException(f"The public key must be at least {MIN_BITS} bits long.")
    return key


def openssh_text(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode("ascii")


def pem_text(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def fingerprint(key: rsa.RSAPublicKey) -> str:
    """MD5 of the SSH wire blob, as ``aa:bb:…`` (16 pairs)."""
    blob = base64.b64decode(openssh_text(key).split()[1])
    return ":".join(f"{b:02x}" for b in hashlib.md5(blob, usedforsecurity=False).digest())


def _metadata(rec: R.SshPublicKeyRecord) -> dict[str, Any]:
    return {
        "UserName": rec["user"],
        "SSHPublicKeyId": rec["id"],
        "Status": rec["status"],
        "UploadDate": parse_time(rec["uploaded"]),
    }


def _full(rec: R.SshPublicKeyRecord, body: str) -> dict[str, Any]:
    return {**_metadata(rec), "Fingerprint": rec["fingerprint"], "SSHPublicKeyBody": body}


def _not_found(key_id: str, owner: str = "") -> NoSuchEntityException:
    return NoSuchEntityException(f"The Public Key with id {key_id} cannot be found.")


@operation("iam", "UploadSSHPublicKey")
def upload_ssh_public_key(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, body = account_of(ctx), params["SSHPublicKeyBody"]
    target = authorize_owner(ctx, "iam:UploadSSHPublicKey", params["UserName"])
    print_ = fingerprint(parse_public_key(body))
    with ctx.write(account) as tx:
        owner = require_owner(tx, account, target)
        owned = [R.load(R.SSH_PUBLIC_KEY, r.data) for r in tx.list_by(account, R.SSH_PUBLIC_KEY, "user", owner)]
        if any(r["fingerprint"] == print_ for r in owned):
            raise DuplicateSSHPublicKeyException("The SSH public key is already associated with the specified IAM user.")
        ensure_quota(len(owned), quotas.SSH_PUBLIC_KEYS_PER_USER, "SSHPublicKeysPerUser")
        rec: R.SshPublicKeyRecord = {
            "id": new_unique_id(SSH_PUBLIC_KEY_PREFIX),
            "user": owner,
            "body": body,
            "fingerprint": print_,
            "status": "Active",
            "uploaded": iso(ctx.now),
            "seq": next_sequence(owned),
        }
        tx.insert(account, R.SSH_PUBLIC_KEY, rec["id"], rec)
    return {"SSHPublicKey": _full(rec, body)}


@operation("iam", "GetSSHPublicKey", read_only=True)
def get_ssh_public_key(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    target = authorize_owner(ctx, "iam:GetSSHPublicKey", params["UserName"])
    encoding, key_id = params["Encoding"], params["SSHPublicKeyId"]
    if encoding not in ("SSH", "PEM"):
        raise ValidationError(
            f"1 validation error detected: Value '{encoding}' at 'encoding' failed to satisfy constraint: "
            "Member must satisfy enum value set: [SSH, PEM]"
        )
    rec = next((k for k in view_owned(ctx, R.SSH_PUBLIC_KEY, target) if k["id"] == key_id), None)
    if rec is None:
        raise _not_found(key_id)
    key = parse_public_key(rec["body"])
    uploaded_as_ssh = rec["body"].strip().startswith("ssh-rsa ")
    body = (rec["body"] if uploaded_as_ssh else openssh_text(key)) if encoding == "SSH" else pem_text(key)
    return {"SSHPublicKey": _full(rec, body)}


@operation("iam", "ListSSHPublicKeys", read_only=True)
def list_ssh_public_keys(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    target = authorize_owner(ctx, "iam:ListSSHPublicKeys", caller_user_name(ctx, params))
    keys = view_owned(ctx, R.SSH_PUBLIC_KEY, target)
    page = paginate(keys, lambda k: creation_key(k, "uploaded"), params.get("Marker"), params.get("MaxItems"))
    return page.output("SSHPublicKeys", _metadata)


@operation("iam", "UpdateSSHPublicKey")
def update_ssh_public_key(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    owner, key_id = params["UserName"], params["SSHPublicKeyId"]
    return update_status(ctx, "iam:UpdateSSHPublicKey", owner, R.SSH_PUBLIC_KEY, key_id, params["Status"], _not_found)


@operation("iam", "DeleteSSHPublicKey")
def delete_ssh_public_key(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    owner, key_id = params["UserName"], params["SSHPublicKeyId"]
    return delete_owned(ctx, "iam:DeleteSSHPublicKey", owner, R.SSH_PUBLIC_KEY, key_id, _not_found)
