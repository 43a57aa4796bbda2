"""Member accounts: CreateAccount and its status, listing, describing, moving.

CreateAccount is asynchronous on AWS: it answers ``IN_PROGRESS`` and the client polls
DescribeCreateAccountStatus. Tessera does the work inside the CreateAccount request,
answers ``IN_PROGRESS`` all the same (what SDK code written against AWS expects), and
the first poll sees ``SUCCEEDED`` with the ``AccountId`` — or ``FAILED`` with a
``FailureReason`` for problems AWS also reports asynchronously, such as an e-mail
address another account already uses
(https://docs.aws.amazon.com/organizations/latest/APIReference/API_CreateAccount.html).
"""

from __future__ import annotations

from typing import Any

from tessera.services import records as R
from tessera.services.organizations import access, ids, provision, quotas, shapes
from tessera.services.organizations import records as store
from tessera.services.organizations.errors import concurrent_modification, constraint, fault
from tessera.services.organizations.model import Organization
from tessera.services.organizations.paging import page
from tessera.services.organizations.tags import checked_tags
from tessera.services.records import OrgAccountRecord, OrgCreateAccountStatusRecord
from tessera.services.request import OperationContext, operation
from tessera.store.base import GLOBAL


@operation("organizations", "CreateAccount")
def create_account(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    org = access.management_org(ctx, "organizations:CreateAccount")
    tags = checked_tags(params.get("Tags") or ())
    name, email = params["AccountName"], params["Email"]
    role_name = params.get("RoleName") or provision.DEFAULT_ROLE_NAME
    view = ctx.runtime.view
    request_id = ids.new_request_id()
    if provision.email_taken(view, email):
        return submitted(fail(ctx, org, request_id, name, "EMAIL_ALREADY_EXISTS"))
    account_id = provision.unused_account_id([a.account_id for a in view.accounts()])
    with ctx.write(GLOBAL, account_id) as tx:
        org = access.reload(tx, org.id)
        if len(org.accounts) >= quotas.ACCOUNTS:
            raise constraint("ACCOUNT_NUMBER_LIMIT_EXCEEDED")
        taken = tx.get(account_id, R.ACCOUNT, "account") is not None  # by a concurrent writer
        if taken or email.lower() in store.from_transaction(tx).emails():
            raise concurrent_modification()
        provision.create_member_account(tx, org, account_id, name=name, email=email, role_name=role_name, tags=tags, now=ctx.now)
        status = provision.record_status(tx, org.id, request_id, account_name=name, now=ctx.now, account_id=account_id)
    return submitted(status)


def fail(ctx: OperationContext, org: Organization, request_id: str, name: str, reason: str) -> OrgCreateAccountStatusRecord:
    with ctx.write(GLOBAL) as tx:
        status: OrgCreateAccountStatusRecord = provision.record_status(
            tx, org.id, request_id, account_name=name, now=ctx.now, failure_reason=reason
        )
    return status


def submitted(status: OrgCreateAccountStatusRecord) -> dict[str, Any]:
    return {"CreateAccountStatus": shapes.create_account_status(status, as_submitted=True)}


def statuses_of(ctx: OperationContext, org: Organization) -> list[OrgCreateAccountStatusRecord]:
    recs = [R.load(R.ORG_CREATE_ACCOUNT_STATUS, r) for r in ctx.runtime.view.global_records(R.ORG_CREATE_ACCOUNT_STATUS)]
    return sorted((r for r in recs if r["org"] == org.id), key=lambda r: (r["requested"], r["id"]))


@operation("organizations", "DescribeCreateAccountStatus", read_only=True)
def describe_create_account_status(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    org = access.management_org(ctx, "organizations:DescribeCreateAccountStatus")
    data = ctx.runtime.view.global_record(R.ORG_CREATE_ACCOUNT_STATUS, params["CreateAccountRequestId"])
    rec = R.load(R.ORG_CREATE_ACCOUNT_STATUS, data) if data is not None else None
    if rec is None or rec["org"] != org.id:
        raise fault("CreateAccountStatusNotFoundException")
    return {"CreateAccountStatus": shapes.create_account_status(rec)}


@operation("organizations", "ListCreateAccountStatus", read_only=True)
def list_create_account_status(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    org = access.management_org(ctx, "organizations:ListCreateAccountStatus")
    states = set(params.get("States") or ("IN_PROGRESS", "SUCCEEDED", "FAILED"))
    found = [shapes.create_account_status(r) for r in statuses_of(ctx, org) if r["state"] in states]
    return page("ListCreateAccountStatus", found, params, "CreateAccountStatuses")


@operation("organizations", "ListAccounts", read_only=True)
def list_accounts(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    org = access.management_org(ctx, "organizations:ListAccounts")
    accounts = [shapes.account(org, rec) for rec in org.accounts_in_order()]
    return page("ListAccounts", accounts, params, "Accounts")


@operation("organizations", "DescribeAccount", read_only=True)
def describe_account(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account_id = params["AccountId"]
    org = access.management_org(ctx, "organizations:DescribeAccount", account_id)
    rec = org.accounts.get(account_id)
    if rec is None:
        raise fault("AccountNotFoundException")
    return {"Account": shapes.account(org, rec)}


@operation("organizations", "ListAccountsForParent", read_only=True)
def list_accounts_for_parent(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    parent_id = params["ParentId"]
    org = access.management_org(ctx, "organizations:ListAccountsForParent", parent_id)
    if not org.is_parent(parent_id):
        raise fault("ParentNotFoundException")
    accounts = [shapes.account(org, rec) for rec in org.child_accounts(parent_id)]
    return page("ListAccountsForParent", accounts, params, "Accounts")


@operation("organizations", "MoveAccount")
def move_account(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account_id, source, destination = params["AccountId"], params["SourceParentId"], params["DestinationParentId"]
    org = access.management_org(ctx, "organizations:MoveAccount", account_id, source, destination)
    with ctx.write(GLOBAL) as tx:
        org = access.reload(tx, org.id)
        rec = org.accounts.get(account_id)
        if rec is None:
            raise fault("AccountNotFoundException")
        if not org.is_parent(source):
            raise fault("SourceParentNotFoundException")
        if not org.is_parent(destination):
            raise fault("DestinationParentNotFoundException")
        if rec["parent"] == destination:
            raise fault("DuplicateAccountException")
        if rec["parent"] != source:
            raise fault("AccountNotFoundException")
        moved: OrgAccountRecord = {**rec, "parent": destination}
        store.replace(tx, R.ORG_ACCOUNT, account_id, moved)
    return {}
