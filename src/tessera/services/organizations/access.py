"""Who may call what: the caller's organization, and the management-account rule.

Every Organizations call is authorized like any other (action ``organizations:<Op>``,
the resources the Service Authorization Reference lists for it, SCPs included). Then
AWS's own rule applies: only the management account manages the organization; other
members may only describe it (``AccessDeniedException``), and an account in no
organization gets ``AWSOrganizationsNotInUseException``.

Reads use the in-memory view; writes re-read the organization inside their
transaction (``reload``), which locks the GLOBAL scope, so checks and changes see the
same state.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from tessera.services.organizations import records as store
from tessera.services.organizations.errors import member_denied, not_in_use
from tessera.services.organizations.model import Organization, Organizations
from tessera.services.request import OperationContext
from tessera.services.runtime import Runtime
from tessera.store.base import Transaction


@runtime_checkable
class OrganizationsSnapshot(Protocol):
    """A ``runtime.org`` that keeps a built snapshot (``org_view.OrgState`` does)."""

    def snapshot(self) -> Organizations: ...


def organizations(runtime: Runtime) -> Organizations:
    """The current snapshot (cached by ``runtime.org`` when it keeps one)."""
    org = runtime.org
    if isinstance(org, OrganizationsSnapshot):
        return org.snapshot()
    return store.from_view(runtime.view)


def caller_org(ctx: OperationContext) -> Organization | None:
    return organizations(ctx.runtime).of_account(ctx.caller.account)


def member_org(ctx: OperationContext, action: str) -> Organization:
    """The caller's organization, for calls any member account may make."""
    ctx.authorize(action, "*")
    org = caller_org(ctx)
    if org is None:
        raise not_in_use()
    return org


def management_org(ctx: OperationContext, action: str, *entity_ids: str) -> Organization:
    """The caller's organization, when the caller is its management account.

    ``entity_ids`` are the roots, OUs, accounts and policies the call names; the caller
    must be allowed ``action`` on each one's ARN (``*`` when it names none)."""
    org = caller_org(ctx)
    if org is None or org.management_account != ctx.caller.account:
        ctx.authorize(action, "*")
        raise not_in_use() if org is None else member_denied()
    for arn in [org.arn(entity_id) for entity_id in entity_ids] or ["*"]:
        ctx.authorize(action, arn)
    return org


def reload(tx: Transaction, org_id: str) -> Organization:
    """The organization as stored now (inside a transaction locking GLOBAL)."""
    org = store.from_transaction(tx).get(org_id)
    if org is None:
        raise not_in_use()
    return org
