"""What a client is told when the database refuses a write because of its storage: the
driver's error code decides the phrase (never the driver's text)."""

from __future__ import annotations

import sqlite3

import psycopg.errors
import pytest
from sqlalchemy.exc import InternalError, OperationalError

from tessera.store.base import BackendError
from tessera.store.sql import _backend_errors


def sqlite_error(code: int, text: str) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(text)
    error.sqlite_errorcode = code
    return error


def translated(error: Exception) -> BackendError:
    with pytest.raises(BackendError) as caught, _backend_errors("write"):
        raise error
    return caught.value


@pytest.mark.parametrize(
    ("driver_error", "wrapper", "reason"),
    [
        (sqlite_error(13, "database or disk is full"), OperationalError, "database storage full"),  # SQLITE_FULL
        (sqlite_error(8, "attempt to write a readonly database"), OperationalError, "database is read-only"),
        (sqlite_error(8 | (3 << 8), "attempt to write a readonly database"), OperationalError, "database is read-only"),
        (sqlite_error(5, "database is locked"), OperationalError, "database unreachable or not answering"),
        (psycopg.errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"), InternalError, "database is read-only"),
        (psycopg.errors.DiskFull("could not extend file"), OperationalError, "database storage full"),
    ],
)
def test_storage_refusals_say_what_failed(driver_error: Exception, wrapper: type[Exception], reason: str) -> None:
    error = translated(wrapper("INSERT INTO records VALUES (?)", ("secret",), driver_error))  # type: ignore[call-arg]
    assert error.reason == reason
    message = error.client_message()
    assert message == f"The identity store is unavailable: could not write ({reason}). Retry later."
    assert "INSERT" not in message and "secret" not in message
