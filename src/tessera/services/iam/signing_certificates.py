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

from tessera.errors import (
    DuplicateCertificateException,
    InvalidCertificateException,
    MalformedCertificateException,
    NoSuchEntityException,
)
from tessera.services import records as R
from tessera.services.iam import quotas
from tessera.services.iam.entities import (
    account_of,
    ensure_quota,
    iso,
    parse_time,
)
from tessera.services.iam.paging import creation_key, next_sequence, paginate
from tessera.services.iam.user_credentials import (
    authorize_owner,
    delete_owned,
    owner_or_root,
    require_owner,
    update_status,
    view_owned,
)
from tessera.services.ids import new_certificate_id
from tessera.services.request import OperationContext, operation

PEM_BEGIN = "-----BEGIN CERTIFICATE-----"


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


def _not_found(cert_id: str, owner: str = "") -> NoSuchEntityException:
    return NoSuchEntityException(f"The Certificate with id {cert_id} cannot be found.")


@operation("iam", "UploadSigningCertificate")
def upload_signing_certificate(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, body = account_of(ctx), params["CertificateBody"]
    target = authorize_owner(ctx, "iam:UploadSigningCertificate", owner_or_root(ctx, params), root=True)
    cert = parse_certificate(body, ctx.now)
    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    with ctx.write(account) as tx:
        owner = require_owner(tx, account, target)
        if tx.count_by(account, R.SIGNING_CERTIFICATE, "sha256", digest):
            raise DuplicateCertificateException("The certificate is already associated with an entity in the account.")
        owned = [R.load(R.SIGNING_CERTIFICATE, r.data) for r in tx.list_by(account, R.SIGNING_CERTIFICATE, "user", owner)]
        ensure_quota(len(owned), quotas.SIGNING_CERTIFICATES_PER_USER, "SigningCertificatesPerUser")
        rec: R.SigningCertificateRecord = {
            "id": new_certificate_id(),
            "user": owner,
            "body": body,
            "status": "Active",
            "uploaded": iso(ctx.now),
            "seq": next_sequence(owned),
            "sha256": digest,
        }
        tx.insert(account, R.SIGNING_CERTIFICATE, rec["id"], rec)
    return {"Certificate": certificate_shape(rec, ctx)}


@operation("iam", "ListSigningCertificates", read_only=True)
def list_signing_certificates(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    target = authorize_owner(ctx, "iam:ListSigningCertificates", owner_or_root(ctx, params), root=True)
    certs = view_owned(ctx, R.SIGNING_CERTIFICATE, target)
    page = paginate(certs, lambda c: creation_key(c, "uploaded"), params.get("Marker"), params.get("MaxItems"))
    return page.output("Certificates", lambda c: certificate_shape(c, ctx))


@operation("iam", "UpdateSigningCertificate")
def update_signing_certificate(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    owner, cert_id = owner_or_root(ctx, params), params["CertificateId"]
    return update_status(
        ctx, "iam:UpdateSigningCertificate", owner, R.SIGNING_CERTIFICATE, cert_id, params["Status"], _not_found, root=True
    )


@operation("iam", "DeleteSigningCertificate")
def delete_signing_certificate(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    owner, cert_id = owner_or_root(ctx, params), params["CertificateId"]
    return delete_owned(ctx, "iam:DeleteSigningCertificate", owner, R.SIGNING_CERTIFICATE, cert_id, _not_found, root=True)
