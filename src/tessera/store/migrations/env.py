"""Alembic environment: runs on the connection ``tessera.store.sql`` hands over.

There is no ``alembic.ini``: ``open_store`` builds the ``Config`` in code, puts an open
connection (already inside a transaction and, on PostgreSQL, holding the migration
advisory lock) in ``config.attributes["connection"]``, and calls ``upgrade head``.
The version table is created unqualified, so it lands in the first schema of the
connection's ``search_path`` next to the tables it describes.

To write a new revision, add ``versions/NNNN_<what>.py`` by hand following
``0001_initial.py`` (``revision = "NNNN"``, ``down_revision`` the previous one), with
explicit ``op`` calls rather than imports from ``tables.py``, so old revisions never
change when the current schema does.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from tessera.store.tables import metadata


def run_migrations(connection: Connection) -> None:
    """Upgrade inside the caller's transaction (DDL is transactional on both backends)."""
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


def _connection() -> Connection:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("tessera migrations run only through tessera.store.sql.open_store")
    return connection


if context.is_offline_mode():
    raise RuntimeError("tessera migrations do not support offline (--sql) mode")
run_migrations(_connection())
