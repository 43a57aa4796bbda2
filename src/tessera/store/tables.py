"""The schema, as SQLAlchemy Core tables: one definition for SQLite and PostgreSQL.

Kept deliberately plain so both backends behave alike:

* JSON is stored as compact text, not ``JSONB``: the store never queries inside a
  document, and text round-trips identically on both backends.
* Times are ISO-8601 UTC strings, which sort chronologically as text.
* Identifier columns use the ``C`` collation on PostgreSQL, so ``ORDER BY key`` is
  code-point order there as it is (``BINARY``) on SQLite, whatever the database's
  locale.

``changes`` is the change feed: every record a write transaction inserted, replaced or
deleted (``data`` NULL), with the generation that transaction gave its scope, so a view
at generation *g* catches up by reading the changes after *g* instead of the whole
scope. It is trimmed as it grows; ``scopes.feed_floor`` is the generation from which the
feed of a scope is complete (older views read a snapshot).

``record_refs`` indexes the values of the ``INDEXED_FIELDS`` of each record (one row
per value), written with the record in the same transaction: ``list_by``/``count_by``
find the records naming a value by its primary key, never by reading a whole kind.

``usage`` holds when access keys and roles were last used: written in batches off the
request path and never part of a scope's generation.

``claims`` holds what may be used once by every process and node sharing the store (a
OneTimeUse SAML assertion), each until it expires: a claim is a row inserted or refused
by the primary key, in its own short transaction, outside any scope. ``budgets`` holds
the failure budgets of online guessing (``services.throttle``) the same way: a row per
key, changed under its row lock, deleted once idle.

The migrations in ``migrations/versions`` create exactly these tables; a contract test
compares the migrated database with this metadata so the two cannot drift.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeEngine

metadata = MetaData()


def identifier() -> TypeEngine[str]:
    """A name compared and ordered by code point on both backends."""
    return String().with_variant(String(collation="C"), "postgresql")


def sequence_number() -> TypeEngine[int]:
    """64-bit on PostgreSQL; ``INTEGER`` on SQLite so the column aliases the rowid."""
    return BigInteger().with_variant(Integer(), "sqlite")


scopes = Table(
    "scopes",
    metadata,
    Column("scope", identifier(), primary_key=True),
    Column("generation", BigInteger(), nullable=False),
    Column("feed_floor", BigInteger(), nullable=False, server_default="0"),
)

records = Table(
    "records",
    metadata,
    Column("scope", identifier(), ForeignKey("scopes.scope"), primary_key=True),
    Column("kind", identifier(), primary_key=True),
    Column("key", identifier(), primary_key=True),
    Column("data", Text(), nullable=False),
    Column("updated_at", String(), nullable=False),
)

changes = Table(
    "changes",
    metadata,
    Column("seq", sequence_number(), primary_key=True, autoincrement=True),
    Column("scope", identifier(), nullable=False),
    Column("generation", BigInteger(), nullable=False),
    Column("kind", identifier(), nullable=False),
    Column("key", identifier(), nullable=False),
    Column("data", Text(), nullable=True),
    Index("ix_changes_scope_generation", "scope", "generation"),
)

record_refs = Table(
    "record_refs",
    metadata,
    Column("scope", identifier(), primary_key=True),
    Column("kind", identifier(), primary_key=True),
    Column("field", identifier(), primary_key=True),
    Column("value", identifier(), primary_key=True),
    Column("key", identifier(), primary_key=True),
    Index("ix_record_refs_record", "scope", "kind", "key"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", sequence_number(), primary_key=True, autoincrement=True),
    Column("event_id", String(), nullable=False),
    Column("event_time", String(), nullable=False),
    Column("principal_arn", String(), nullable=True),
    Column("access_key_id", String(), nullable=True),
    Column("event_name", String(), nullable=False),
    Column("error_code", String(), nullable=True),
    Column("body", Text(), nullable=False),
    UniqueConstraint("event_id", name="uq_audit_events_event_id"),
    Index("ix_audit_events_event_time", "event_time"),
    Index("ix_audit_events_principal_arn", "principal_arn"),
    Index("ix_audit_events_access_key_id", "access_key_id"),
    Index("ix_audit_events_event_name", "event_name"),
)

claims = Table(
    "claims",
    metadata,
    Column("kind", identifier(), primary_key=True),
    Column("key", identifier(), primary_key=True),
    Column("until", identifier(), nullable=False),  # fixed-width UTC text: ordered as times are
    Index("ix_claims_until", "kind", "until"),
)

budgets = Table(
    "budgets",
    metadata,
    Column("kind", identifier(), primary_key=True),
    Column("key", identifier(), primary_key=True),
    Column("data", Text(), nullable=False),
    Column("until", identifier(), nullable=False),  # idle from then on: may be deleted
    Index("ix_budgets_until", "kind", "until"),
)

usage = Table(
    "usage",
    metadata,
    Column("scope", identifier(), primary_key=True),
    Column("kind", identifier(), primary_key=True),
    Column("key", identifier(), primary_key=True),
    Column("data", Text(), nullable=False),
)
