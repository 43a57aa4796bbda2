"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pgutil import base_pg_url, fresh_pg_url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose ``search_path`` is a fresh schema, dropped afterwards."""
    url, drop = fresh_pg_url(base_pg_url())
    try:
        yield url
    finally:
        drop()
