"""Handler-level fixtures: the account and clock of ``runtime`` (a real Runtime over a
real SQLite store in ``tmp_path``, tests/unit/conftest.py), and a ``call`` helper that
runs a registered IAM handler as a given caller."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from iamhandlers import ACCOUNT, NOW, Call, root_caller, user_caller

import tessera.services.iam  # noqa: F401  (registers the handlers)
from tessera.auth.caller import Caller
from tessera.clock import FixedClock
from tessera.services.request import OperationContext, RequestInfo, lookup
from tessera.services.runtime import Runtime


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def account() -> str:
    """The account of ``runtime`` (tests/unit/conftest.py)."""
    return ACCOUNT


@pytest.fixture
def call(runtime: Runtime, clock: FixedClock) -> Call:
    """``call("CreateUser", UserName="bob", caller=...)`` → the handler's output dict."""

    def run(operation: str, caller: Caller | None = None, **params: Any) -> dict[str, Any]:
        spec = lookup("iam", operation)
        assert spec is not None, f"iam:{operation} is not registered"
        info = RequestInfo("req-1", clock.now(), "127.0.0.1", "pytest", "us-east-1")
        ctx = OperationContext(runtime, caller or root_caller(), info, operation=operation)
        result = spec.handler(ctx, params)
        assert ctx.authorized, f"{operation} returned without authorizing"
        return result

    return run


@pytest.fixture
def user_with_policy(runtime: Runtime, call: Call) -> Callable[[str, str | None], Caller]:
    """Create a user (optionally with an inline policy) and return it as a caller."""

    def make(name: str, policy: str | None = None) -> Caller:
        call("CreateUser", UserName=name)
        if policy is not None:
            call("PutUserPolicy", UserName=name, PolicyName="inline", PolicyDocument=policy)
        return user_caller(runtime, name)

    return make
