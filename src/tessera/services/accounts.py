"""Accounts: the records that make a scope an AWS account."""

from __future__ import annotations

import datetime as dt
import secrets

from tessera.services import records as R
from tessera.store.base import Transaction


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_account_id() -> str:
    """A random 12-digit account id that does not start with 0 (AWS ids may, but
    avoiding it keeps ids readable in spreadsheets and shells)."""
    return str(secrets.randbelow(9 * 10**11) + 10**11)


def create_account(
    tx: Transaction, account_id: str, *, name: str, email: str, now: dt.datetime, management: bool = False
) -> dict[str, object]:
    """Write the ``account`` record of a new account (the scope must be locked)."""
    data: dict[str, object] = {
        "id": account_id,
        "name": name,
        "email": email,
        "created": iso(now),
        "status": "ACTIVE",
        "management": management,
    }
    tx.insert(account_id, R.ACCOUNT, "account", data)
    return data
