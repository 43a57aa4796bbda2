"""Account aliases: CreateAccountAlias, DeleteAccountAlias, ListAccountAliases.

An alias names an account in its console sign-in URL
(https://docs.aws.amazon.com/signin/latest/userguide/CreateAccountAlias.html); nothing
else in the API uses it. Aliases are kept in the ``global`` scope, keyed by the alias, so
one alias belongs to at most one account of this server (EntityAlreadyExists for the
others). An account has one alias at most: creating another replaces it, as in AWS.
The model's pattern and length (3 to 63 lower-case letters, digits and single dashes)
are checked at the edge.
"""

from __future__ import annotations

from typing import Any

from tessera.errors import EntityAlreadyExistsException, NoSuchEntityException
from tessera.services import records as R
from tessera.services.iam.entities import account_of, iso
from tessera.services.iam.paging import paginate
from tessera.services.request import OperationContext, operation
from tessera.store.base import GLOBAL


def account_alias(ctx: OperationContext, account: str) -> str | None:
    """The alias of ``account``, if it has one."""
    for data in ctx.runtime.view.global_records(R.ACCOUNT_ALIAS):
        rec = R.load(R.ACCOUNT_ALIAS, data)
        if rec["account"] == account:
            return rec["alias"]
    return None


@operation("iam", "CreateAccountAlias")
def create_account_alias(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, alias = account_of(ctx), params["AccountAlias"]
    ctx.authorize("iam:CreateAccountAlias", "*")
    with ctx.write(account, GLOBAL) as tx:
        held = tx.get(GLOBAL, R.ACCOUNT_ALIAS, alias)
        if held is not None:
            if R.load(R.ACCOUNT_ALIAS, held.data)["account"] == account:
                return {}
            raise EntityAlreadyExistsException(f"The account alias {alias} already exists.")
        for rec in tx.list(GLOBAL, R.ACCOUNT_ALIAS):
            if R.load(R.ACCOUNT_ALIAS, rec.data)["account"] == account:
                tx.delete(GLOBAL, R.ACCOUNT_ALIAS, rec.key)
        held_now: R.AccountAliasRecord = {"alias": alias, "account": account, "created": iso(ctx.now)}
        tx.insert(GLOBAL, R.ACCOUNT_ALIAS, alias, held_now)
    return {}


@operation("iam", "DeleteAccountAlias")
def delete_account_alias(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, alias = account_of(ctx), params["AccountAlias"]
    ctx.authorize("iam:DeleteAccountAlias", "*")
    with ctx.write(account, GLOBAL) as tx:
        held = tx.get(GLOBAL, R.ACCOUNT_ALIAS, alias)
        if held is None or R.load(R.ACCOUNT_ALIAS, held.data)["account"] != account:
            raise NoSuchEntityException(f"The account alias {alias} cannot be found.")
        tx.delete(GLOBAL, R.ACCOUNT_ALIAS, alias)
    return {}


@operation("iam", "ListAccountAliases", read_only=True)
def list_account_aliases(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:ListAccountAliases", "*")
    alias = account_alias(ctx, account_of(ctx))
    page = paginate([alias] if alias else [], lambda a: a, params.get("Marker"), params.get("MaxItems"))
    return page.output("AccountAliases")
