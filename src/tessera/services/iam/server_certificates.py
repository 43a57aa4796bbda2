"""Server certificates (TLS certificates IAM stores for other services):
UploadServerCertificate, GetServerCertificate, ListServerCertificates,
UpdateServerCertificate, DeleteServerCertificate, TagServerCertificate,
UntagServerCertificate, ListServerCertificateTags
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_UploadServerCertificate.html).

A certificate is named uniquely in the account (case-insensitively, like users) and
has an ARN ``arn:aws:iam::<account>:server-certificate<path><name>``. Its body must be
one PEM certificate, not expired (MalformedCertificate otherwise), its chain PEM
certificates; the private key must be the certificate's (KeyPairMismatch). The private
key is stored sealed under ``server-certificate:<id>`` and never returned.
``quotas.SERVER_CERTIFICATES_PER_ACCOUNT`` per account.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_private_key

from tessera.errors import (
    ConcurrentModificationException,
    EntityAlreadyExistsException,
    KeyPairMismatchException,
    MalformedCertificateException,
    NoSuchEntityException,
)
from tessera.services import records as R
from tessera.services.iam import quotas
from tessera.services.iam.entities import (
    account_of,
    account_state,
    ensure_quota,
    entity_arn,
    iso,
    parse_time,
    path_matches,
)
from tessera.services.iam.entity_tags import TaggedResource, list_resource_tags, tag_resource, untag_resource
from tessera.services.iam.paging import paginate
from tessera.services.iam.signing_certificates import parse_certificate
from tessera.services.iam.tags import (
    authorize_creation,
    resource_tag_context,
    validate_request_tags,
)
from tessera.services.ids import SERVER_CERTIFICATE_PREFIX, new_unique_id
from tessera.services.request import OperationContext, operation
from tessera.services.view import name_key
from tessera.store.base import Conflict, Transaction

ARN_TYPE = "server-certificate"
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)


@dataclass(frozen=True, slots=True)
class Cert:
    """A server certificate a request names, resolved before authorization (as
    ``entities.Target`` for users)."""

    name: str
    arn: str
    record: R.ServerCertificateRecord | None


def _resolve(ctx: OperationContext, name: str) -> Cert:
    state = account_state(ctx)
    rec = state.server_certificates.get(name_key(name)) if state is not None else None
    if rec is not None:
        return Cert(rec["name"], rec["arn"], rec)
    return Cert(name, entity_arn(account_of(ctx), ARN_TYPE, "/", name), None)


def _authorize(ctx: OperationContext, action: str, cert: Cert, extra: Mapping[str, object] | None = None) -> None:
    tags = cert.record["tags"] if cert.record is not None else []
    ctx.authorize(action, cert.arn, context={**resource_tag_context(tags), **(extra or {})})


def _not_found(name: str) -> NoSuchEntityException:
    return NoSuchEntityException(f"The Server Certificate with name {name} cannot be found.")


def _exists(name: str) -> EntityAlreadyExistsException:
    return EntityAlreadyExistsException(f"The Server Certificate with name {name} already exists.")


def _require_resolved(cert: Cert) -> R.ServerCertificateRecord:
    if cert.record is None:
        raise _not_found(cert.name)
    return cert.record


def _require(tx: Transaction, account: str, cert: Cert) -> R.ServerCertificateRecord:
    """The record ``cert`` resolved to, read in ``tx``; refused if it changed since."""
    found = tx.get(account, R.SERVER_CERTIFICATE, name_key(cert.name))
    if found is None:
        raise _not_found(cert.name)
    rec = R.load(R.SERVER_CERTIFICATE, copy.deepcopy(dict(found.data)))
    authorized = cert.record
    if authorized is None or rec["id"] != authorized["id"] or rec["arn"] != cert.arn or rec["tags"] != authorized["tags"]:
        raise ConcurrentModificationException(f"The server certificate {cert.name} changed while the request was processed. Please retry.")
    return rec


def _metadata(rec: R.ServerCertificateRecord) -> dict[str, Any]:
    return {
        "Path": rec["path"],
        "ServerCertificateName": rec["name"],
        "ServerCertificateId": rec["id"],
        "Arn": rec["arn"],
        "UploadDate": parse_time(rec["uploaded"]),
        "Expiration": parse_time(rec["expiration"]),
    }


def _check_key_pair(cert: x509.Certificate, private_key: str) -> None:
    try:
        key = load_pem_private_key(private_key.encode("latin-1"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise MalformedCertificateException("Unable to parse the private key. It must be an unencrypted PEM private key.") from e
    public = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if public != cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo):
        raise KeyPairMismatchException("The private key does not match the certificate's public key.")


def _check_chain(chain: str) -> None:
    blocks = _PEM_CERT.findall(chain)
    if not blocks:
        raise MalformedCertificateException("Unable to parse the certificate chain. It must be PEM certificates.")
    for block in blocks:
        try:
            x509.load_pem_x509_certificate(block.encode("latin-1"))
        except (ValueError, UnsupportedAlgorithm) as e:
            raise MalformedCertificateException("Unable to parse the certificate chain. It must be PEM certificates.") from e


@operation("iam", "UploadServerCertificate")
def upload_server_certificate(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, name = account_of(ctx), params["ServerCertificateName"]
    path = params.get("Path") or "/"
    arn = entity_arn(account, ARN_TYPE, path, name)
    tags = validate_request_tags(params.get("Tags") or [])
    authorize_creation(ctx, "iam:UploadServerCertificate", "iam:TagServerCertificate", arn, tags)
    cert = parse_certificate(params["CertificateBody"], ctx.now)
    _check_key_pair(cert, params["PrivateKey"])
    chain = params.get("CertificateChain")
    if chain:
        _check_chain(chain)
    with ctx.write(account) as tx:
        ensure_quota(tx.count(account, R.SERVER_CERTIFICATE), quotas.SERVER_CERTIFICATES_PER_ACCOUNT, "ServerCertificatesPerAccount")
        cert_id = new_unique_id(SERVER_CERTIFICATE_PREFIX)
        rec: R.ServerCertificateRecord = {
            "name": name,
            "id": cert_id,
            "path": path,
            "arn": arn,
            "body": params["CertificateBody"],
            "chain": chain or None,
            "key_sealed": ctx.runtime.secret_box.seal(params["PrivateKey"], context=f"server-certificate:{cert_id}"),
            "uploaded": iso(ctx.now),
            "expiration": iso(cert.not_valid_after_utc),
            "tags": tags,
        }
        try:
            tx.insert(account, R.SERVER_CERTIFICATE, name_key(name), rec)
        except Conflict as e:
            raise _exists(name) from e
    out: dict[str, Any] = {"ServerCertificateMetadata": _metadata(rec)}
    if tags:
        out["Tags"] = tags
    return out


@operation("iam", "GetServerCertificate", read_only=True)
def get_server_certificate(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    cert = _resolve(ctx, params["ServerCertificateName"])
    _authorize(ctx, "iam:GetServerCertificate", cert)
    rec = _require_resolved(cert)
    out: dict[str, Any] = {"ServerCertificateMetadata": _metadata(rec), "CertificateBody": rec["body"], "Tags": list(rec["tags"])}
    if rec["chain"]:
        out["CertificateChain"] = rec["chain"]
    return {"ServerCertificate": out}


@operation("iam", "ListServerCertificates", read_only=True)
def list_server_certificates(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    prefix = params.get("PathPrefix")
    ctx.authorize("iam:ListServerCertificates", entity_arn(account_of(ctx), ARN_TYPE, prefix or "/", ""))
    state = account_state(ctx)
    certs = [c for c in (state.server_certificates.values() if state is not None else ()) if path_matches(c["path"], prefix)]
    page = paginate(certs, lambda c: name_key(c["name"]), params.get("Marker"), params.get("MaxItems"))
    return page.output("ServerCertificateMetadataList", _metadata)


@operation("iam", "UpdateServerCertificate")
def update_server_certificate(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """Rename and/or move; the caller must be allowed on the old and the new ARN
    (https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateServerCertificate.html)."""
    account = account_of(ctx)
    cert = _resolve(ctx, params["ServerCertificateName"])
    _authorize(ctx, "iam:UpdateServerCertificate", cert)
    rec0 = _require_resolved(cert)
    new_name = params.get("NewServerCertificateName") or rec0["name"]
    new_path = params.get("NewPath") or rec0["path"]
    new_arn = entity_arn(account, ARN_TYPE, new_path, new_name)
    if new_arn != cert.arn:
        ctx.authorize("iam:UpdateServerCertificate", new_arn, context=resource_tag_context(rec0["tags"]))
    with ctx.write(account) as tx:
        rec = _require(tx, account, cert)
        old_key = name_key(rec["name"])
        rec["name"], rec["path"], rec["arn"] = new_name, new_path, new_arn
        if name_key(new_name) != old_key:
            try:
                tx.insert(account, R.SERVER_CERTIFICATE, name_key(new_name), rec)
            except Conflict as e:
                raise _exists(new_name) from e
            tx.delete(account, R.SERVER_CERTIFICATE, old_key)
        else:
            tx.update(account, R.SERVER_CERTIFICATE, old_key, rec)
    return {}


@operation("iam", "DeleteServerCertificate")
def delete_server_certificate(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    cert = _resolve(ctx, params["ServerCertificateName"])
    _authorize(ctx, "iam:DeleteServerCertificate", cert)
    with ctx.write(account) as tx:
        rec = _require(tx, account, cert)
        tx.delete(account, R.SERVER_CERTIFICATE, name_key(rec["name"]))
    return {}


TAGGED = TaggedResource(
    R.SERVER_CERTIFICATE,
    "server certificate",
    "ServerCertificate",
    "ServerCertificateName",
    _resolve,
    _authorize,
    _require,
    _require_resolved,
)


@operation("iam", "TagServerCertificate")
def tag_server_certificate(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return tag_resource(ctx, params, TAGGED)


@operation("iam", "UntagServerCertificate")
def untag_server_certificate(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return untag_resource(ctx, params, TAGGED)


@operation("iam", "ListServerCertificateTags", read_only=True)
def list_server_certificate_tags(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return list_resource_tags(ctx, params, TAGGED)
