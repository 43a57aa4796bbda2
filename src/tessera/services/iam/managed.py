"""Looking up managed policies by ARN: the account's own, or AWS's shipped ones.

A request names a policy by ARN; ``resolve_policy`` turns that text into a ``PolicyRef``
once, before authorization. Its ``arn`` is the policy's ARN *as stored* when the policy
exists (IAM finds customer policies whatever the ASCII case of their name), so every
authorization and every condition key (``iam:PolicyARN``, ``iam:PermissionsBoundary``)
sees the canonical ARN and never a spelling the client chose: a Deny on
``arn:aws:iam::111122223333:policy/Boundary`` also covers a request that writes
``policy/BOUNDARY``. Text that is not a policy ARN as AWS reads one (other partition or
case of ``aws``, another service, a region, an account that is not 12 digits, ``Policy/``
…) is refused before anything is looked up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tessera.arn import is_aws_managed_policy
from tessera.errors import ConcurrentModificationException, InvalidInputException, NoSuchEntityException
from tessera.services import records as R
from tessera.services.iam.entities import parse_policy_arn
from tessera.services.request import OperationContext
from tessera.services.view import name_key
from tessera.store.base import Transaction

CHANGED_MEANWHILE = "The policy changed while the request was processed. Please retry."


@dataclass(frozen=True, slots=True)
class PolicyRef:
    """A managed policy a request names. ``arn`` is what may be authorized against:
    the stored ARN when the policy exists, else the (strictly valid) ARN as sent."""

    arn: str
    record: Mapping[str, Any] | None

    @property
    def exists(self) -> bool:
        return self.record is not None

    @property
    def aws_managed(self) -> bool:
        return is_aws_managed_policy(self.arn)


def resolve_policy(ctx: OperationContext, text: str, member: str = "policyArn") -> PolicyRef:
    """The policy ``text`` names, from the view (InvalidInput/ValidationError for an ARN
    AWS would refuse). Call it before ``ctx.authorize`` and authorize ``ref.arn``."""
    rec = view_policy(ctx, text, member)
    return PolicyRef(str(rec["arn"]), rec) if rec is not None else PolicyRef(text, None)


def customer_policy(tx: Transaction, account: str, arn: str) -> R.PolicyRecord | None:
    """The account's managed policy with this ARN (inside a write transaction)."""
    owner, _, name = parse_policy_arn(arn)
    if owner != account:
        return None
    stored = tx.get(account, R.POLICY, name_key(name))
    rec = R.load(R.POLICY, dict(stored.data)) if stored is not None else None
    if rec is None or name_key(rec["arn"]) != name_key(arn):
        return None
    return rec


def require_customer_policy(tx: Transaction, account: str, ref: PolicyRef) -> R.PolicyRecord:
    """The record of the customer policy ``ref`` resolved to, read inside ``tx``.

    NoSuchEntity when it did not exist; ConcurrentModification when the policy found now
    is not the one authorized (deleted and recreated under another spelling meanwhile)."""
    if ref.record is None:
        raise not_found(ref.arn)
    rec = customer_policy(tx, account, ref.arn)
    if rec is None:
        raise not_found(ref.arn)
    if rec["arn"] != ref.arn or rec["id"] != ref.record["id"]:
        raise ConcurrentModificationException(CHANGED_MEANWHILE)
    return rec


def view_policy(ctx: OperationContext, arn: str, member: str = "policyArn") -> Mapping[str, Any] | None:
    """A customer policy of the caller's account, or an AWS managed policy, from the view."""
    owner, _, name = parse_policy_arn(arn, member)
    if is_aws_managed_policy(arn):
        return ctx.runtime.view.managed.get(arn)
    state = ctx.runtime.view.account(ctx.caller.account)
    if state is None or owner != ctx.caller.account:
        return None
    rec = state.policies.get(arn)
    if rec is None:  # another spelling: policy names are unique regardless of ASCII case
        rec = state.policies_by_name.get(name_key(name))
        if rec is not None and name_key(str(rec["arn"])) != name_key(arn):
            return None  # the name exists, but at another path
    return rec


def require_attachable(ctx: OperationContext, tx: Transaction, ref: PolicyRef) -> str:
    """The canonical ARN of the attachable policy ``ref`` resolved to, checked again inside
    ``tx``; NoSuchEntity when there is none (or it is no longer the one authorized)."""
    if ref.record is None:
        raise NoSuchEntityException(f"Policy {ref.arn} does not exist or is not attachable.")
    if ref.aws_managed:
        rec = ctx.runtime.view.managed.get(ref.arn)
    else:
        rec = customer_policy(tx, ctx.caller.account, ref.arn)
        if rec is not None and (rec["arn"] != ref.arn or rec["id"] != ref.record["id"]):
            raise ConcurrentModificationException(CHANGED_MEANWHILE)
    if rec is None:
        raise NoSuchEntityException(f"Policy {ref.arn} does not exist or is not attachable.")
    return str(rec["arn"])


def not_found(arn: str) -> NoSuchEntityException:
    return NoSuchEntityException(f"Policy {arn} was not found.")


def refuse_aws_policy_change(arn: str, what: str) -> None:
    """AWS managed policies cannot be changed by an account."""
    if is_aws_managed_policy(arn):
        raise InvalidInputException(f"Cannot {what} AWS managed policy {arn}.")
