"""Accounts: the records that make a scope an AWS account."""

from __future__ import annotations

import datetime as dt
import secrets

from tessera.auth.tokens import new_access_key_id, new_secret_access_key
from tessera.clock import iso_seconds
from tessera.secrets import SecretBox
from tessera.services import records as R
from tessera.store.base import Transaction


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
        "created": iso_seconds(now),
        "status": "ACTIVE",
        "management": management,
    }
    tx.insert(account_id, R.ACCOUNT, "account", data)
    return data


def add_access_key(
    tx: Transaction,
    secret_box: SecretBox,
    account_id: str,
    *,
    user: str,
    now: dt.datetime,
    key_id: str | None = None,
    secret: str | None = None,
) -> tuple[dict[str, object], str]:
    """Write a long-term access key record (``user`` "" for the account's root user) and
    return it with the clear secret, which exists nowhere else once the caller drops it:
    the record holds it sealed under a context naming the key, so a sealed value cannot
    be moved to another key."""
    key_id = key_id or new_access_key_id("AKIA", account=account_id)  # the owner in AWS's layout
    secret = secret or new_secret_access_key()
    record: dict[str, object] = {
        "id": key_id,
        "user": user,
        "status": "Active",
        "created": iso_seconds(now),
        "secret_sealed": secret_box.seal(secret, context=f"access-key:{key_id}"),
    }
    tx.insert(account_id, R.ACCESS_KEY, key_id, record)
    return record, secret
