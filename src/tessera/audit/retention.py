"""Deleting audit events older than the retention period, off the request path.

``tessera serve --audit-retention`` keeps events for a duration (default: for ever).
The server prunes at start-up and then every ``PRUNE_INTERVAL`` seconds, in the thread
pool: oldest first, ``batch`` events per short transaction with a ``pause`` between
transactions, so neither the writers nor the requests wait behind one long delete.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Protocol

from tessera.clock import iso_seconds

PRUNE_INTERVAL = 60.0
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 86400}


class Pruned(Protocol):
    def delete_audit_before(self, before: str, limit: int) -> int: ...


def parse_retention(text: str) -> dt.timedelta:
    """``DAYS`` (``90``) or a number with a unit: ``s``, ``m``, ``h`` or ``d`` (``36h``)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"not a duration: {text!r} (give days, e.g. 90, or 36h, 30m, 45s)")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError("the audit retention must be positive")
    return dt.timedelta(seconds=seconds)


def prune(store: Pruned, now: dt.datetime, retention: dt.timedelta, *, batch: int = 1000, pause: float = 0.01) -> int:
    """Delete every event older than ``now - retention``; how many were deleted."""
    cutoff = iso_seconds(now - retention)
    deleted = 0
    while True:
        count = store.delete_audit_before(cutoff, batch)
        deleted += count
        if count < batch:
            return deleted
        time.sleep(pause)
