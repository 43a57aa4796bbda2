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
    USER,
    Target,
    account_of,
    authorize_target,
    caller_user_name,
    ensure_quota,
    iso,
    parse_time,
    require_resolved,
    require_target,
    resolve,
    view_records,
)
from tessera.services.iam.paging import creation_key, next_sequence, paginate
from tessera.services.ids import SSH_PUBLIC_KEY_PREFIX, new_unique_id
from tessera.services.request import OperationContext, operation
from tessera.services.view import name_key
from tessera.store.base import Transaction

MIN_BITS = 2048
STATUSES = ("Active", "Inactive")
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


def _authorize(ctx: OperationContext, action: str, name: str) -> Target[R.UserRecord]:
    target = resolve(ctx, USER, name)
    authorize_target(ctx, action, target)
    return target


def _owned(rec: R.SshPublicKeyRecord, owner: str) -> bool:
    return name_key(rec["user"]) == name_key(owner)


def _not_found(key_id: str) -> NoSuchEntityException:
    return NoSuchEntityException(f"The Public Key with id {key_id} cannot be found.")


def _require_key(tx: Transaction, account: str, owner: str, key_id: str) -> R.SshPublicKeyRecord:
    rec = tx.get(account, R.SSH_PUBLIC_KEY, key_id)
    key = R.load(R.SSH_PUBLIC_KEY, dict(rec.data)) if rec is not None else None
    if key is None or not _owned(key, owner):
        raise _not_found(key_id)
    return key


@operation("iam", "UploadSSHPublicKey")
def upload_ssh_public_key(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, body = account_of(ctx), params["SSHPublicKeyBody"]
    target = _authorize(ctx, "iam:UploadSSHPublicKey", params["UserName"])
    print_ = fingerprint(parse_public_key(body))
    with ctx.write(account) as tx:
        owner = require_target(tx, account, target)["name"]
        keys = [R.load(R.SSH_PUBLIC_KEY, r.data) for r in tx.list(account, R.SSH_PUBLIC_KEY)]
        owned = [k for k in keys if _owned(k, owner)]
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
    target = _authorize(ctx, "iam:GetSSHPublicKey", params["UserName"])
    owner = require_resolved(target)["name"]
    encoding, key_id = params["Encoding"], params["SSHPublicKeyId"]
    if encoding not in ("SSH", "PEM"):
        raise ValidationError(
            f"1 validation error detected: Value '{encoding}' at 'encoding' failed to satisfy constraint: "
            "Member must satisfy enum value set: [SSH, PEM]"
        )
    rec = next((k for k in view_records(ctx, R.SSH_PUBLIC_KEY) if k["id"] == key_id and _owned(k, owner)), None)
    if rec is None:
        raise _not_found(key_id)
    key = parse_public_key(rec["body"])
    uploaded_as_ssh = rec["body"].strip().startswith("ssh-rsa ")
    body = (rec["body"] if uploaded_as_ssh else openssh_text(key)) if encoding == "SSH" else pem_text(key)
    return {"SSHPublicKey": _full(rec, body)}


@operation("iam", "ListSSHPublicKeys", read_only=True)
def list_ssh_public_keys(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    target = _authorize(ctx, "iam:ListSSHPublicKeys", caller_user_name(ctx, params))
    owner = require_resolved(target)["name"]
    keys = [k for k in view_records(ctx, R.SSH_PUBLIC_KEY) if _owned(k, owner)]
    page = paginate(keys, lambda k: creation_key(k, "uploaded"), params.get("Marker"), params.get("MaxItems"))
    return page.output("SSHPublicKeys", _metadata)


@operation("iam", "UpdateSSHPublicKey")
def update_ssh_public_key(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, status = account_of(ctx), params["Status"]
    target = _authorize(ctx, "iam:UpdateSSHPublicKey", params["UserName"])
    if status not in STATUSES:
        raise ValidationError(
            f"1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: "
            "Member must satisfy enum value set: [Active, Inactive]"
        )
    with ctx.write(account) as tx:
        owner = require_target(tx, account, target)["name"]
        rec = _require_key(tx, account, owner, params["SSHPublicKeyId"])
        rec["status"] = status
        tx.update(account, R.SSH_PUBLIC_KEY, rec["id"], rec)
    return {}


@operation("iam", "DeleteSSHPublicKey")
def delete_ssh_public_key(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    target = _authorize(ctx, "iam:DeleteSSHPublicKey", params["UserName"])
    with ctx.write(account) as tx:
        owner = require_target(tx, account, target)["name"]
        rec = _require_key(tx, account, owner, params["SSHPublicKeyId"])
        tx.delete(account, R.SSH_PUBLIC_KEY, rec["id"])
    return {}
