"""Injected time. Everything that reads the clock takes a ``Clock``."""

from __future__ import annotations

import datetime as _dt
import time as _time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> _dt.datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> _dt.datetime:
        return _dt.datetime.now(_dt.UTC)


class FixedClock:
    """A clock for tests: set or advance it explicitly."""

    def __init__(self, start: _dt.datetime) -> None:
        self._now = start

    def now(self) -> _dt.datetime:
        return self._now

    def set(self, when: _dt.datetime) -> None:
        self._now = when

    def advance(self, seconds: float) -> None:
        self._now = self._now + _dt.timedelta(seconds=seconds)


class OffsetClock:
    """The system clock shifted by a fixed offset (``TESSERA_CLOCK_OFFSET_SECONDS``)."""

    def __init__(self, offset_seconds: float) -> None:
        self._offset = _dt.timedelta(seconds=offset_seconds)

    def now(self) -> _dt.datetime:
        return _dt.datetime.now(_dt.UTC) + self._offset


# -- UTC timestamps as AWS writes them --------------------------------------------------
# ``isoformat`` costs a third of ``strftime``; after ``astimezone(UTC)`` it ends in
# ``+00:00``, which becomes ``Z``. A naive ``when`` is read as local time (``astimezone``).
# Years before 1000 keep four digits (ISO 8601), where ``strftime("%Y")`` drops the zeros.
def iso_seconds(when: _dt.datetime) -> str:
    """``2024-05-01T12:00:00Z``: IAM's and Organizations' dates, the audit trail's times."""
    if when.tzinfo is _dt.UTC:
        # Every request formats its own time (the audit event's ``eventTime``), and a
        # server formats the same second hundreds of times over: the text of the last
        # few seconds is kept. Its key costs ~0.1 µs against ~1 µs for ``isoformat``
        # (CPython 3.11). A few, not one: an AssumeRole formats its time and its
        # session's expiration an hour later, which missed a one-second cache each time
        # (~8 000 instructions a request: callgrind, ``python -m bench.hot_path --only
        # tessera --operation AssumeRole -n 1000 --runs 1 --callgrind``).
        key = (when.year, when.month, when.day, when.hour, when.minute, when.second)
        text = _SECONDS.get(key)
        if text is None:
            text = when.isoformat(timespec="seconds")[:-6] + "Z"
            if len(_SECONDS) >= _SECONDS_KEPT:
                _SECONDS.clear()  # across threads at worst a text formatted again
            _SECONDS[key] = text
        return text
    return when.astimezone(_dt.UTC).isoformat(timespec="seconds")[:-6] + "Z"


_SECONDS: dict[tuple[int, ...], str] = {}
_SECONDS_KEPT = 64


def iso_millis(when: _dt.datetime) -> str:
    """``2024-05-01T12:00:00.123Z`` (microseconds truncated)."""
    return when.astimezone(_dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def iso_micros(when: _dt.datetime) -> str:
    """``2024-05-01T12:00:00.123456Z``."""
    return when.astimezone(_dt.UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def monotonic() -> float:
    return _time.monotonic()
