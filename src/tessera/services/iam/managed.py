"""Looking up managed policies by ARN: the account's own, or AWS's shipped ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tessera.errors import InvalidInputException, NoSuchEntityException
from tessera.services import records as R
from tessera.services.context import OperationContext
from tessera.services.iam.entities import parse_policy_arn
from tessera.store.base import Transaction


def is_aws_managed(arn: str) -> bool:
    return arn.startswith("arn:aws:iam::aws:policy/")


def customer_policy(tx: Transaction, account: str, arn: str) -> dict[str, Any] | None:
    """The account's managed policy with this ARN (inside a write transaction)."""
    owner, _, name = parse_policy_arn(arn)
    if owner != account:
        return None
    rec = tx.get(account, R.POLICY, name.lower())
    if rec is None or str(rec.data["arn"]).lower() != arn.lower():
        return None
    return dict(rec.data)


def view_policy(ctx: OperationContext, arn: str) -> Mapping[str, Any] | None:
    """A customer policy of the caller's account, or an AWS managed policy, from the view."""
    parse_policy_arn(arn)
    if is_aws_managed(arn):
        return ctx.runtime.view.managed.get(arn)
    state = ctx.runtime.view.account(ctx.caller.account)
    if state is None:
        return None
    rec = state.policies.get(arn)
    if rec is None:
        lowered = arn.lower()
        rec = next((p for p in state.policies.values() if str(p["arn"]).lower() == lowered), None)
    return rec


def require_attachable(ctx: OperationContext, tx: Transaction, arn: str) -> str:
    """The canonical ARN of an attachable policy; NoSuchEntity when there is none."""
    account = ctx.caller.account
    parse_policy_arn(arn)
    if is_aws_managed(arn):
        rec = ctx.runtime.view.managed.get(arn)
    else:
        rec = customer_policy(tx, account, arn)
    if rec is None:
        raise NoSuchEntityException(f"Policy {arn} does not exist or is not attachable.")
    return str(rec["arn"])


def not_found(arn: str) -> NoSuchEntityException:
    return NoSuchEntityException(f"Policy {arn} was not found.")


def refuse_aws_policy_change(arn: str, what: str) -> None:
    """AWS managed policies cannot be changed by an account."""
    if is_aws_managed(arn):
        raise InvalidInputException(f"Cannot {what} AWS managed policy {arn}.")
