"""Writes read what the entity they change owns, never every record of a kind: the
records a write transaction reads do not depend on how many other users, groups,
roles and credentials the account holds (quotas and conflict checks count them in the
store through its indexed fields, ``Transaction.list_by``/``count_by``)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from iamhandlers import ACCOUNT, Call

from tessera.services.runtime import Runtime
from tessera.store.base import Record, Store, Transaction

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
TRUST = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
)
POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/shared"


class _CountingTransaction:
    """``inner``, counting the records each of its reads returns, by kind."""

    def __init__(self, inner: Transaction, read: Counter[str]) -> None:
        self._inner = inner
        self._read = read

    def get(self, scope: str, kind: str, key: str) -> Record | None:
        found = self._inner.get(scope, kind, key)
        self._read[kind] += found is not None
        return found

    def list(self, scope: str, kind: str) -> list[Record]:
        found = self._inner.list(scope, kind)
        self._read[kind] += len(found)
        return found

    def list_by(self, scope: str, kind: str, field: str, value: str) -> list[Record]:
        found = self._inner.list_by(scope, kind, field, value)
        self._read[kind] += len(found)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _CountingStore:
    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.read: Counter[str] = Counter()

    @contextmanager
    def write(self, *scopes: str) -> Iterator[Transaction]:
        with self.inner.write(*scopes) as tx:
            yield _CountingTransaction(tx, self.read)  # type: ignore[misc]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _crowd(call: Call, n: int) -> None:
    """``n`` other users, each with an access key, in a group, attaching the shared
    policy, and ``n`` roles each in an instance profile and attaching it too."""
    for i in range(n):
        call("CreateUser", UserName=f"other{i}")
        call("CreateAccessKey", UserName=f"other{i}")
        call("CreateGroup", GroupName=f"crowd{i}")
        call("AddUserToGroup", GroupName=f"crowd{i}", UserName=f"other{i}")
        call("AttachUserPolicy", UserName=f"other{i}", PolicyArn=POLICY_ARN)
        call("CreateRole", RoleName=f"role{i}", AssumeRolePolicyDocument=TRUST)
        call("AttachRolePolicy", RoleName=f"role{i}", PolicyArn=POLICY_ARN)
        call("CreateInstanceProfile", InstanceProfileName=f"profile{i}")
        call("AddRoleToInstanceProfile", InstanceProfileName=f"profile{i}", RoleName=f"role{i}")


def _writes(tag: str) -> list[tuple[str, dict[str, Any]]]:
    """Writes about entities named with ``tag``, leaving nothing behind but one user."""
    return [
        ("CreateUser", {"UserName": f"alice-{tag}"}),
        ("CreateAccessKey", {"UserName": f"alice-{tag}"}),
        ("CreateAccessKey", {"UserName": f"alice-{tag}"}),
        ("CreateGroup", {"GroupName": f"team-{tag}"}),
        ("UpdateGroup", {"GroupName": f"team-{tag}", "NewGroupName": f"Team2-{tag}"}),
        ("DeleteGroup", {"GroupName": f"team2-{tag}"}),
        ("UpdateUser", {"UserName": f"alice-{tag}", "NewUserName": f"Alice2-{tag}"}),
        ("CreateUser", {"UserName": f"bob-{tag}"}),
        ("DeleteUser", {"UserName": f"bob-{tag}"}),
        ("CreateRole", {"RoleName": f"lonely-{tag}", "AssumeRolePolicyDocument": TRUST}),
        ("CreateInstanceProfile", {"InstanceProfileName": f"box-{tag}"}),
        ("AddRoleToInstanceProfile", {"InstanceProfileName": f"box-{tag}", "RoleName": f"lonely-{tag}"}),
        ("RemoveRoleFromInstanceProfile", {"InstanceProfileName": f"box-{tag}", "RoleName": f"lonely-{tag}"}),
        ("DeleteRole", {"RoleName": f"lonely-{tag}"}),
        ("DeleteInstanceProfile", {"InstanceProfileName": f"box-{tag}"}),
        ("CreatePolicy", {"PolicyName": f"unused-{tag}", "PolicyDocument": POLICY}),
        ("DeletePolicy", {"PolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/unused-{tag}"}),
    ]


def _reads(counting: _CountingStore, call: Call, tag: str) -> list[tuple[str, Counter[str]]]:
    """The records each write of ``_writes(tag)`` read, by kind."""
    reads = []
    for operation, params in _writes(tag):
        counting.read.clear()
        call(operation, **params)
        reads.append((operation, Counter(counting.read)))
    return reads


def test_what_a_write_reads_does_not_grow_with_the_account(runtime: Runtime, call: Call, monkeypatch: pytest.MonkeyPatch) -> None:
    call("CreatePolicy", PolicyName="shared", PolicyDocument=POLICY)
    counting = _CountingStore(runtime.store)
    monkeypatch.setattr(runtime, "store", counting)
    empty = _reads(counting, call, "a")
    _crowd(call, 25)
    crowded = _reads(counting, call, "b")
    assert crowded == empty
    # what each reads is the entity itself and what it owns (two keys at most)
    assert all(sum(counts.values()) <= 3 for _, counts in crowded), crowded
