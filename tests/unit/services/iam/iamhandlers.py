"""The account, clock and callers of the handler-level IAM tests (their fixtures are in
``conftest.py``; this module has a name of its own so that test modules import it
whatever other ``conftest`` a pytest run has already loaded)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from tessera.arn import iam_arn, root_arn
from tessera.auth.caller import Caller
from tessera.services.runtime import Runtime

ACCOUNT = "111122223333"
NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)

Call = Callable[..., dict[str, Any]]


def root_caller() -> Caller:
    return Caller("root", ACCOUNT, root_arn(ACCOUNT), ACCOUNT, "", "AKIAROOTUNITTEST0001")


def user_caller(runtime: Runtime, name: str) -> Caller:
    rec = runtime.view.account(ACCOUNT).user(name)  # type: ignore[union-attr]
    assert rec is not None
    return Caller("user", ACCOUNT, rec["arn"], rec["id"], rec["name"], "AKIAUSERUNITTEST0001")


def user_arn(name: str, path: str = "/") -> str:
    return iam_arn(ACCOUNT, "user", path, name)
