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
from tessera.errors import InvalidInputException, NoSuchEntityException, ServiceNotSupportedException
from tessera.services import records as R
from tessera.services.iam import quotas
from tessera.services.iam.entities import (
    account_of,
    caller_user_name,
    ensure_quota,
    entity_arn,
    iso,
    parse_time,
    view_records,
)
from tessera.services.iam.paging import creation_key, next_sequence, paginate
from tessera.services.iam.user_credentials import (
    authorize_owner,
    delete_owned,
    require_owned,
    require_owner,
    update_status,
    view_owned,
)
from tessera.services.ids import SERVICE_CREDENTIAL_PREFIX, new_unique_id
from tessera.services.request import OperationContext, operation
from tessera.services.view import name_key

#: Services with a user name and password.
PASSWORD_SERVICES = frozenset({"codecommit.amazonaws.com", "cassandra.amazonaws.com"})
#: Services with long-term API keys (alias and secret, optional expiry).
API_KEY_SERVICES = frozenset({"bedrock.amazonaws.com", "logs.amazonaws.com"})
SERVICES = PASSWORD_SERVICES | API_KEY_SERVICES
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


def _not_found(cred_id: str, owner: str) -> NoSuchEntityException:
    return NoSuchEntityException(f"No such credential {cred_id} exists for user {owner}.")


def _seal(ctx: OperationContext, cred_id: str, alias: str | None) -> tuple[str, str]:
    """A fresh secret for the credential ``cred_id``: (the clear secret, it sealed)."""
    secret = new_api_key_secret(alias) if alias else new_password()
    return secret, ctx.runtime.secret_box.seal(secret, context=_context(cred_id))


@operation("iam", "CreateServiceSpecificCredential")
def create_service_specific_credential(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, service = account_of(ctx), params["ServiceName"]
    days = params.get("CredentialAgeDays")
    target = authorize_owner(ctx, "iam:CreateServiceSpecificCredential", params["UserName"])
    require_supported(service)
    if days is not None and service not in API_KEY_SERVICES:
        raise InvalidInputException(f"CredentialAgeDays is not supported for service {service}.")
    with ctx.write(account) as tx:
        owner = require_owner(tx, account, target)
        creds = [R.load(R.SERVICE_CREDENTIAL, r.data) for r in tx.list_by(account, R.SERVICE_CREDENTIAL, "user", owner)]
        same = [c for c in creds if c["service"] == service]
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
            "seq": next_sequence(creds),
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
        target = authorize_owner(ctx, "iam:ListServiceSpecificCredentials", caller_user_name(ctx, params))
        creds = view_owned(ctx, R.SERVICE_CREDENTIAL, target)
    if service:
        require_supported(service)
        creds = [c for c in creds if c["service"] == service]
    page = paginate(creds, lambda c: f"{name_key(c['user'])}|{creation_key(c, 'created')}", params.get("Marker"), params.get("MaxItems"))
    return page.output("ServiceSpecificCredentials", lambda c: _metadata(c, ctx.now))


@operation("iam", "UpdateServiceSpecificCredential")
def update_service_specific_credential(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    owner, cred_id = caller_user_name(ctx, params), params["ServiceSpecificCredentialId"]
    return update_status(ctx, "iam:UpdateServiceSpecificCredential", owner, R.SERVICE_CREDENTIAL, cred_id, params["Status"], _not_found)


@operation("iam", "ResetServiceSpecificCredential")
def reset_service_specific_credential(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    target = authorize_owner(ctx, "iam:ResetServiceSpecificCredential", caller_user_name(ctx, params))
    with ctx.write(account) as tx:
        owner = require_owner(tx, account, target)
        rec: R.ServiceCredentialRecord = require_owned(
            tx, account, R.SERVICE_CREDENTIAL, owner, params["ServiceSpecificCredentialId"], _not_found
        )
        secret, rec["password_sealed"] = _seal(ctx, rec["id"], rec["alias"])
        tx.update(account, R.SERVICE_CREDENTIAL, rec["id"], rec)
    return {"ServiceSpecificCredential": _with_secret(rec, secret, ctx.now)}


@operation("iam", "DeleteServiceSpecificCredential")
def delete_service_specific_credential(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    owner, cred_id = caller_user_name(ctx, params), params["ServiceSpecificCredentialId"]
    return delete_owned(ctx, "iam:DeleteServiceSpecificCredential", owner, R.SERVICE_CREDENTIAL, cred_id, _not_found)
