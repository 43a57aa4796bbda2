"""The view follows the store's change feed: applying the changes of any sequence of
writes gives exactly the state a rebuild from a snapshot gives, and a reader never
sees a write half-applied.

The writes go through a real SQLite store; the reference is ``build_account_state``
over ``Store.snapshot``.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.services import records as R
from tessera.services.aws_managed import ManagedPolicies
from tessera.services.view import AccountState, StateView, build_account_state
from tessera.store.base import GLOBAL, Snapshot, Transaction
from tessera.store.sql import SqlStore, default_url, open_store

NAMES = ["alice", "bob", "carol"]
KEYS = ["AKIAFEED000000000001", "AKIAFEED000000000002", "AKIAFEED000000000003"]


class CountingStore:
    """``inner``, counting the snapshots taken."""

    def __init__(self, inner: SqlStore) -> None:
        self.inner = inner
        self.snapshots = 0

    def snapshot(self, scope: str) -> Snapshot:
        self.snapshots += 1
        return self.inner.snapshot(scope)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlStore]:
    opened = open_store(default_url(str(tmp_path_factory.mktemp("feed"))))
    yield opened
    opened.close()


_accounts = (f"{n:012d}" for n in itertools.count(300_000_000_000))

# One write: (operation, entity name or key id, a version number)
OPERATIONS = st.tuples(
    st.sampled_from(
        [
            "put_user",
            "rename_user",
            "delete_user",
            "put_role",
            "rename_role",
            "delete_role",
            "put_group",
            "delete_group",
            "put_policy",
            "delete_policy",
            "put_key",
            "delete_key",
            "put_login_profile",
            "delete_login_profile",
            "put_account",
            "delete_account",
            "put_password_policy",
            "delete_password_policy",
        ]
    ),
    st.integers(0, 2),
    st.integers(0, 3),
)
# transactions of writes, each followed by a refresh of the view or not (another
# node's write, seen later)
HISTORIES = st.lists(st.tuples(st.lists(OPERATIONS, min_size=1, max_size=4), st.booleans()), min_size=1, max_size=8)


def _entity(kind: str, account: str, name: str, uid: str, version: int) -> dict[str, Any]:
    arn = f"arn:aws:iam::{account}:{kind}/{name}"
    statement = f'{{"Effect":"Allow","Action":"s3:Get{version}","Resource":"*"}}'
    return {
        "name": name,
        "id": uid,
        "path": "/",
        "arn": arn,
        "created": "2026-01-01T00:00:00Z",
        "tags": [],
        "inline_policies": {"p": f'{{"Version":"2012-10-17","Statement":[{statement}]}}'},
        "attached": [],
        "boundary": None,
        "groups": [],
        "version": version,
    }


def _write(tx: Transaction, account: str, operation: str, index: int, version: int) -> None:
    name = NAMES[index]
    target = NAMES[(index + 1) % len(NAMES)]
    if operation in ("put_user", "put_role"):
        kind = R.USER if operation == "put_user" else R.ROLE
        current = tx.get(account, kind, name)
        uid = current.data["id"] if current else f"AIDA{account}{name}{version}"
        tx.put(account, kind, name, _entity(kind, account, name, uid, version))
    elif operation in ("rename_user", "rename_role"):
        kind = R.USER if operation == "rename_user" else R.ROLE
        current = tx.get(account, kind, name)
        if current is None or tx.get(account, kind, target) is not None:
            return
        renamed = {**current.data, "name": target, "arn": f"arn:aws:iam::{account}:{kind}/{target}"}
        if version % 2:  # either order within the transaction
            tx.put(account, kind, target, renamed)
            tx.delete(account, kind, name)
        else:
            tx.delete(account, kind, name)
            tx.put(account, kind, target, renamed)
    elif operation == "put_group":
        tx.put(account, R.GROUP, name, _entity(R.GROUP, account, name, f"AGPA{name}", version))
    elif operation == "put_policy":
        arn = f"arn:aws:iam::{account}:policy/{name}"
        document = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
        tx.put(account, R.POLICY, name, {"name": name, "arn": arn, "default_version": "v1", "versions": {"v1": {"document": document}}})
    elif operation == "put_key":
        tx.put(account, R.ACCESS_KEY, KEYS[index], {"id": KEYS[index], "user": name, "status": "Active", "version": version})
    elif operation == "put_login_profile":
        tx.put(account, R.LOGIN_PROFILE, name, {"user": name, "version": version})
    elif operation == "put_account":
        tx.put(account, R.ACCOUNT, "account", {"id": account, "version": version})
    elif operation == "put_password_policy":
        tx.put(account, R.PASSWORD_POLICY, "policy", {"MinimumPasswordLength": 8 + version})
    else:
        kind = {
            "delete_user": R.USER,
            "delete_role": R.ROLE,
            "delete_group": R.GROUP,
            "delete_policy": R.POLICY,
            "delete_key": R.ACCESS_KEY,
            "delete_login_profile": R.LOGIN_PROFILE,
            "delete_account": R.ACCOUNT,
            "delete_password_policy": R.PASSWORD_POLICY,
        }[operation]
        key = {R.ACCESS_KEY: KEYS[index], R.ACCOUNT: "account", R.PASSWORD_POLICY: "policy"}.get(kind, name)
        if tx.get(account, kind, key) is not None:
            tx.delete(account, kind, key)


def _indexes(state: AccountState) -> dict[str, Any]:
    return {f.name: getattr(state, f.name) for f in fields(state) if f.name != "_identity_cache"}


@settings(max_examples=150, deadline=None)
@given(history=HISTORIES)
def test_applying_the_feed_gives_the_state_a_rebuild_gives(store: SqlStore, history: list[tuple[list[tuple[str, int, int]], bool]]) -> None:
    account = next(_accounts)
    with store.write(account) as tx:
        tx.put(account, R.ACCOUNT, "account", {"id": account})
    counting = CountingStore(store)
    view = StateView(counting, ManagedPolicies([]))  # type: ignore[arg-type]
    view.refresh([account])
    assert counting.snapshots == 1
    for operations, refresh in history:
        with store.write(account) as tx:
            for operation, index, version in operations:
                _write(tx, account, operation, index, version)
        if refresh:
            view.refresh_committed([account])
    view.refresh([account])  # what a poll does for a scope that moved
    assert counting.snapshots == 1  # everything after the first load came from the feed
    snapshot = store.snapshot(account)
    rebuilt = build_account_state(account, snapshot.generation, snapshot.records)
    state = view.account(account)
    assert state is not None
    assert _indexes(state) == _indexes(rebuilt)
    assert {k for k, a in view._key_index.items() if a == account} == set(rebuilt.access_keys)
    for name in NAMES:  # the compiled policies follow the records
        for kind, records in ((R.USER, rebuilt.users), (R.ROLE, rebuilt.roles)):
            expected = records[name]["inline_policies"]["p"] if name in records else None
            compiled = view.identity_policies(state, kind, name)
            assert [p.text for p in compiled] == ([expected] if expected else [])


def test_a_global_scope_follows_the_feed(store: SqlStore) -> None:
    with store.write(GLOBAL) as tx:
        tx.put(GLOBAL, R.TOKEN_KEY, "k1", {"id": "k1"})
    counting = CountingStore(store)
    view = StateView(counting, ManagedPolicies([]))  # type: ignore[arg-type]
    view.refresh([GLOBAL])
    with store.write(GLOBAL) as tx:
        tx.put(GLOBAL, R.TOKEN_KEY, "k2", {"id": "k2"})
        tx.delete(GLOBAL, R.TOKEN_KEY, "k1")
    view.refresh_committed([GLOBAL])
    assert counting.snapshots == 1
    assert view.global_records(R.TOKEN_KEY) == [{"id": "k2"}]


def test_a_view_the_feed_no_longer_reaches_reads_a_snapshot(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from tessera.store import sql

    monkeypatch.setattr(sql, "FEED_GENERATIONS", 2)
    monkeypatch.setattr(sql, "TRIM_EVERY", 1)
    account = next(_accounts)
    with store.write(account) as tx:
        tx.put(account, R.ACCOUNT, "account", {"id": account})
    counting = CountingStore(store)
    view = StateView(counting, ManagedPolicies([]))  # type: ignore[arg-type]
    view.refresh([account])
    for name in NAMES:  # three generations: the view's is trimmed away
        with store.write(account) as tx:
            tx.put(account, R.USER, name, _entity(R.USER, account, name, f"AIDA{name}", 0))
    view.refresh([account])
    assert counting.snapshots == 2
    state = view.account(account)
    assert state is not None and sorted(state.users) == NAMES


def test_a_reader_never_sees_a_write_half_applied(tmp_path: Path) -> None:
    """Each write changes a user and its access key together; a reader on another
    thread must always find the two at the same version."""
    account, key = "111111111111", KEYS[0]
    with open_store(default_url(str(tmp_path))) as store:
        with store.write(account) as tx:
            tx.put(account, R.ACCOUNT, "account", {"id": account})
            tx.put(account, R.USER, "alice", _entity(R.USER, account, "alice", "AIDAALICE", 0))
            tx.put(account, R.ACCESS_KEY, key, {"id": key, "user": "alice", "status": "Active", "version": 0})
        view = StateView(store, ManagedPolicies([]))
        view.load_all()
        torn: list[tuple[int, int]] = []
        stop = threading.Event()

        def read() -> None:
            while not stop.is_set():
                state = view.account_for_key(key)
                assert state is not None
                user, access_key = state.users["alice"], state.access_keys[key]
                if user["version"] != access_key["version"]:
                    torn.append((user["version"], access_key["version"]))

        previous = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # hand the interpreter over as often as possible
        reader = threading.Thread(target=read)
        reader.start()
        try:
            for version in range(1, 200):
                with store.write(account) as tx:
                    tx.put(account, R.USER, "alice", _entity(R.USER, account, "alice", "AIDAALICE", version))
                    tx.put(account, R.ACCESS_KEY, key, {"id": key, "user": "alice", "status": "Active", "version": version})
                view.refresh_committed([account])
        finally:
            stop.set()
            reader.join()
            sys.setswitchinterval(previous)
        assert torn == []
        state = view.account(account)
        assert state is not None and state.users["alice"]["version"] == 199


def test_identity_providers_follow_the_feed(store: SqlStore) -> None:
    account = next(_accounts)
    with store.write(account) as tx:
        tx.put(account, R.ACCOUNT, "account", {"id": account})
    view = StateView(store, ManagedPolicies([]))
    view.refresh([account])
    with store.write(account) as tx:
        tx.put(account, R.OIDC_PROVIDER, "idp.example.com", {"url": "idp.example.com", "client_ids": [], "thumbprints": []})
        tx.put(account, R.SAML_PROVIDER, "corp", {"name": "corp"})
    view.refresh_committed([account])
    state = view.account(account)
    assert state is not None and set(state.oidc_providers) == {"idp.example.com"} and set(state.saml_providers) == {"corp"}
    with store.write(account) as tx:
        tx.delete(account, R.OIDC_PROVIDER, "idp.example.com")
        tx.delete(account, R.SAML_PROVIDER, "corp")
    view.refresh_committed([account])
    state = view.account(account)
    assert state is not None and not state.oidc_providers and not state.saml_providers
