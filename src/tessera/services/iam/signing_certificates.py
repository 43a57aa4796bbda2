"""X.509 signing certificates of IAM users and of the account's root user:
UploadSigningCertificate, ListSigningCertificates, UpdateSigningCertificate,
DeleteSigningCertificate (https://docs.aws.amazon.com/IAM/latest/APIReference/API_UploadSigningCertificate.html).

Without ``UserName`` the certificates are the caller's own: the calling user's, or the
root user's when root calls (root's are ``signing_certificate`` records whose ``user``
is ``""``, as its access keys are). A body must hold exactly one PEM certificate that
``cryptography`` reads (else MalformedCertificate, as for an expired certificate); one
not valid yet is InvalidCertificate; the same certificate (by its DER) may belong to
one owner of the account only (DuplicateCertificate). At most
``quotas.SIGNING_CERTIFICATES_PER_USER`` per owner, active or not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding

from tessera.arn import root_arn
from tessera.errors import (
    DuplicateCertificateException,
    InvalidCertificateException,
    MalformedCertificateException,
    NoSuchEntityException,
    ValidationError,
)
from tessera.services import records as R
from tessera.services.iam import quotas
from tessera.services.iam.access_keys import ROOT, key_owner
from tessera.services.iam.entities import (
    USER,
    Target,
    account_of,
    authorize_target,
    ensure_quota,
    iso,
    parse_time,
    require_resolved,
    require_target,
    resolve,
    view_records,
)
from tessera.services.iam.paging import creation_key, next_sequence, paginate
from tessera.services.ids import new_certificate_id
from tessera.services.request import OperationContext, operation
from tessera.services.view import name_key
from tessera.store.base import Transaction

PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
STATUSES = ("Active", "Inactive")


def parse_certificate(body: str, now: dt.datetime) -> x509.Certificate:
    """The one certificate ``body`` holds, checked as IAM checks it."""
    if body.count(PEM_BEGIN) != 1:
        raise MalformedCertificateException("Unable to parse certificate. Please ensure the certificate is in PEM format.")
    try:
        cert = x509.load_pem_x509_certificate(body.encode("latin-1"))
        cert.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise MalformedCertificateException("Unable to parse certificate. Please ensure the certificate is in PEM format.") from e
    if cert.not_valid_after_utc < now:
        raise MalformedCertificateException("Certificate has expired")
    if cert.not_valid_before_utc > now:
        raise InvalidCertificateException("Certificate is not yet valid")
    return cert


def certificate_shape(rec: R.SigningCertificateRecord, ctx: OperationContext) -> dict[str, Any]:
    """``SigningCertificate``. The model requires ``UserName``; root's certificates have
    no user name, so they carry the account id there (Tessera's choice, documented)."""
    return {
        "UserName": rec["user"] or account_of(ctx),
        "CertificateId": rec["id"],
        "CertificateBody": rec["body"],
        "Status": rec["status"],
        "UploadDate": parse_time(rec["uploaded"]),
    }


def _authorize(ctx: OperationContext, action: str, owner: str) -> Target[R.UserRecord] | None:
    """Authorize ``action`` on the owner: root's ARN, or the resolved user (returned, so
    the write checks it still changes that user)."""
    if owner == ROOT:
        ctx.authorize(action, root_arn(account_of(ctx)))
        return None
    target = resolve(ctx, USER, owner)
    authorize_target(ctx, action, target)
    return target


def _require_owner(tx: Transaction, account: str, target: Target[R.UserRecord] | None) -> str:
    return ROOT if target is None else require_target(tx, account, target)["name"]


def _owned(rec: R.SigningCertificateRecord, owner: str) -> bool:
    return name_key(rec["user"]) == name_key(owner)


def _require_certificate(tx: Transaction, account: str, owner: str, cert_id: str) -> R.SigningCertificateRecord:
    rec = tx.get(account, R.SIGNING_CERTIFICATE, cert_id)
    cert = R.load(R.SIGNING_CERTIFICATE, dict(rec.data)) if rec is not None else None
    if cert is None or not _owned(cert, owner):
        raise NoSuchEntityException(f"The Certificate with id {cert_id} cannot be found.")
    return cert


@operation("iam", "UploadSigningCertificate")
def upload_signing_certificate(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, body = account_of(ctx), params["CertificateBody"]
    target = _authorize(ctx, "iam:UploadSigningCertificate", key_owner(ctx, params))
    cert = parse_certificate(body, ctx.now)
    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    with ctx.write(account) as tx:
        owner = _require_owner(tx, account, target)
        existing = [R.load(R.SIGNING_CERTIFICATE, r.data) for r in tx.list(account, R.SIGNING_CERTIFICATE)]
        if any(r["sha256"] == digest for r in existing):
            raise DuplicateCertificateException("The certificate is already associated with an entity in the account.")
        owned = sum(1 for r in existing if _owned(r, owner))
        ensure_quota(owned, quotas.SIGNING_CERTIFICATES_PER_USER, "SigningCertificatesPerUser")
        rec: R.SigningCertificateRecord = {
            "id": new_certificate_id(),
            "user": owner,
            "body": body,
            "status": "Active",
            "uploaded": iso(ctx.now),
            "seq": next_sequence(r for r in existing if _owned(r, owner)),
            "sha256": digest,
        }
        tx.insert(account, R.SIGNING_CERTIFICATE, rec["id"], rec)
    return {"Certificate": certificate_shape(rec, ctx)}


@operation("iam", "ListSigningCertificates", read_only=True)
def list_signing_certificates(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    target = _authorize(ctx, "iam:ListSigningCertificates", key_owner(ctx, params))
    owner = ROOT if target is None else require_resolved(target)["name"]
    certs = [c for c in view_records(ctx, R.SIGNING_CERTIFICATE) if _owned(c, owner)]
    page = paginate(certs, lambda c: creation_key(c, "uploaded"), params.get("Marker"), params.get("MaxItems"))
    return page.output("Certificates", lambda c: certificate_shape(c, ctx))


@operation("iam", "UpdateSigningCertificate")
def update_signing_certificate(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, status = account_of(ctx), params["Status"]
    target = _authorize(ctx, "iam:UpdateSigningCertificate", key_owner(ctx, params))
    if status not in STATUSES:
        raise ValidationError(
            f"1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: "
            "Member must satisfy enum value set: [Active, Inactive]"
        )
    with ctx.write(account) as tx:
        owner = _require_owner(tx, account, target)
        rec = _require_certificate(tx, account, owner, params["CertificateId"])
        rec["status"] = status
        tx.update(account, R.SIGNING_CERTIFICATE, rec["id"], rec)
    return {}


@operation("iam", "DeleteSigningCertificate")
def delete_signing_certificate(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    target = _authorize(ctx, "iam:DeleteSigningCertificate", key_owner(ctx, params))
    with ctx.write(account) as tx:
        owner = _require_owner(tx, account, target)
        rec = _require_certificate(tx, account, owner, params["CertificateId"])
        tx.delete(account, R.SIGNING_CERTIFICATE, rec["id"])
    return {}
