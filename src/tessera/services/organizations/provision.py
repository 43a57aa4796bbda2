"""Creating an organization and its member accounts: the writes, shared by the API
handlers and the ``tessera accounts`` admin command so both leave identical state.

A created member account is a new store scope holding its ``account`` record and the
access role (``OrganizationAccountAccessRole`` by default) that trusts the management
account, written in the same transaction as its membership, so the management
account's principals can reach it by AssumeRole the moment CreateAccount returns
(https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_accounts_access.html).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tessera.arn import AWS_MANAGED_POLICY_PREFIX, iam_arn, root_arn
from tessera.audit.events import operator_event
from tessera.clock import iso_seconds
from tessera.services import records as R
from tessera.services.accounts import add_access_key, create_account, new_account_id
from tessera.services.ids import ROLE_PREFIX, new_unique_id
from tessera.services.organizations import ids
from tessera.services.organizations import records as store
from tessera.services.organizations.errors import invalid_input
from tessera.services.organizations.model import ALL_FEATURES, FULL_AWS_ACCESS_ID, SCP, Organization
from tessera.services.records import OrgAccountRecord, OrgCreateAccountStatusRecord, OrgRecord
from tessera.services.runtime import Runtime
from tessera.services.view import StateView
from tessera.store.base import GLOBAL, Transaction

DEFAULT_ROLE_NAME = "OrganizationAccountAccessRole"
ADMINISTRATOR_ACCESS = f"{AWS_MANAGED_POLICY_PREFIX}AdministratorAccess"


def create_organization(tx: Transaction, *, account_id: str, email: str, name: str, feature_set: str, now: dt.datetime) -> str:
    """Write a new organization managed by ``account_id`` (GLOBAL locked); its id.

    With all features, SCPs are enabled on the root and FullAWSAccess is attached to
    the root and the management account. Raises ``store.base.Conflict`` when the
    account already belongs to an organization."""
    org_id, root_id = ids.new_organization_id(), ids.new_root_id()
    when = iso_seconds(now)
    org: OrgRecord = {
        "id": org_id,
        "feature_set": feature_set,
        "management_account": account_id,
        "management_email": email,
        "root_id": root_id,
        "root_tags": [],
        "policy_types": [SCP] if feature_set == ALL_FEATURES else [],
        "created": when,
    }
    tx.insert(GLOBAL, R.ORG, org_id, org)
    join(tx, org_id, root_id, account_id, name=name, email=email, method="INVITED", tags=(), when=when)
    if feature_set == ALL_FEATURES:
        store.attach(tx, org_id, root_id, FULL_AWS_ACCESS_ID, when)
        store.attach(tx, org_id, account_id, FULL_AWS_ACCESS_ID, when)
    return org_id


def join(
    tx: Transaction,
    org_id: str,
    parent_id: str,
    account_id: str,
    *,
    name: str,
    email: str,
    method: str,
    tags: Iterable[Mapping[str, str]],
    when: str,
) -> None:
    """Record ``account_id``'s membership (Conflict when it already has one)."""
    member: OrgAccountRecord = {
        "id": account_id,
        "org": org_id,
        "name": name,
        "email": email,
        "state": "ACTIVE",
        "joined_method": method,
        "joined": when,
        "parent": parent_id,
        "tags": [dict(t) for t in tags],
    }
    tx.insert(GLOBAL, R.ORG_ACCOUNT, account_id, member)


def unused_account_id(taken: Iterable[str]) -> str:
    """A fresh 12-digit id that no known account uses (checked again under lock)."""
    used = set(taken)
    while True:
        candidate = new_account_id()
        if candidate not in used:
            return candidate


def create_member_account(
    tx: Transaction,
    org: Organization,
    account_id: str,
    *,
    name: str,
    email: str,
    role_name: str,
    tags: Sequence[Mapping[str, str]],
    now: dt.datetime,
) -> None:
    """Create the account scope, its access role, and its membership under the root.

    ``tx`` must lock GLOBAL and ``account_id`` (a scope nobody has written)."""
    when = iso_seconds(now)
    create_account(tx, account_id, name=name, email=email, now=now)
    tx.insert(account_id, R.ROLE, role_name.lower(), access_role(account_id, org.management_account, role_name, when))
    join(tx, org.id, org.root_id, account_id, name=name, email=email, method="CREATED", tags=tags, when=when)
    if org.scps_enabled:
        store.attach(tx, org.id, account_id, FULL_AWS_ACCESS_ID, when)


def trust_policy(management_account: str) -> str:
    """The access role's trust: the management account (not a principal in it)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": root_arn(management_account)}, "Action": "sts:AssumeRole"}],
        },
        separators=(",", ":"),
    )


def access_role(account_id: str, management_account: str, role_name: str, when: str) -> R.RoleRecord:
    """The IAM ``role`` record of the role CreateAccount puts in every new account."""
    return {
        "name": role_name,
        "id": new_unique_id(ROLE_PREFIX),
        "path": "/",
        "arn": iam_arn(account_id, "role", "/", role_name),
        "created": when,
        "trust_policy": trust_policy(management_account),
        "description": "",
        "max_session_duration": 3600,
        "boundary": None,
        "tags": [],
        "inline_policies": {},
        "attached": [ADMINISTRATOR_ACCESS],
    }


def record_status(
    tx: Transaction,
    org_id: str,
    request_id: str,
    *,
    account_name: str,
    now: dt.datetime,
    account_id: str | None = None,
    failure_reason: str | None = None,
) -> OrgCreateAccountStatusRecord:
    """A create-account request, already finished (Tessera creates accounts synchronously)."""
    data: OrgCreateAccountStatusRecord = {
        "id": request_id,
        "org": org_id,
        "account_name": account_name,
        "state": "FAILED" if failure_reason else "SUCCEEDED",
        "requested": iso_seconds(now),
        "completed": iso_seconds(now),
        "account_id": account_id,
        "failure_reason": failure_reason,
    }
    tx.insert(GLOBAL, R.ORG_CREATE_ACCOUNT_STATUS, request_id, data)
    return data


@dataclass(frozen=True)
class CreatedAccount:
    """What ``create_account_as_admin`` made (the secret only when a root key was asked for)."""

    account_id: str
    name: str
    email: str
    organization_id: str | None
    role_arn: str | None
    access_key_id: str | None = None
    secret_access_key: str | None = None


def create_account_as_admin(
    runtime: Runtime,
    *,
    name: str,
    email: str | None = None,
    role_name: str = DEFAULT_ROLE_NAME,
    standalone: bool = False,
    root_key: bool = False,
) -> CreatedAccount:
    """``tessera accounts create``: an account made by the operator, not by an API caller.

    By default the account joins the organization of the server's management account
    exactly as CreateAccount would make it (access role, FullAWSAccess, a SUCCEEDED
    create-account status), creating that organization first when there is none — what
    the management account would do with CreateOrganization then CreateAccount.
    ``standalone`` makes an account outside any organization instead (AWS's sign-up),
    which is reachable only through a root access key, so it always gets one."""
    view, management, now = runtime.view, runtime.settings.management_account, runtime.clock.now()
    account_id = unused_account_id([a.account_id for a in view.accounts()])
    email = email or f"{_slug(name)}-{account_id}@tessera.invalid"
    if email_taken(view, email):
        raise invalid_input("INVALID_EMAIL_ADDRESS_TARGET", f"The e-mail address '{email}' is already in use.")
    with runtime.store.write(GLOBAL, account_id) as tx:
        events = []
        if standalone:
            create_account(tx, account_id, name=name, email=email, now=now)
            org_id, role_arn = None, None
        else:
            org, made = _management_org(tx, runtime, management, now)
            if made:
                events.append(_operator_event("CreateOrganization", management, now, {"managementAccountId": management}))
            create_member_account(tx, org, account_id, name=name, email=email, role_name=role_name, tags=(), now=now)
            record_status(tx, org.id, ids.new_request_id(), account_name=name, now=now, account_id=account_id)
            org_id, role_arn = org.id, iam_arn(account_id, "role", "/", role_name)
        key_id, secret = _root_key(tx, runtime, account_id, now) if (root_key or standalone) else (None, None)
        # ids only: the name and e-mail address are sensitive (the API's CreateAccount event hides them)
        details: dict[str, Any] = {"accountId": account_id, "organizationId": org_id}
        if role_arn is not None:
            details["accessRoleArn"] = role_arn
        if key_id is not None:
            details["rootAccessKeyId"] = key_id  # the key's id only: its secret is shown once, to the operator
        # the operator's change, recorded with it: a member account in its management
        # account's trail (where AWS records CreateAccount), a standalone one in its own
        events.append(_operator_event("CreateAccount", account_id if standalone else management, now, details))
        tx.append_audit(events)
    runtime.view.refresh_committed([GLOBAL, account_id])
    return CreatedAccount(account_id, name, email, org_id, role_arn, key_id, secret)


def email_taken(view: StateView, email: str) -> bool:
    """Whether any account — in an organization or standalone — has ``email`` (AWS
    e-mail addresses are unique across all accounts)."""
    accounts = {a.info["email"].lower() for a in view.accounts() if a.info is not None}
    return email.lower() in accounts | store.from_view(view).emails()


def _operator_event(name: str, account: str, now: dt.datetime, details: Mapping[str, Any]) -> dict[str, Any]:
    return operator_event(service="organizations", name=name, account=account, command="tessera accounts create", when=now, details=details)


def _management_org(tx: Transaction, runtime: Runtime, management: str, now: dt.datetime) -> tuple[Organization, bool]:
    """The management account's organization, created (all features) if it has none, and
    whether it was."""
    org = store.from_transaction(tx).of_account(management)
    made = org is None
    if made:
        state = runtime.view.account(management)
        info = state.info if state is not None else None
        email, name = (info["email"] if info else ""), (info["name"] if info else "") or management
        create_organization(tx, account_id=management, email=email, name=name, feature_set=ALL_FEATURES, now=now)
        org = store.from_transaction(tx).of_account(management)
    if org is None or org.management_account != management:
        raise invalid_input("INVALID_PARTY_TYPE_TARGET", f"Account {management} is a member of another organization.")
    return org, made


def _root_key(tx: Transaction, runtime: Runtime, account_id: str, now: dt.datetime) -> tuple[str, str]:
    """A root access key for the new account."""
    record, secret = add_access_key(tx, runtime.secret_box, account_id, user="", now=now)
    return str(record["id"]), secret


def _slug(name: str) -> str:
    """An e-mail local part from an account name."""
    cleaned = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return cleaned[:30] or "account"
