"""The storage seam: a small document store with per-scope write transactions.

State is a set of records. A record lives in a *scope* (a 12-digit account id, or
``GLOBAL`` for state that belongs to no account: the organization, session-token
keys), has a *kind* (``user``, ``role``, ``group``, ``policy``, ``access_key``,
``mfa_device``, ``org``, ``token_key`` …) and a *key* unique within (scope, kind)
— IAM names are unique case-insensitively, so services pass ``name.lower()`` — and
carries a JSON-serialisable ``data`` dict. Services own the shape of ``data``.

Writes happen inside ``Store.write(*scopes)``: a transaction that holds an exclusive
lock on each scope it names (so concurrent writers to one account serialise and never
interleave a read-modify-write), commits atomically or not at all, and bumps each
written scope's *generation*. Every record a transaction inserts, replaces or deletes
is also written, in that transaction, to the scope's *change feed* under the new
generation. Readers build in-memory views from ``snapshot`` once, and when
``generations`` shows a scope has moved they read only ``changes`` since the
generation they hold (a snapshot again if the feed no longer reaches back that far).

A few top-level fields of ``data`` are indexed (``INDEXED_FIELDS``): a write finds
the records of a kind that name a value there (``list_by``, ``count_by``) at the cost
of the matches, not of every record of the kind, so that quotas and conflict checks
made inside a write transaction cost the same in an account of ten users as in one of
ten thousand.

Secrets never reach this layer in clear: services seal them with
``tessera.secrets.SecretBox`` before ``put``.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

GLOBAL = "global"

INDEXED_FIELDS = ("user", "groups", "role_ids", "attached", "boundary", "sha256")
"""The top-level ``data`` fields the store indexes in every record: a string field by
its value, a list field by each string in it (anything else is not indexed). The
records that refer to a user (``user``: its stored name, ``""`` for the root user), a
group (``groups``), a role (``role_ids``), a managed policy (``attached``, ``boundary``)
or carry a certificate's digest (``sha256``). Adding a field needs a migration that
indexes the records already stored."""


BudgetChange = Callable[[Mapping[str, Any] | None], tuple[Mapping[str, Any], dt.datetime] | None]
"""``Store.update_budget``'s change: the stored data → the new data and when it is idle
(or None: delete)."""


class StoreError(Exception):
    """Base of the store's own errors (services translate them)."""


class Conflict(StoreError):
    """``insert`` of a key that already exists in (scope, kind)."""


class NotFound(StoreError):
    """``update``/``delete`` of a key that does not exist."""


class BackendError(StoreError):
    """The database itself failed (unreachable, disk full, …); the driver's error is
    chained as ``__cause__`` for the log; the message never quotes a statement
    or its parameters. ``operation`` (``read``, ``write`` or empty) and ``reason`` (a
    fixed phrase such as ``database connection lost``) are safe to show a client."""

    def __init__(self, message: str, *, operation: str = "", reason: str = "database error") -> None:
        super().__init__(message)
        self.operation = operation
        self.reason = reason

    def client_message(self) -> str:
        """What a client is told: what failed, with nothing of the driver's text."""
        what = f"could not {self.operation}" if self.operation else "request failed"
        return f"The identity store is unavailable: {what} ({self.reason}). Retry later."


AUDIT_OUTCOMES = ("success", "error", "denied")
DENIED_ERROR_CODES = ("AccessDenied", "AccessDeniedException")
"""The error codes of a refusal by policy (IAM and STS; Organizations): ``denied``."""


AuditPosition = tuple[str, int]
"""Where an event lies in the trail: (eventTime, insertion sequence)."""


@dataclass(frozen=True, slots=True)
class AuditLookup:
    """What ``Store.lookup_audit`` reads: exact matches on indexed columns (None: any),
    eventTime bounds (ISO-8601 UTC, inclusive), and ``account``: events whose caller's
    ARN names that account, plus those whose caller has no ARN (a SAML user's issuer
    qualifier), which the reader checks against ``recipientAccountId`` itself."""

    account: str
    limit: int
    before: AuditPosition | None = None
    start: str | None = None
    end: str | None = None
    event_id: str | None = None
    event_name: str | None = None
    access_key_id: str | None = None


@dataclass(frozen=True, slots=True)
class Record:
    scope: str
    kind: str
    key: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Snapshot:
    scope: str
    generation: int
    records: tuple[Record, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Change:
    """One record written by a committed transaction: ``data`` as stored, or ``None``
    when the record was deleted. ``generation`` is the one the commit gave the scope."""

    generation: int
    kind: str
    key: str
    data: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class ChangeFeed:
    """Every change to ``scope`` after generation ``since`` up to ``generation`` (its
    generation when read), in commit order: applied in order to the records as of
    ``since`` they give the records as of ``generation``."""

    scope: str
    since: int
    generation: int
    changes: tuple[Change, ...] = field(default_factory=tuple)


class Transaction(Protocol):
    def get(self, scope: str, kind: str, key: str) -> Record | None: ...

    def list(self, scope: str, kind: str) -> list[Record]:
        """All records of a kind in a scope, ordered by key."""
        ...

    def count(self, scope: str, kind: str) -> int:
        """How many records of a kind a scope holds (without reading them)."""
        ...

    def list_by(self, scope: str, kind: str, field: str, value: str) -> builtins.list[Record]:
        """The records of a kind in a scope whose ``field`` (one of ``INDEXED_FIELDS``)
        is ``value`` or, for a list, holds it; ordered by key. Reads only the matches
        (an index range scan). Raises ``StoreError`` for a field that is not indexed."""
        ...

    def count_by(self, scope: str, kind: str, field: str, value: str) -> int:
        """How many records ``list_by`` would return (without reading them)."""
        ...

    def insert(self, scope: str, kind: str, key: str, data: Mapping[str, Any]) -> None:
        """Raises ``Conflict`` when the key exists."""
        ...

    def update(self, scope: str, kind: str, key: str, data: Mapping[str, Any]) -> None:
        """Replace ``data``; raises ``NotFound`` when absent."""
        ...

    def put(self, scope: str, kind: str, key: str, data: Mapping[str, Any]) -> None:
        """Insert or replace."""
        ...

    def delete(self, scope: str, kind: str, key: str) -> None:
        """Raises ``NotFound`` when absent."""
        ...

    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Insert CloudTrail-format events in this write transaction: committed with the
        change they record, or rolled back with it. An event whose ``eventID`` is
        already stored is left as it is."""
        ...


class Store(Protocol):
    def write(self, *scopes: str) -> AbstractContextManager[Transaction]:
        """A write transaction locking ``scopes`` (in a fixed order, so no deadlock).

        Reads and writes are only allowed within the locked scopes. Leaving the block
        normally commits and bumps each locked scope's generation; an exception rolls
        everything back and propagates."""
        ...

    def read(self) -> AbstractContextManager[Transaction]:
        """A read-only transaction over every scope (consistent snapshot)."""
        ...

    def scopes(self) -> list[str]:
        """Every scope that has ever been written."""
        ...

    def generations(self) -> dict[str, int]:
        """scope → generation, for every scope: one cheap query."""
        ...

    def snapshot(self, scope: str) -> Snapshot:
        """Every record of one scope with the generation they belong to."""
        ...

    def changes(self, scope: str, since: int) -> ChangeFeed | None:
        """The changes to ``scope`` after generation ``since`` (one indexed query), or
        ``None`` when the feed no longer holds them all (trimmed, recorded only from a
        later generation, or ``since`` is ahead of the store): read a ``snapshot``."""
        ...

    def append_audit(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Durably write CloudTrail-format event dicts in one transaction. An event whose
        ``eventID`` is stored replaces it (the completed form of an event committed with
        its change), so a batch whose commit is unsure may be written again. An empty
        batch still opens and commits a write transaction: it tells whether the trail
        can be written at all."""
        ...

    def query_audit(
        self,
        *,
        principal: str | None = None,
        event_name: str | None = None,
        start: str | None = None,
        end: str | None = None,
        outcome: str | None = None,
        errors_only: bool = False,
        limit: int | None = 1000,
    ) -> Iterator[Mapping[str, Any]]:
        """Events, oldest first, filtered, read lazily page by page (keyset pagination:
        memory stays constant however many match): ``principal`` matches userIdentity.arn
        or accessKeyId; ``start``/``end`` are ISO-8601 UTC bounds on eventTime;
        ``outcome`` is ``success``, ``error`` or ``denied`` (``AUDIT_OUTCOMES``);
        ``limit`` None means every match."""
        ...

    def lookup_audit(self, query: AuditLookup) -> list[tuple[AuditPosition, Mapping[str, Any]]]:
        """One page of at most ``query.limit`` events, newest first, strictly older than
        ``query.before`` (a position this method returned) when given, each with its
        position: the keyset CloudTrail's LookupEvents pages on, in one short
        transaction."""
        ...

    def delete_audit_before(self, before: str, limit: int) -> int:
        """Delete at most ``limit`` of the oldest events whose eventTime is before
        ``before`` (ISO-8601 UTC), in one short transaction; how many were deleted."""
        ...

    def claim(self, kind: str, key: str, until: dt.datetime, now: dt.datetime) -> bool:
        """Claim ``key`` of ``kind`` (at most 512 characters, no NUL) until ``until``: True when
        nobody holds it — no claim, or only one that expired (``until`` more than a few
        minutes before ``now``: a grace for clocks that differ between nodes) — and it is
        now held; False when it is held. Atomic across processes and nodes sharing the
        store. Expired claims of ``kind`` are deleted on the way."""
        ...

    def read_budgets(self, kind: str, keys: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        """The stored budgets of ``keys`` (those that have one) of ``kind``."""
        ...

    def update_budget(self, kind: str, key: str, change: BudgetChange, now: dt.datetime) -> Mapping[str, Any] | None:
        """Change the budget of ``key`` atomically across processes and nodes: ``change``
        gets the stored data (None: none) under the row's lock and returns the new data
        with the time from which it is idle, or None to delete it. Returns the new data.
        Budgets of ``kind`` idle for some minutes before ``now`` are deleted on the way."""
        ...

    def put_usage(self, entries: Sequence[tuple[str, str, str, Mapping[str, Any]]]) -> None:
        """Upsert last-use records ``(scope, kind, key, data)`` in one transaction. They
        live outside ``records``: writing them bumps no generation."""
        ...

    def get_usage(self, scope: str, kind: str, key: str) -> Mapping[str, Any] | None: ...

    def list_usage(self, scope: str, kind: str) -> dict[str, Mapping[str, Any]]:
        """Every last-use record of ``kind`` in ``scope``, by key (one query)."""
        ...

    def close(self) -> None: ...
