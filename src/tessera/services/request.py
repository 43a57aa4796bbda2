"""What every operation handler receives, and the registry that maps operations to handlers.

A handler is a plain function ``handler(ctx: OperationContext, params: dict) -> dict``
registered with ``@operation("iam", "CreateUser")``. ``params`` are the already
validated input members (botocore shape names, e.g. ``params["UserName"]``); the
returned dict follows the operation's output shape and is serialised at the edge.

A handler authorizes itself with ``ctx.authorize(action, resource, …)`` before it reads
or changes anything the caller names — the resource ARN often depends on state (a
user's path), so only the handler can compute it. The dispatcher refuses to return a
result from a handler that never authorized (unless registered ``authorize=False``,
which only GetCallerIdentity-like calls are), so forgetting is a 500, not a hole.

Writes go through ``ctx.write(*scopes)``; on commit the in-memory view is refreshed
for the scopes written, so the next request sees the change (if that refresh fails, the
write still succeeds and the scopes are reloaded before they are read again).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tessera.auth.caller import Caller
from tessera.policy import Decision
from tessera.services import authorization
from tessera.services.request_info import RequestInfo
from tessera.services.runtime import Runtime
from tessera.store.base import Transaction

__all__ = ["Handler", "OperationContext", "OperationSpec", "RequestInfo", "lookup", "operation", "registered"]

Handler = Callable[["OperationContext", dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class OperationSpec:
    service: str  # "iam" | "sts" | "organizations" | "tessera-authz"
    name: str  # AWS operation name, e.g. "CreateUser"
    handler: Handler
    authorize: bool = True  # False only for calls AWS never authorizes (GetCallerIdentity)
    inline: bool = False  # True: no store I/O, safe to run on the event loop
    read_only: bool = False
    inline_unless: tuple[str, ...] = ()  # input members whose presence means store I/O

    def runs_inline(self, params: Mapping[str, Any]) -> bool:
        """Whether this request may run on the event loop: ``inline`` operations run
        there unless a member named in ``inline_unless`` is present (AssumeRole is pure
        in-memory except when an MFA code must be checked and consumed)."""
        return self.inline and not any(params.get(name) for name in self.inline_unless)


_REGISTRY: dict[tuple[str, str], OperationSpec] = {}


def operation(
    service: str,
    name: str,
    *,
    authorize: bool = True,
    inline: bool = False,
    read_only: bool = False,
    inline_unless: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        key = (service, name)
        if key in _REGISTRY:
            raise RuntimeError(f"operation {service}:{name} registered twice")
        _REGISTRY[key] = OperationSpec(service, name, fn, authorize, inline, read_only, inline_unless)
        return fn

    return register


def lookup(service: str, name: str) -> OperationSpec | None:
    return _REGISTRY.get((service, name))


def registered() -> list[OperationSpec]:
    return list(_REGISTRY.values())


@dataclass
class OperationContext:
    runtime: Runtime
    caller: Caller
    info: RequestInfo
    operation: str = ""
    authorized: bool = False
    decisions: list[Decision] = field(default_factory=list)
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    kind_cleared: set[str] = field(default_factory=set)  # see authorization.refuse_session_kind
    audit_data: dict[str, Any] | None = None  # recorded as the audit event's ``additionalEventData``
    _base_context: dict[str, object] | None = None

    @property
    def now(self) -> dt.datetime:
        return self.info.received_at

    def base_context(self) -> dict[str, object]:
        """The global condition keys of this request, computed on first use."""
        keys = self._base_context
        if keys is None:
            keys = self._base_context = authorization.base_context(self)
        return keys

    def authorize(
        self,
        action: str,
        resource: str,
        *,
        resource_account: str | None = None,
        context: Mapping[str, object] | None = None,
        resource_policy: Any = None,
    ) -> Decision:
        """Decide ``action`` on ``resource`` for the caller; raise AccessDenied unless allowed."""
        decision = authorization.authorize(self, action, resource, resource_account, context, resource_policy)
        self.authorized = True
        return decision

    @contextmanager
    def write(self, *scopes: str) -> Iterator[Transaction]:
        """A store transaction over ``scopes``; the view is refreshed after commit. Once
        committed the write answers success: a failed refresh only marks the view stale."""
        with self.runtime.store.write(*scopes) as tx:
            yield tx
        self.runtime.view.refresh_committed(scopes)
