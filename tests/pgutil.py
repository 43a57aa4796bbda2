"""PostgreSQL isolation for tests: every test (and every end-to-end server) gets its
own schema in the shared test database.

The returned URL carries the libpq option ``-csearch_path=<schema>``, so every
connection made from it — SQLAlchemy, Alembic's version table, a server subprocess —
creates and finds its tables in that schema without knowing about it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def base_pg_url() -> str:
    """The test server: ``TESSERA_TEST_POSTGRES_URL`` or the local default."""
    return os.environ.get("TESSERA_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def fresh_pg_url(base_url: str) -> tuple[str, Callable[[], None]]:
    """Create a uniquely named schema; return a URL selecting it and a ``drop()``
    that removes it with everything in it. Fails loudly if the server is down."""
    base = _psycopg(make_url(base_url))
    schema = f"tessera_test_{uuid.uuid4().hex}"
    admin = create_engine(base, poolclass=NullPool, connect_args={"connect_timeout": 5})
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    options = " ".join(filter(None, [base.query.get("options"), f"-csearch_path={schema}"]))
    url = base.update_query_dict({"options": options})
    return url.render_as_string(hide_password=False), drop


def _psycopg(url: URL) -> URL:
    return url.set(drivername="postgresql+psycopg") if url.drivername == "postgresql" else url
