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
write still succeeds and the scopes are reloaded before they are read again). The
request's audit event (``ctx.audit_event``, built by the server) is inserted by that
same transaction, so a change is never committed without its event.

An operation that issues credentials (its output has a ``Credentials`` member:
AssumeRole, GetSessionToken, GetFederationToken, and any such operation registered
later) is ``durable_audit``: the server answers only once its event is committed.

An ``inline`` handler runs on the event loop; one that finds it needs blocking I/O
after all (AssumeRoleWithWebIdentity when the provider's keys must be fetched) calls
``needs_thread()`` before it has done anything but read, which raises ``NeedsThread``
there: the server then runs the handler again, from its start, in the thread pool.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tessera.auth.caller import Caller
from tessera.errors import ServiceUnavailable
from tessera.policy import Decision
from tessera.service_models import resolve_operation
from tessera.services import authorization
from tessera.services.request_info import RequestInfo
from tessera.services.runtime import Runtime
from tessera.store.base import BackendError, Transaction
from tessera.store.guard import LOOP_GUARD

__all__ = [
    "Handler",
    "NeedsThread",
    "OperationContext",
    "OperationSpec",
    "RequestInfo",
    "lookup",
    "needs_thread",
    "operation",
    "registered",
]

Handler = Callable[["OperationContext", dict[str, Any]], dict[str, Any]]

AUDIT_UNAVAILABLE = "The audit trail is unavailable: the change was not made. Retry later."


class NeedsThread(Exception):
    """An inline handler running on the event loop needs blocking I/O: run it again,
    from its start, in the thread pool (``needs_thread``)."""


def needs_thread() -> None:
    """Raise ``NeedsThread`` when running on the event loop (a step ``LOOP_GUARD``
    marks); return when blocking I/O is allowed here."""
    if LOOP_GUARD.active():
        raise NeedsThread()


@dataclass(frozen=True, slots=True)
class OperationSpec:
    service: str  # "iam" | "sts" | "organizations" | "tessera-authz"
    name: str  # AWS operation name, e.g. "CreateUser"
    handler: Handler
    authorize: bool = True  # False only for calls AWS never authorizes (GetCallerIdentity)
    inline: bool = False  # True: no store I/O, safe to run on the event loop
    read_only: bool = False
    inline_unless: tuple[str, ...] = ()  # input members whose presence means store I/O
    durable_audit: bool = False  # answered only once its audit event is committed
    # callable without a signature (AssumeRoleWithWebIdentity, AssumeRoleWithSAML): the
    # request carries its own credential
    unsigned: bool = False

    def runs_inline(self, params: Mapping[str, Any]) -> bool:
        """Whether this request may run on the event loop: ``inline`` operations run
        there unless a member named in ``inline_unless`` is present (AssumeRole is pure
        in-memory except when an MFA code must be checked and consumed)."""
        if not self.inline_unless:  # most operations: no generator to run
            return self.inline
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
    durable_audit: bool | None = None,
    unsigned: bool = False,
) -> Callable[[Handler], Handler]:
    """Register a handler. ``durable_audit`` defaults to whether the operation returns
    credentials (``issues_credentials``)."""

    def register(fn: Handler) -> Handler:
        key = (service, name)
        if key in _REGISTRY:
            raise RuntimeError(f"operation {service}:{name} registered twice")
        durable = issues_credentials(service, name) if durable_audit is None else durable_audit
        _REGISTRY[key] = OperationSpec(service, name, fn, authorize, inline, read_only, inline_unless, durable, unsigned)
        return fn

    return register


def issues_credentials(service: str, name: str) -> bool:
    """Whether the operation's output, in botocore's model, has a ``Credentials`` member."""
    resolved = resolve_operation(service, name)
    output = resolved.model.output_shape if resolved is not None else None
    return output is not None and "Credentials" in getattr(output, "members", {})


def lookup(service: str, name: str) -> OperationSpec | None:
    return _REGISTRY.get((service, name))


def registered() -> list[OperationSpec]:
    return list(_REGISTRY.values())


@dataclass(slots=True)  # one per request
class OperationContext:
    runtime: Runtime
    caller: Caller
    info: RequestInfo
    operation: str = ""
    authorized: bool = False
    decisions: list[Decision] = field(default_factory=list)
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    kind_cleared: set[str] = field(default_factory=set)  # see authorization.refuse_session_kind
    audit_event: Callable[[], dict[str, Any]] | None = None  # the event a write commits with its change
    audit_committed: bool = False  # a write has committed the event
    audit_data: dict[str, Any] | None = None  # recorded as the audit event's ``additionalEventData``
    # what the handler learnt that CloudTrail records beside the request's own parameters
    # (``roleSessionName`` of an assertion…) and the event's ``resources``
    audit_request: dict[str, Any] | None = None
    audit_resources: list[dict[str, str]] | None = None
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

    def authorize_federated(
        self,
        provider_arn: str,
        action: str,
        role_arn: str,
        role_account: str,
        context: Mapping[str, object],
        trust: Any,
    ) -> Decision:
        """Decide ``action`` on a role's trust policy for a caller federated by
        ``provider_arn``; raise AccessDenied unless allowed."""
        decision = authorization.authorize_federated(self, provider_arn, action, role_arn, role_account, context, trust)
        self.authorized = True
        return decision

    @contextmanager
    def write(self, *scopes: str) -> Iterator[Transaction]:
        """A store transaction over ``scopes``; the view is refreshed after commit. Once
        committed the write answers success: a failed refresh only marks the view stale.

        The request's audit event is inserted last, in the same transaction: if it
        cannot be, nothing is committed and the request is refused (503)."""
        with self.runtime.store.write(*scopes) as tx:
            yield tx
            if self.audit_event is not None and not self.audit_committed:
                try:
                    tx.append_audit([self.audit_event()])
                except BackendError as error:
                    raise ServiceUnavailable(AUDIT_UNAVAILABLE) from error
        if self.audit_event is not None:
            self.audit_committed = True
        self.runtime.view.refresh_committed(scopes)
