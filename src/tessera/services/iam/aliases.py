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
from tessera.services.context import OperationContext, operation
from tessera.services.iam.entities import account_of, iso
from tessera.services.iam.paging import paginate
from tessera.store.base import GLOBAL


def account_alias(ctx: OperationContext, account: str) -> str | None:
    """The alias of ``account``, if it has one."""
    for rec in ctx.runtime.view.global_records(R.ACCOUNT_ALIAS):
        if rec.get("account") == account:
            return str(rec["alias"])
    return None


@operation("iam", "CreateAccountAlias")
def create_account_alias(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, alias = account_of(ctx), params["AccountAlias"]
    ctx.authorize("iam:CreateAccountAlias", "*")
    with ctx.write(account, GLOBAL) as tx:
        held = tx.get(GLOBAL, R.ACCOUNT_ALIAS, alias)
        if held is not None:
            if held.data.get("account") == account:
                return {}
            raise EntityAlreadyExistsException(f"The account alias {alias} already exists.")
        for rec in tx.list(GLOBAL, R.ACCOUNT_ALIAS):
            if rec.data.get("account") == account:
                tx.delete(GLOBAL, R.ACCOUNT_ALIAS, rec.key)
        tx.insert(GLOBAL, R.ACCOUNT_ALIAS, alias, {"alias": alias, "account": account, "created": iso(ctx.now)})
    return {}


@operation("iam", "DeleteAccountAlias")
def delete_account_alias(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, alias = account_of(ctx), params["AccountAlias"]
    ctx.authorize("iam:DeleteAccountAlias", "*")
    with ctx.write(account, GLOBAL) as tx:
        held = tx.get(GLOBAL, R.ACCOUNT_ALIAS, alias)
        if held is None or held.data.get("account") != account:
            raise NoSuchEntityException(f"The account alias {alias} cannot be found.")
        tx.delete(GLOBAL, R.ACCOUNT_ALIAS, alias)
    return {}


@operation("iam", "ListAccountAliases", read_only=True)
def list_account_aliases(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:ListAccountAliases", "*")
    alias = account_alias(ctx, account_of(ctx))
    page = paginate([alias] if alias else [], lambda a: a, params.get("Marker"), params.get("MaxItems"))
    return page.output("AccountAliases")
