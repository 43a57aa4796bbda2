"""Fixtures shared by every test package, and the property tests' settings.

`make test` runs the property tests (hypothesis) derandomized: the same examples on every
run and every machine, so a run's result depends on the code alone and a failure is
reproduced by running it again. To explore new examples, as `make fuzz` does for requests,
run with ``HYPOTHESIS_PROFILE=explore`` (random seeds, more examples, failures saved to
``.hypothesis/`` and replayed first).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings
from pgutil import base_pg_url, fresh_pg_url

settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", max_examples=2000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose ``search_path`` is a fresh schema, dropped afterwards."""
    url, drop = fresh_pg_url(base_pg_url())
    try:
        yield url
    finally:
        drop()
