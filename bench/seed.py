"""Seeding a data directory with many accounts and roles, straight through the store.

Creating 100 000 roles through CreateRole would take the whole benchmark's time budget,
so the records are written with ``store.write`` transactions, shaped exactly as
``services/iam/roles.py`` writes them (``services/records.py`` documents the shape),
into a data directory the server has not opened yet: it loads every account at start.
The management account is bootstrapped first the way ``tessera serve`` does, so the
server finds it as its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tessera.arn import iam_arn
from tessera.clock import iso_seconds
from tessera.server.bootstrap import open_runtime
from tessera.services import records as R
from tessera.services.accounts import create_account
from tessera.services.ids import ROLE_PREFIX, new_unique_id
from tessera.store.base import Store, Transaction

ACCOUNTS_PER_TRANSACTION = 50
"""Scopes written per transaction: one fsync per batch instead of one per account."""


@dataclass(frozen=True)
class Seeded:
    accounts: int
    roles: int
    member_accounts: tuple[str, ...]


def role_names(count: int) -> list[str]:
    return [f"bench-role-{i:03d}" for i in range(count)]


def member_account_ids(count: int) -> list[str]:
    """Deterministic 12-digit ids that cannot collide with the management account's
    (the benchmark fixes that one to ``1…``)."""
    return [f"{900_000_000_000 + i:012d}" for i in range(count)]


def seed_roles(
    data_dir: str,
    env: Mapping[str, str],
    *,
    home_account: str,
    member_accounts: int,
    roles_per_account: int,
    trust_policy: str,
    now: dt.datetime,
) -> Seeded:
    """``roles_per_account`` roles in the home (management) account and in each of
    ``member_accounts`` new accounts, all with ``trust_policy``. Opening the runtime
    bootstraps the management account and its root key (``TESSERA_*`` in ``env``)
    exactly as the server's first start would."""
    runtime = open_runtime(data_dir, env=env)
    members = member_account_ids(member_accounts)
    try:
        store = runtime.store
        names = role_names(roles_per_account)
        with store.write(home_account) as tx:
            _write_roles(tx, home_account, names, trust_policy, now)
        for batch in _batches(members, ACCOUNTS_PER_TRANSACTION):
            _seed_accounts(store, batch, names, trust_policy, now)
    finally:
        runtime.store.close()
    return Seeded(accounts=1 + member_accounts, roles=(1 + member_accounts) * roles_per_account, member_accounts=tuple(members))


def _seed_accounts(store: Store, accounts: list[str], names: list[str], trust: str, now: dt.datetime) -> None:
    with store.write(*accounts) as tx:
        for account in accounts:
            create_account(tx, account, name=f"bench-{account}", email=f"bench+{account}@example.com", now=now)
            _write_roles(tx, account, names, trust, now)


def _write_roles(tx: Transaction, account: str, names: list[str], trust: str, now: dt.datetime) -> None:
    for name in names:
        tx.insert(account, R.ROLE, name.lower(), role_record(account, name, trust, now))


def role_record(account: str, name: str, trust: str, now: dt.datetime) -> dict[str, Any]:
    """A role record as CreateRole stores it (path ``/``, no boundary, no tags)."""
    return {
        "name": name,
        "id": new_unique_id(ROLE_PREFIX),
        "path": "/",
        "arn": iam_arn(account, R.ROLE, "/", name),
        "created": iso_seconds(now),
        "trust_policy": trust,
        "description": "",
        "max_session_duration": 3600,
        "boundary": None,
        "tags": [],
        "inline_policies": {},
        "attached": [],
    }


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
