"""A real runtime (SQLite store, view, secret box, token keys) with a fixed clock, plus
helpers to put IAM records in it and call STS (and other inline) handlers as the server would."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from policies import allow as allow
from policies import deny as deny
from policies import policy as doc  # noqa: F401  (re-exported: the STS tests build documents with it)
from policies import trust as trust

from tessera.arn import iam_arn, root_arn
from tessera.auth.caller import Caller
from tessera.auth.tokens import check_expiry, unseal
from tessera.clock import FixedClock
from tessera.server.bootstrap import open_runtime
from tessera.services import records as R
from tessera.services import sts  # noqa: F401  (registers the handlers)
from tessera.services.accounts import create_account
from tessera.services.keys import current_keyring
from tessera.services.request import NeedsThread, OperationContext, RequestInfo, lookup
from tessera.services.sts import session_caller
from tessera.store.guard import LOOP_GUARD

A = "111111111111"
B = "222222222222"
T0 = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
ROOT_KEY = "AKIAROOTROOTROOT0001"
ENV = {
    "TESSERA_ACCOUNT_ID": A,
    "TESSERA_ROOT_ACCESS_KEY_ID": ROOT_KEY,
    "TESSERA_ROOT_SECRET_ACCESS_KEY": "r" * 40,
    "TESSERA_MASTER_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
}


class World:
    def __init__(self, data_dir: Path) -> None:
        self.clock = FixedClock(T0)
        self.runtime = open_runtime(str(data_dir), env=ENV, clock=self.clock, out=io.StringIO())
        self._serial = 0

    # -- state ----------------------------------------------------------------------------
    def add_account(self, account: str) -> None:
        with self.runtime.store.write(account) as tx:
            create_account(tx, account, name=account, email="", now=self.clock.now())
        self.runtime.view.refresh([account])

    def add_user(
        self,
        name: str,
        *,
        account: str = A,
        policies: Mapping[str, str] | None = None,
        tags: Iterable[tuple[str, str]] = (),
        path: str = "/",
    ) -> Caller:
        data = {
            "name": name,
            "id": self._unique("AIDA"),
            "path": path,
            "arn": iam_arn(account, "user", path, name),
            "created": "2026-01-01T00:00:00Z",
            "tags": [{"Key": k, "Value": v} for k, v in tags],
            "inline_policies": dict(policies or {}),
            "attached": [],
            "boundary": None,
            "groups": [],
        }
        self._put(account, R.USER, name.lower(), data)
        return Caller("user", account, data["arn"], data["id"], name, "AKIA" + data["id"][4:20])

    def add_role(
        self,
        name: str,
        trust_policy: str,
        *,
        account: str = A,
        policies: Mapping[str, str] | None = None,
        tags: Iterable[tuple[str, str]] = (),
        max_session: int = 3600,
        path: str = "/",
    ) -> str:
        data = {
            "name": name,
            "id": self._unique("AROA"),
            "path": path,
            "arn": iam_arn(account, "role", path, name),
            "created": "2026-01-01T00:00:00Z",
            "trust_policy": trust_policy,
            "description": "",
            "max_session_duration": max_session,
            "boundary": None,
            "tags": [{"Key": k, "Value": v} for k, v in tags],
            "inline_policies": dict(policies or {}),
            "attached": [],
        }
        self._put(account, R.ROLE, name.lower(), data)
        return str(data["arn"])

    def put_role_policy(self, role: str, name: str, document: str, *, account: str = A) -> None:
        record = dict(self.runtime.view.account(account).role(role))  # type: ignore[union-attr]
        record["inline_policies"] = {**record["inline_policies"], name: document}
        self._put(account, R.ROLE, role.lower(), record)

    def add_managed_policy(self, name: str, document: str, *, account: str = A) -> str:
        arn = iam_arn(account, "policy", "/", name)
        data = {
            "name": name,
            "id": self._unique("ANPA"),
            "path": "/",
            "arn": arn,
            "created": "2026-01-01T00:00:00Z",
            "updated": "2026-01-01T00:00:00Z",
            "description": "",
            "tags": [],
            "default_version": "v1",
            "next_version": 2,
            "versions": {"v1": {"document": document, "created": "2026-01-01T00:00:00Z"}},
        }
        self._put(account, R.POLICY, name.lower(), data)
        return arn

    def role_id(self, name: str, *, account: str = A) -> str:
        return str(self.runtime.view.account(account).role(name)["id"])  # type: ignore[union-attr]

    def root(self, account: str = A) -> Caller:
        return Caller("root", account, root_arn(account), account, "", ROOT_KEY)

    # -- calls ------------------------------------------------------------------------------
    def context(self, caller: Caller, operation: str) -> OperationContext:
        info = RequestInfo(
            request_id="req-1",
            received_at=self.clock.now(),
            source_ip="203.0.113.5",
            user_agent="tests",
            region="us-east-1",
        )
        return OperationContext(runtime=self.runtime, caller=caller, info=info, operation=operation)

    def call(self, caller: Caller, operation: str, *, service: str = "sts", **params: Any) -> dict[str, Any]:
        spec = lookup(service, operation)
        assert spec is not None
        ctx = self.context(caller, operation)
        result: dict[str, Any] | None = None
        if spec.runs_inline(params):  # as on the server's event loop: no store I/O
            LOOP_GUARD.enter()
            try:
                result = spec.handler(ctx, params)
            except NeedsThread:  # blocking I/O after all: run again off the loop, as the server does
                result = None
            finally:
                LOOP_GUARD.leave()
        if result is None:
            result = spec.handler(ctx, params)
        assert ctx.authorized or not spec.authorize, f"{operation} returned without authorizing"
        return result

    def authenticate(self, credentials: Mapping[str, Any]) -> Caller:
        """What the server does with temporary credentials on every request."""
        claims = unseal(credentials["SessionToken"], current_keyring(self.runtime), credentials["AccessKeyId"])
        check_expiry(claims, self.clock.now())
        assert claims.secret_access_key == credentials["SecretAccessKey"]
        return session_caller(claims)

    def assume(self, caller: Caller, role_arn: str, session: str = "s1", **params: Any) -> Caller:
        result = self.call(caller, "AssumeRole", RoleArn=role_arn, RoleSessionName=session, **params)
        return self.authenticate(result["Credentials"])

    # -- internals --------------------------------------------------------------------------
    def _put(self, account: str, kind: str, key: str, data: Mapping[str, Any]) -> None:
        with self.runtime.store.write(account) as tx:
            tx.put(account, kind, key, data)
        self.runtime.view.refresh([account])

    def _unique(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}{self._serial:017d}"
