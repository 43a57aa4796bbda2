"""Service-specific credentials of IAM users: CreateServiceSpecificCredential,
ListServiceSpecificCredentials, UpdateServiceSpecificCredential,
ResetServiceSpecificCredential, DeleteServiceSpecificCredential
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateServiceSpecificCredential.html).

The services AWS issues them for are CodeCommit and Amazon Keyspaces (a user name and
password: ``ServiceUserName`` ``<user>-at-<account>`` and ``ServicePassword``) and
Amazon Bedrock and CloudWatch Logs (long-term API keys: ``ServiceCredentialAlias`` and
``ServiceCredentialSecret``, optionally expiring after ``CredentialAgeDays``); any other
service name is NotSupportedService. Two credentials per user per service.

The password (or API-key secret) is returned by Create and Reset only, and stored
sealed by the SecretBox under ``service-credential:<id>``
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_service-specific-creds.html).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from tessera.auth.randomness import random_bytes
from tessera.errors import InvalidInputException, NoSuchEntityException, ServiceNotSupportedException, ValidationError
from tessera.services import records as R
from tessera.services.iam import quotas
from tessera.services.iam.entities import (
    USER,
    Target,
    account_of,
    authorize_target,
    caller_user_name,
    ensure_quota,
    entity_arn,
    iso,
    parse_time,
    require_resolved,
    require_target,
    resolve,
    view_records,
)
from tessera.services.iam.paging import creation_key, next_sequence, paginate
from tessera.services.ids import SERVICE_CREDENTIAL_PREFIX, new_unique_id
from tessera.services.request import OperationContext, operation
from tessera.services.view import name_key
from tessera.store.base import Transaction

#: Services with a user name and password.
PASSWORD_SERVICES = frozenset({"codecommit.amazonaws.com", "cassandra.amazonaws.com"})
#: Services with long-term API keys (alias and secret, optional expiry).
API_KEY_SERVICES = frozenset({"bedrock.amazonaws.com", "logs.amazonaws.com"})
SERVICES = PASSWORD_SERVICES | API_KEY_SERVICES
STATUSES = ("Active", "Inactive")
PASSWORD_BYTES = 33  # 44 characters of base64, as CodeCommit's Git passwords


def require_supported(service: str) -> None:
    if service not in SERVICES:
        raise ServiceNotSupportedException(f"The specified service {service} is not supported.")


def new_password() -> str:
    return base64.b64encode(random_bytes(PASSWORD_BYTES)).decode("ascii")


def new_api_key_secret(alias: str) -> str:
    """An API key a client sends as a bearer token: ``ABSK`` + base64(alias:random)."""
    raw = f"{alias}:{base64.b64encode(random_bytes(PASSWORD_BYTES)).decode('ascii')}"
    return "ABSK" + base64.b64encode(raw.encode("ascii")).decode("ascii")


def _context(cred_id: str) -> str:
    return f"service-credential:{cred_id}"


def _status(rec: R.ServiceCredentialRecord, now: dt.datetime) -> str:
    """``Expired`` once an API key's expiry has passed, whatever it was set to."""
    expires = rec["expires"]
    if expires and parse_time(expires) <= now:
        return "Expired"
    return rec["status"]


def _metadata(rec: R.ServiceCredentialRecord, now: dt.datetime) -> dict[str, Any]:
    out: dict[str, Any] = {
        "UserName": rec["user"],
        "Status": _status(rec, now),
        "CreateDate": parse_time(rec["created"]),
        "ServiceSpecificCredentialId": rec["id"],
        "ServiceName": rec["service"],
    }
    if rec["service_user_name"]:
        out["ServiceUserName"] = rec["service_user_name"]
    if rec["alias"]:
        out["ServiceCredentialAlias"] = rec["alias"]
    if rec["expires"]:
        out["ExpirationDate"] = parse_time(rec["expires"])
    return out


def _with_secret(rec: R.ServiceCredentialRecord, secret: str, now: dt.datetime) -> dict[str, Any]:
    member = "ServiceCredentialSecret" if rec["alias"] else "ServicePassword"
    return {**_metadata(rec, now), member: secret}


def _authorize(ctx: OperationContext, action: str, name: str) -> Target[R.UserRecord]:
    target = resolve(ctx, USER, name)
    authorize_target(ctx, action, target)
    return target


def _owned(rec: R.ServiceCredentialRecord, owner: str) -> bool:
    return name_key(rec["user"]) == name_key(owner)


def _require_credential(tx: Transaction, account: str, owner: str, cred_id: str) -> R.ServiceCredentialRecord:
    rec = tx.get(account, R.SERVICE_CREDENTIAL, cred_id)
    cred = R.load(R.SERVICE_CREDENTIAL, dict(rec.data)) if rec is not None else None
    if cred is None or not _owned(cred, owner):
        raise NoSuchEntityException(f"No such credential {cred_id} exists for user {owner}.")
    return cred


def _seal(ctx: OperationContext, cred_id: str, alias: str | None) -> tuple[str, str]:
    """A fresh secret for the credential ``cred_id``: (the clear secret, it sealed)."""
    secret = new_api_key_secret(alias) if alias else new_password()
    return secret, ctx.runtime.secret_box.seal(secret, context=_context(cred_id))


@operation("iam", "CreateServiceSpecificCredential")
def create_service_specific_credential(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, service = account_of(ctx), params["ServiceName"]
    days = params.get("CredentialAgeDays")
    target = _authorize(ctx, "iam:CreateServiceSpecificCredential", params["UserName"])
    require_supported(service)
    if days is not None and service not in API_KEY_SERVICES:
        raise InvalidInputException(f"CredentialAgeDays is not supported for service {service}.")
    with ctx.write(account) as tx:
        owner = require_target(tx, account, target)["name"]
        creds = [R.load(R.SERVICE_CREDENTIAL, r.data) for r in tx.list(account, R.SERVICE_CREDENTIAL)]
        same = [c for c in creds if _owned(c, owner) and c["service"] == service]
        ensure_quota(len(same), quotas.SERVICE_CREDENTIALS_PER_USER_PER_SERVICE, "ServiceSpecificCredentialsPerUserPerService")
        cred_id = new_unique_id(SERVICE_CREDENTIAL_PREFIX)
        api_key = service in API_KEY_SERVICES
        alias = f"{owner}-at-{account}-{cred_id[-8:].lower()}" if api_key else None
        secret, sealed = _seal(ctx, cred_id, alias)
        rec: R.ServiceCredentialRecord = {
            "id": cred_id,
            "user": owner,
            "service": service,
            "service_user_name": None if api_key else f"{owner}-at-{account}",
            "alias": alias,
            "password_sealed": sealed,
            "status": "Active",
            "created": iso(ctx.now),
            "seq": next_sequence(c for c in creds if _owned(c, owner)),
            "expires": iso(ctx.now + dt.timedelta(days=int(days))) if days is not None else None,
        }
        tx.insert(account, R.SERVICE_CREDENTIAL, cred_id, rec)
    return {"ServiceSpecificCredential": _with_secret(rec, secret, ctx.now)}


@operation("iam", "ListServiceSpecificCredentials", read_only=True)
def list_service_specific_credentials(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """One user's credentials (``UserName``, else the calling user), or with ``AllUsers``
    every user's, authorized on ``user/*`` of the account."""
    service = params.get("ServiceName")
    if params.get("AllUsers"):
        if params.get("UserName"):
            raise InvalidInputException("AllUsers cannot be specified together with UserName.")
        ctx.authorize("iam:ListServiceSpecificCredentials", entity_arn(account_of(ctx), R.USER, "/", "*"))
        creds = list(view_records(ctx, R.SERVICE_CREDENTIAL))
    else:
        target = _authorize(ctx, "iam:ListServiceSpecificCredentials", caller_user_name(ctx, params))
        owner = require_resolved(target)["name"]
        creds = [c for c in view_records(ctx, R.SERVICE_CREDENTIAL) if _owned(c, owner)]
    if service:
        require_supported(service)
        creds = [c for c in creds if c["service"] == service]
    page = paginate(creds, lambda c: f"{name_key(c['user'])}|{creation_key(c, 'created')}", params.get("Marker"), params.get("MaxItems"))
    return page.output("ServiceSpecificCredentials", lambda c: _metadata(c, ctx.now))


@operation("iam", "UpdateServiceSpecificCredential")
def update_service_specific_credential(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, status = account_of(ctx), params["Status"]
    target = _authorize(ctx, "iam:UpdateServiceSpecificCredential", caller_user_name(ctx, params))
    if status not in STATUSES:
        raise ValidationError(
            f"1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: "
            "Member must satisfy enum value set: [Active, Inactive]"
        )
    with ctx.write(account) as tx:
        owner = require_target(tx, account, target)["name"]
        rec = _require_credential(tx, account, owner, params["ServiceSpecificCredentialId"])
        rec["status"] = status
        tx.update(account, R.SERVICE_CREDENTIAL, rec["id"], rec)
    return {}


@operation("iam", "ResetServiceSpecificCredential")
def reset_service_specific_credential(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    target = _authorize(ctx, "iam:ResetServiceSpecificCredential", caller_user_name(ctx, params))
    with ctx.write(account) as tx:
        owner = require_target(tx, account, target)["name"]
        rec = _require_credential(tx, account, owner, params["ServiceSpecificCredentialId"])
        secret, rec["password_sealed"] = _seal(ctx, rec["id"], rec["alias"])
        tx.update(account, R.SERVICE_CREDENTIAL, rec["id"], rec)
    return {"ServiceSpecificCredential": _with_secret(rec, secret, ctx.now)}


@operation("iam", "DeleteServiceSpecificCredential")
def delete_service_specific_credential(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    target = _authorize(ctx, "iam:DeleteServiceSpecificCredential", caller_user_name(ctx, params))
    with ctx.write(account) as tx:
        owner = require_target(tx, account, target)["name"]
        rec = _require_credential(tx, account, owner, params["ServiceSpecificCredentialId"])
        tx.delete(account, R.SERVICE_CREDENTIAL, rec["id"])
    return {}
