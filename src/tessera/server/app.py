"""The ASGI application: authenticate → parse → dispatch → authorize → encode.

This is the one place where ``TesseraError`` becomes a wire error (through
``tessera.protocol``); anything else is logged with its traceback and answered with a
bare 500 ``InternalFailure`` that reveals nothing.

``/metrics`` is served only on the separate listener given by ``--metrics-listen``,
which serves nothing else but ``/healthz`` and ``/readyz``; the API listener never serves it.

Routes: ``GET /healthz`` (liveness: no auth, no secrets), ``GET /readyz`` (readiness,
from in-memory indicators only: no auth, no secrets), ``GET /metrics`` (Prometheus text),
``GET /workload-credentials`` (container credentials for an OIDC token:
``server/workload.py``), and everything else is an AWS API call — awsJson1_1 when
``X-Amz-Target`` is present (Organizations, CloudTrail, or Tessera's authorization API,
told apart by the target's prefix), the Query protocol otherwise (IAM and STS, told apart by
``Version``); the credential scope of the signature must name that same service (its
signing name). AssumeRoleWithWebIdentity and AssumeRoleWithSAML are also served unsigned
(``_unsigned_operation``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from tessera.audit import retention
from tessera.audit.events import bounded, build_event
from tessera.audit.ids import new_id
from tessera.audit.sink import UNAVAILABLE_MESSAGE, AuditUnavailable, AuditWriter
from tessera.auth.authenticate import AuthSettings, HttpRequest, Verified, check_service, headers_from_raw, verify
from tessera.auth.caller import Caller
from tessera.console.app import Console
from tessera.console.calls import client_form, client_request
from tessera.console.web import PREFIX as CONSOLE_PREFIX
from tessera.errors import (
    InternalFailure,
    InvalidAction,
    MalformedRequest,
    MissingAuthenticationToken,
    RequestEntityTooLarge,
    ServiceUnavailable,
    TesseraError,
)
from tessera.protocol.errors import client_visible, render_json_error, render_query_error
from tessera.protocol.json import JSON_SERVICES, encode_json_response, json_service, read_json_request, resolve_json_operation
from tessera.protocol.model import service_spec
from tessera.protocol.query import (
    QUERY_JSON_CONTENT_TYPE,
    answers_json,
    encode_query_response,
    encode_query_response_json,
    read_form,
    read_query_params,
    read_sent_form,
    resolve_query_action,
    resolve_query_operation,
)
from tessera.server import heap, workload
from tessera.server.addresses import SourceAddress
from tessera.server.http import declared_length
from tessera.server.logs import ACCESS_LOGGER
from tessera.server.metrics import ServerMetrics
from tessera.server.unsigned import may_be_unsigned
from tessera.service_models import SERVICE_NAMES, Operation, signing_name
from tessera.services.credentials import credential_resolver
from tessera.services.keys import current_keyring
from tessera.services.operations import lookup
from tessera.services.request import NeedsThread, OperationContext, OperationSpec, RequestInfo, needs_thread
from tessera.services.runtime import WORKER_THREADS, Runtime
from tessera.services.sts import ANONYMOUS, authorization_message_headers
from tessera.services.sts.web_identity import anonymous
from tessera.store.base import BackendError
from tessera.store.guard import LOOP_GUARD
from tessera.store.notify import ChangeWatcher, OnChange

log = logging.getLogger("tessera.server")
access_log = logging.getLogger(ACCESS_LOGGER)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

QUERY_VERSIONS = {"2011-06-15": "sts", "2010-05-08": "iam"}
XML = b"text/xml"
JSON = b"application/x-amz-json-1.1"
QUERY_JSON = QUERY_JSON_CONTENT_TYPE.encode()
INLINE_BODY_BYTES = 16 * 1024
"""Bodies larger than this are decoded off the event loop: the worst 1 MiB body (some
116 000 tiny parameters) takes ~60 ms to decode and validate, ~1 ms per 16 KiB."""
STORE_FAILURE_WINDOW = 30.0
"""Seconds during which a store failure (with no success since) makes ``/readyz`` not ready."""
_T = TypeVar("_T")
_CONSOLE_PATHS = CONSOLE_PREFIX + "/"
_WARM_UP = [lambda name=name: service_spec(name) for name in SERVICE_NAMES]
"""Long-lived data built on first use, loaded before the heap is settled."""


@dataclass(slots=True)  # one per request: slots make its 30 fields cheaper to set and read
class Exchange:
    """One request as it moves through the pipeline (for audit, metrics and logs).
    ``TesseraApp._exchange`` gives its first fields by position: keep their order."""

    request_id: str
    started: float
    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes
    source_ip: str
    secure: bool = False  # arrived over TLS
    protocol: str = "query"  # "query" | "json"
    service: str = "iam"
    operation: str = ""
    region: str = "us-east-1"
    caller: Caller | None = None
    access_key_id: str = ""
    params: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: TesseraError | None = None
    resolved: Operation | None = None  # the wire operation, resolved once by ``_prepare``
    spec: OperationSpec | None = None  # its handler
    extra_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    encoded: tuple[int, bytes, bytes] | None = None  # the answer, when encoded off the event loop
    event_id: str = ""  # the audit event's, drawn with the request id
    received_at: dt.datetime | None = None  # the event's time, read once authenticated
    audited: bool = False  # its complete event is already committed (durable_audit)
    unaudited: bool = False  # refused because the trail cannot be written: no event
    audit_data: dict[str, Any] | None = None  # the event's ``additionalEventData``, from the handler
    audit_request: dict[str, Any] | None = None  # requestParameters the handler adds
    audit_resources: list[dict[str, str]] | None = None  # the event's ``resources``, from the handler
    console: bool = False  # made by the console for its signed-in principal (``call_as``)


class TesseraApp:
    def __init__(
        self,
        runtime: Runtime,
        *,
        audit: AuditWriter,
        metrics: ServerMetrics,
        poll_interval: float = 1.0,
        access_log_enabled: bool = True,
        trusted_proxy_header: str | None = None,
        source_address: SourceAddress | None = None,
        metrics_port: int | None = None,
        audit_retention: dt.timedelta | None = None,
        watch_changes: Callable[[OnChange], ChangeWatcher] | None = None,
        console: bool = True,
    ) -> None:
        self.runtime = runtime
        self.audit = audit
        self.metrics = metrics
        self.resolver = credential_resolver(runtime)
        self.auth_settings = AuthSettings(
            services=frozenset(signing_name(name) for name in SERVICE_NAMES),
            debug=runtime.settings.debug_signatures,
        )
        self.poll_interval = poll_interval
        self.access_log_enabled = access_log_enabled
        self.source_address = source_address or SourceAddress(trusted_proxy_header)
        self.metrics_port = metrics_port
        self.audit_retention = audit_retention
        self._pruner: asyncio.Task[None] | None = None
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="tessera-op")
        self._poller: asyncio.Task[None] | None = None
        self._watch_changes = watch_changes
        self._watcher: ChangeWatcher | None = None
        self._changed = asyncio.Event()  # set when another node may have written
        self._notices: dict[str, int] | None = {}  # what moved, by change notices; None: anything
        self._notices_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        # readiness indicators (``/readyz``), monotonic seconds
        self.poll_ok = True
        self.store_failed_at: float | None = None
        self.store_succeeded_at: float | None = None
        self.console = Console(self) if console else None

    # -- ASGI ------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                frozen = heap.settle(_WARM_UP)
                log.debug("%d start-up objects frozen out of the cycle collector's walks", frozen)
                self.audit.start()
                self._loop = asyncio.get_running_loop()
                self._poller = self._loop.create_task(self._poll_forever())
                if self.audit_retention is not None:
                    self._pruner = self._loop.create_task(self._prune_forever(self.audit_retention))
                if self._watch_changes is not None:
                    self._watcher = self._watch_changes(self._on_change)
                    self._watcher.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in (self._poller, self._pruner):
                    if task is not None:
                        task.cancel()
                if self._watcher is not None:
                    await asyncio.get_running_loop().run_in_executor(None, self._watcher.stop)
                await asyncio.get_running_loop().run_in_executor(None, self.shutdown)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def shutdown(self) -> None:
        """Finish queued work, flush last-use notes and the audit trail (in-flight
        requests are done by now)."""
        self.executor.shutdown(wait=True)
        self._flush_usage()
        self.audit.close()

    def _flush_usage(self) -> None:
        if self.runtime.usage is not None:
            try:
                self.runtime.usage.flush()
            except Exception:  # last use is advisory: a failed write must not stop the server
                log.exception("recording last use of keys and roles failed")

    def _on_change(self, generations: Mapping[str, int] | None) -> None:
        """A change notice (from the watcher's thread): wake the refresher unless the
        view already holds every generation it names (this node's own writes)."""
        if generations is not None and not self.runtime.view.behind(generations):
            return
        with self._notices_lock:
            if generations is None or self._notices is None:
                self._notices = None
            else:
                for scope, generation in generations.items():
                    self._notices[scope] = max(generation, self._notices.get(scope, generation))
        loop, changed = self._loop, self._changed
        if loop is not None and not changed.is_set():
            loop.call_soon_threadsafe(changed.set)

    async def _poll_forever(self) -> None:
        """Pick up writes made by other nodes sharing the database: at once when a change
        notice wakes us, and every ``poll_interval`` regardless (notices are an
        optimisation; polling is what keeps the view correct). Notices arriving while a
        poll runs are coalesced into one more poll. The last-use notes are written on the
        ``poll_interval`` cadence."""
        loop = self._loop = asyncio.get_running_loop()
        changed = self._changed
        next_flush = loop.time() + self.poll_interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), max(0.0, next_flush - loop.time()))
            changed.clear()
            with self._notices_lock:
                moved, self._notices = self._notices, {}
            flush_due = loop.time() >= next_flush
            try:
                # the scopes notices named, unless a poll of every scope is due or owed
                await loop.run_in_executor(None, self.runtime.view.poll, None if flush_due or not moved else moved)
                self.poll_ok = True
            except Exception:  # a transient database error must not stop polling
                self.poll_ok = False
                log.exception("refreshing the state view failed")
            if flush_due:
                await loop.run_in_executor(None, self._flush_usage)
                next_flush = loop.time() + self.poll_interval

    async def _prune_forever(self, keep: dt.timedelta) -> None:
        """Delete audit events older than ``keep``: at start-up, then every
        ``retention.PRUNE_INTERVAL`` seconds, in small batches off the request path."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                deleted = await loop.run_in_executor(None, retention.prune, self.runtime.store, self.runtime.clock.now(), keep)
                if deleted:
                    log.info("deleted %d audit events older than the retention period", deleted)
            except Exception:  # a transient database error: the next round deletes them
                log.exception("deleting old audit events failed")
            await asyncio.sleep(retention.PRUNE_INTERVAL)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "/")
        method = scope.get("method", "GET")
        if method == "GET":
            if path == "/healthz":
                await _respond(send, 200, b"application/json", b'{"status":"ok"}', [])
                return
            if path == "/readyz":
                status, body = await self.readiness()
                await _respond(send, status, b"application/json", body, [])
                return
        if self.metrics_port is not None and _local_port(scope) == self.metrics_port:
            if method == "GET" and path == "/metrics":
                await _respond(send, 200, self.metrics.content_type.encode(), self.metrics.render(), [])
            else:
                await _respond(send, 404, b"text/plain", b"Not Found", [])
            return
        if method == "GET" and path == workload.PATH:
            await self._workload(scope, send)
            return
        if self.console is not None and (path == CONSOLE_PREFIX or path.startswith(_CONSOLE_PATHS)):
            ex = self._exchange(scope, method, path)
            await self.console.handle(
                scope,
                receive,
                send,
                headers=ex.headers,
                source_ip=ex.source_ip,
                secure=ex.secure,
                raw_query=ex.raw_query,
                declared=declared_length(scope["headers"]),
            )
            return
        ex = self._exchange(scope, method, path)
        limit = self.runtime.settings.max_body_bytes
        try:
            if declared_length(scope["headers"]) > limit:  # refused before any of it is read
                raise _too_large(limit)
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected()
            body = message.get("body", b"")
            if message.get("more_body", False):
                ex.body = await _read_body(receive, limit, body)
            elif len(body) > limit:
                raise _too_large(limit)
            else:  # the whole body in one message: as almost every request's
                ex.body = body if type(body) is bytes else b"".join((body,))
        except RequestEntityTooLarge as error:
            ex.error = error
        except _Disconnected:
            return  # the client left (or was timed out) before its body arrived: nothing to do
        if ex.error is None:
            if not self.audit.accepting:
                # the trail cannot be written: serve nothing unaudited, queue nothing more
                ex.error, ex.unaudited = ServiceUnavailable(UNAVAILABLE_MESSAGE), True
            else:
                # a plain call when the request runs on the event loop: the thread pool
                # is awaited only when it must run
                pooled = self._inline(ex)
                if pooled is not False:
                    await asyncio.get_running_loop().run_in_executor(self.executor, self._run, ex, pooled)
                if ex.error is None and ex.spec is not None and ex.spec.durable_audit:
                    await self._commit_event(ex)
        status, content_type, body = ex.encoded or self._encode(ex)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-amzn-requestid", ex.request_id.encode()),
                    *ex.extra_headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self._record(ex, status)

    async def _workload(self, scope: Scope, send: Send) -> None:
        """``GET /workload-credentials``: AssumeRoleWithWebIdentity for a container
        credentials client, on the event loop as the STS call runs, or in the thread pool
        when the provider's keys must be fetched (``NeedsThread``: run again there from
        the start) or the view owes a reload."""
        ex = self._exchange(scope, "GET", workload.PATH)
        ex.service, ex.operation, ex.caller = "sts", workload.OPERATION, anonymous()
        if not self.audit.accepting:
            # the trail cannot be written: no credentials unaudited (as for the STS call)
            ex.error, ex.unaudited = ServiceUnavailable(UNAVAILABLE_MESSAGE), True
        else:
            if self.runtime.view.has_stale or not self._workload_inline(ex):
                await asyncio.get_running_loop().run_in_executor(self.executor, self._run_workload, ex)
            if ex.error is None and ex.result is not None:
                await self._commit_event(ex)  # answered only once the fetch's event is committed
        if ex.error is not None or ex.result is None or ex.caller is None:
            status, body = workload.error_body(ex.error or InternalFailure())
        else:
            status, body = 200, workload.credentials_body(ex.result, ex.caller.account)
        content_type = b"application/json"
        await _respond(send, status, content_type, body, [(b"x-amzn-requestid", ex.request_id.encode())])
        self._record(ex, status)

    def _workload_inline(self, ex: Exchange) -> bool:
        """The fetch on the event loop; False when it needs blocking I/O after all."""
        LOOP_GUARD.enter()  # no store I/O on the event loop (tessera.store.guard)
        try:
            self._run_workload(ex)
        except NeedsThread:
            return False
        finally:
            LOOP_GUARD.leave()
        return True

    def _run_workload(self, ex: Exchange) -> None:
        def fetch() -> None:
            # the operation first, so that a fetch refused before its parameters are read is
            # still recorded as the STS call it stands for
            resolved = ex.resolved = resolve_query_operation("sts", workload.OPERATION_FORM)
            ex.spec = lookup("sts", resolved.name)
            assert ex.spec is not None and ex.spec.unsigned  # INVARIANT: registered by services.sts
            form, absent = workload.sts_form(ex.raw_query, ex.headers.get("authorization"))
            ex.params = read_query_params(resolved, form)
            for name in absent:  # the handler resolves the role, then deals with them
                del ex.params[name]
            if not ex.spec.runs_inline(ex.params):
                needs_thread()  # on the event loop: store I/O ahead, run again in the pool
            info = RequestInfo(
                request_id=ex.request_id,
                received_at=self.runtime.clock.now(),
                source_ip=ex.source_ip,
                user_agent=ex.headers.get("user-agent", ""),
                region=ex.region,
                secure_transport=ex.secure,
            )
            ctx = OperationContext(runtime=self.runtime, caller=anonymous(), info=info, operation=resolved.name)
            self._execute(ex, ctx)

        self._guarded(ex, fetch)

    def _exchange(self, scope: Scope, method: str, path: str) -> Exchange:
        headers = headers_from_raw(scope.get("headers", ()))
        client = scope.get("client") or ("", 0)
        resolver = self.source_address
        forwarded = headers.get(resolver.header) if resolver.header else None
        source_ip = resolver.resolve(client[0] or "", forwarded)
        raw_query = scope.get("query_string", b"").decode("latin-1")
        raw_path = scope.get("raw_path")
        # by position (as the fields are declared): keywords cost ~4 500 instructions more
        ex = Exchange(
            new_id(),  # request_id
            time.perf_counter(),  # started
            method,
            raw_path.decode("latin-1") if raw_path else path,
            raw_query,
            headers,
            b"",  # body
            source_ip,
            scope.get("scheme") == "https",  # secure
        )
        ex.event_id = new_id()
        return ex

    # -- the pipeline ------------------------------------------------------------------
    def _inline(self, ex: Exchange) -> OperationContext | None | Literal[False]:
        """Run the request on the event loop only when it is cheap: a large body (its
        decoding and validation alone can take tens of milliseconds) or a handler with
        store I/O runs, with the encoding of its answer, in the thread pool; so does every
        request while the view owes a reload (a failed refresh after a commit), since
        authentication's first read then reloads from the store, and an inline handler
        that finds it needs blocking I/O (``NeedsThread``: an identity provider's keys to
        fetch) is run again there.

        False when the request is done here; else what ``_run`` is to be given in the
        thread pool (None: the request is still to be prepared)."""
        if len(ex.body) > INLINE_BODY_BYTES or self.runtime.view.has_stale:
            return None
        LOOP_GUARD.enter()  # no store I/O on the event loop (tessera.store.guard)
        try:
            ctx = self._guarded(ex, self._prepare, ex)
            spec = ex.spec
            inline = ctx is not None and spec is not None and ex.params is not None and spec.runs_inline(ex.params)
            if ctx is not None and inline:
                try:
                    self._guarded(ex, self._execute, ex, ctx)
                except NeedsThread:  # blocking I/O after all: the handler runs again in the pool
                    inline = False
        finally:
            LOOP_GUARD.leave()
        return ctx if ctx is not None and not inline else False

    def _run(self, ex: Exchange, ctx: OperationContext | None) -> None:
        """The pipeline off the event loop: prepare (unless done), execute, encode."""
        if ctx is None:
            ctx = self._guarded(ex, self._prepare, ex)
        if ctx is not None:
            self._guarded(ex, self._execute, ex, ctx)
        ex.encoded = self._encode(ex)

    def _guarded(self, ex: Exchange, step: Callable[..., _T], *args: Any) -> _T | None:
        """``step(*args)``, with a ``TesseraError`` kept as the answer and anything else
        logged and answered as a bare InternalFailure (a store failure as a 503
        ServiceUnavailable saying what failed); None when it raised."""
        try:
            return step(*args)
        except NeedsThread:
            raise
        except TesseraError as error:
            ex.error = error
        except BackendError as error:
            self.store_failed_at = time.monotonic()
            log.warning("request %s: the store failed: %s", ex.request_id, error, extra={"request_id": ex.request_id})
            ex.error = client_visible(error)
        except Exception:
            log.exception("request %s failed", ex.request_id, extra={"request_id": ex.request_id})
            ex.error = InternalFailure()
        return None

    async def readiness(self) -> tuple[int, bytes]:
        """``/readyz``: 200 when every check passes, 503 otherwise, with each check's
        result. Reads in-memory indicators only; the keyring, when its cache must be
        rebuilt, is opened in the thread pool (never store I/O on the event loop)."""
        # first: opening the keyring may reload a stale view (in the thread pool)
        try:
            cache = self.runtime.token_keyring
            keyring = cache.cached(self.runtime.clock.now()) if cache is not None else None
            if keyring is None:
                keyring = await asyncio.get_running_loop().run_in_executor(self.executor, current_keyring, self.runtime)
            keys = (True, f"{len(keyring.keys)} token key(s) open")
        except Exception as error:  # reported as not ready; the cause goes to the log only
            log.warning("readiness: the session-token keyring could not be opened: %s", type(error).__name__)
            keys = (False, "the session-token keyring could not be opened")
        view = self.runtime.view
        stale = view.stale_scopes
        if stale:
            reads = (False, f"{len(stale)} scope(s) owe a reload from the store")
        elif not self.poll_ok:
            reads = (False, "the last refresh of the state view failed")
        else:
            reads = (True, "the state view is current")
        failed, succeeded = self.store_failed_at, self.store_succeeded_at
        if failed is not None and time.monotonic() - failed < STORE_FAILURE_WINDOW and (succeeded is None or succeeded < failed):
            writes = (False, f"the store failed within the last {STORE_FAILURE_WINDOW:g} seconds")
        else:
            writes = (True, "no recent store failure")
        if not self.audit.healthy:
            audit = (False, "the last audit write failed: requests are refused")
        elif not self.audit.accepting:
            audit = (False, f"{self.audit.backlog} audit events wait to be written: requests are refused")
        else:
            audit = (True, "the audit trail is being written")
        checks = {
            "store_reads": reads,
            "store_writes": writes,
            "audit": audit,
            "signing_keys": keys,
        }
        ready = all(ok for ok, _ in checks.values())
        body = {"ready": ready, "checks": {name: {"ok": ok, "detail": detail} for name, (ok, detail) in checks.items()}}
        return (200 if ready else 503), json.dumps(body).encode()

    def _prepare(self, ex: Exchange) -> OperationContext:
        """Authenticate, then parse and validate: everything before the handler.

        Nothing of the body is parsed before the signature is verified (an unauthenticated
        request costs a SHA-256 of the body, never a decode of it): the service is only
        guessed beforehand, for the error an unauthenticated request gets. After
        verification the service comes from the request (``X-Amz-Target`` for
        Organizations and the authorization API, ``Version`` for IAM and STS) and must be
        the credential scope's (its signing name)."""
        target = ex.headers.get("x-amz-target")
        if target is not None:
            ex.protocol, ex.service = "json", json_service(target)
        else:
            ex.service = _service_hint(ex.raw_query, ex.body)
        now = ex.received_at = self.runtime.clock.now()
        request = HttpRequest(ex.method, ex.path, ex.raw_query, ex.headers, ex.body)
        form: list[tuple[str, str]] | None = None
        try:
            verified = verify(request, now, self.resolver, self.auth_settings)
        except MissingAuthenticationToken:
            unsigned = _unsigned_operation(ex)
            if unsigned is None:
                raise
            named, form = unsigned  # decoded once: the request is parsed from this form
            # until its handler verifies the credential the request carries
            caller = anonymous() if named.name == "AssumeRoleWithWebIdentity" else ANONYMOUS
            verified = Verified(caller=caller, access_key_id="", region=ex.region, service="sts", signed_headers=())
        ex.caller = verified.caller
        ex.access_key_id = verified.access_key_id
        ex.region = verified.region
        if ex.protocol == "json":
            ex.operation = (target or "").rpartition(".")[2]
        else:
            if form is None:
                if verified.sent_query is not None:  # a presigned query, split once already
                    form = read_sent_form(verified.sent_query, ex.body, ex.headers.get("content-type"))
                else:
                    form = read_form(ex.body, ex.headers.get("content-type"), ex.raw_query)
            version, ex.operation = _version_and_action(form)
            ex.service = QUERY_VERSIONS.get(version) or (verified.service if verified.service in ("iam", "sts") else "iam")
        check_service(verified, signing_name(ex.service))
        if self.runtime.usage is not None and verified.access_key_id:
            self.runtime.usage.note(verified.caller, ex.service, ex.region, now)
        # the operation is resolved here, once; the parser, the encoder and the audit
        # event read ``ex.resolved``
        if ex.protocol == "json":
            resolved = resolve_json_operation(target, ex.service)
            ex.operation = resolved.name
            ex.params = read_json_request(resolved, ex.body)
        else:
            assert form is not None  # INVARIANT: a Query request's form is read above
            resolved = resolve_query_action(ex.service, ex.operation, version)  # as read above
            ex.operation = resolved.name
            ex.params = read_query_params(resolved, form)
        ex.resolved = resolved
        return self._context(ex, verified.caller, now)

    def _context(self, ex: Exchange, caller: Caller, now: dt.datetime) -> OperationContext:
        """The resolved operation's handler and the context it runs in, for a signed
        request or a console call alike."""
        resolved = ex.resolved
        assert resolved is not None  # INVARIANT: both callers resolve the operation first
        spec = lookup(ex.service, resolved.name)
        if spec is None:
            raise InvalidAction(f"Could not find operation {ex.operation} for version {_version(ex.service)}")
        ex.spec = spec
        info = RequestInfo(
            request_id=ex.request_id,
            received_at=now,
            source_ip=ex.source_ip,
            user_agent=ex.headers.get("user-agent", ""),
            region=ex.region,
            secure_transport=ex.secure,
        )
        ctx = OperationContext(runtime=self.runtime, caller=caller, info=info, operation=ex.operation)
        ctx.audit_event = lambda: self._event(ex, complete=False)
        return ctx

    def _execute(self, ex: Exchange, ctx: OperationContext) -> None:
        spec = ex.spec
        assert spec is not None and ex.params is not None  # INVARIANT: set by _prepare
        try:
            result = spec.handler(ctx, ex.params)
        except TesseraError as error:
            ex.caller = ctx.caller  # an unsigned caller is identified by its handler
            ex.audit_data = ctx.audit_data
            ex.audit_request, ex.audit_resources = ctx.audit_request, ctx.audit_resources
            self._note_store_success()
            ex.error = error
            ex.extra_headers.extend(authorization_message_headers(ctx, error))
            return
        if spec.authorize and not ctx.authorized:
            raise RuntimeError(f"handler for {spec.service}:{spec.name} returned without authorizing")
        ex.caller = ctx.caller
        self._note_store_success()
        ex.result = result
        ex.audit_data = ctx.audit_data
        ex.audit_request, ex.audit_resources = ctx.audit_request, ctx.audit_resources
        ex.extra_headers.extend(ctx.response_headers)

    def _note_store_success(self) -> None:
        """A handler that ran off the event loop (where store I/O happens) finished
        without a store failure (for ``/readyz``)."""
        if LOOP_GUARD.thread != threading.get_ident():
            self.store_succeeded_at = time.monotonic()

    def _encode(self, ex: Exchange) -> tuple[int, bytes, bytes]:
        if ex.error is not None:
            if ex.protocol == "json":
                status, body = render_json_error(ex.error)
                return status, JSON, body
            status, body = render_query_error(ex.service, ex.error, ex.request_id)
            return status, XML, body
        try:
            resolved = ex.resolved
            assert resolved is not None  # INVARIANT: a result means the operation was resolved
            if ex.protocol == "json":
                return 200, JSON, encode_json_response(resolved, ex.result or {})
            if answers_json(resolved.service, resolved.name, ex.headers.get("accept")):  # identity verifiers
                return 200, QUERY_JSON, encode_query_response_json(resolved, ex.result or {}, ex.request_id)
            return 200, XML, encode_query_response(resolved, ex.result or {}, ex.request_id)
        except Exception:
            log.exception("serialising %s failed", ex.operation, extra={"request_id": ex.request_id})
            ex.error = InternalFailure()
            return self._encode(ex)

    # -- the console's calls -------------------------------------------------------------
    def call_as(
        self,
        caller: Caller,
        service: str,
        operation: str,
        params: Mapping[str, Any],
        *,
        source_ip: str,
        user_agent: str,
        secure: bool,
    ) -> Exchange:
        """One API call the console makes for its signed-in principal, in a worker thread:
        the parameters are serialised as a client would send them and read back by the
        same parser (so the same validation and errors), then authorized, run and
        audited exactly as a signed request of ``caller``'s credentials, save that the
        signature is the console session's (verified when the page was asked for) and
        the event says ``sessionCredentialFromConsole``."""
        ex = Exchange(
            request_id=new_id(),
            event_id=new_id(),
            started=time.perf_counter(),
            method="POST",
            path="/",
            raw_query="",
            headers={"user-agent": user_agent},
            body=b"",
            source_ip=source_ip,
            secure=secure,
            protocol="json" if service in JSON_SERVICES else "query",
            service=service,
            operation=operation,
            caller=caller,
            access_key_id=caller.access_key_id,
            console=True,
        )
        if not self.audit.accepting:
            ex.error, ex.unaudited = ServiceUnavailable(UNAVAILABLE_MESSAGE), True
        else:
            ctx = self._guarded(ex, self._prepare_call, ex, params)
            if ctx is not None:
                self._guarded(ex, self._execute, ex, ctx)
            if ex.error is None and ex.spec is not None and ex.spec.durable_audit:
                try:
                    self.audit.submit_durable(self._event(ex)).result()
                except AuditUnavailable:
                    ex.error, ex.result = ServiceUnavailable(UNAVAILABLE_MESSAGE), None
                else:
                    ex.audited = True
        self._record(ex, ex.error.status if ex.error is not None else 200)
        return ex

    def _prepare_call(self, ex: Exchange, params: Mapping[str, Any]) -> OperationContext:
        now = ex.received_at = self.runtime.clock.now()
        caller = ex.caller
        assert caller is not None  # INVARIANT: call_as names its caller
        if self.runtime.usage is not None and caller.access_key_id:
            self.runtime.usage.note(caller, ex.service, ex.region, now)
        if ex.protocol == "json":
            target, body = client_request(ex.service, ex.operation, params)
            resolved = resolve_json_operation(target, ex.service)
            ex.params = read_json_request(resolved, body)
        else:
            form = client_form(ex.service, ex.operation, params)
            resolved = resolve_query_operation(ex.service, form)
            ex.params = read_query_params(resolved, form)
        ex.resolved = resolved
        return self._context(ex, caller, now)

    # -- after the response --------------------------------------------------------------
    async def _commit_event(self, ex: Exchange) -> None:
        """Answer credentials only once their event is committed: await (never blocking
        the event loop) the writer's next group commit; if it fails, refuse with 503."""
        try:
            await asyncio.wrap_future(self.audit.submit_durable(self._event(ex)))
        except AuditUnavailable:
            log.warning("request %s: refused, its audit event could not be committed", ex.request_id, extra={"request_id": ex.request_id})
            ex.error, ex.result, ex.encoded, ex.extra_headers = ServiceUnavailable(UNAVAILABLE_MESSAGE), None, None, []
            return
        ex.audited = True

    def _event(self, ex: Exchange, *, complete: bool = True) -> dict[str, Any]:
        """The request's CloudTrail event. Not ``complete``: what a write commits with its
        change, before the answer is known (no response elements, no error); the writer
        replaces it with the complete event, of the same ``eventID``, after the answer.
        Only the incomplete event, which the write's own transaction inserts, is
        ``bounded`` here: the complete one goes to the writer, which bounds each event
        it writes (once: bounding it here too encoded every event twice)."""
        error = ex.error if complete else None
        spec = ex.spec
        event = build_event(
            service=ex.service,
            operation=_event_name(ex),
            resolved=ex.resolved if spec is not None else None,
            caller=ex.caller,
            access_key_id=ex.access_key_id,
            when=ex.received_at or self.runtime.clock.now(),
            region=ex.region,
            source_ip=ex.source_ip,
            user_agent=ex.headers.get("user-agent", ""),
            request_id=ex.request_id,
            params=ex.params,
            result=ex.result if complete else None,
            error_code=(error.json_code or error.code) if error and ex.protocol == "json" else (error.code if error else None),
            error_message=error.message if error else None,
            read_only=bool(spec and spec.read_only),
            # credentials are recorded (secrets hidden) even by a read-only call
            record_response=bool(spec and (not spec.read_only or spec.durable_audit)),
            event_id=ex.event_id,
            additional_data=ex.audit_data,
            extra_request=ex.audit_request,
            resources=ex.audit_resources,
            from_console=ex.console,
        )
        return event if complete else bounded(event)

    def _record(self, ex: Exchange, status: int) -> None:
        elapsed = time.perf_counter() - ex.started
        outcome = "success" if status < 400 else ("client_error" if status < 500 else "server_error")
        operation = _event_name(ex)
        self.metrics.observe(ex.service, operation, outcome, elapsed)
        error = ex.error
        if not (ex.audited or ex.unaudited):
            self.audit.submit(self._event(ex))
        if self.access_log_enabled:
            access_log.info(
                "%s %s %s",
                ex.service,
                operation,
                status,
                extra={
                    "request_id": ex.request_id,
                    "service": ex.service,
                    "operation": operation,
                    "status": status,
                    "principal": ex.caller.arn if ex.caller else "",
                    "source_ip": ex.source_ip,
                    "duration_ms": round(elapsed * 1000, 3),
                    "error_code": error.code if error else "",
                },
            )


def _event_name(ex: Exchange) -> str:
    """The operation served, else ``Unknown``: never arbitrary client text (a metric label)."""
    return ex.operation if ex.spec is not None else "Unknown"


def _service_hint(raw_query: str, body: bytes) -> str:
    """IAM or STS, guessed from the raw request without decoding it, only to render the
    error of a request that fails authentication in its service's namespace."""
    return "sts" if "Version=2011-06-15" in raw_query or body.find(b"Version=2011-06-15") >= 0 else "iam"


def _unsigned_operation(ex: Exchange) -> tuple[OperationSpec, list[tuple[str, str]]] | None:
    """The operation an unsigned request names if AWS serves it without a signature
    (``OperationSpec.unsigned``: AssumeRoleWithWebIdentity, AssumeRoleWithSAML), with the
    request's decoded form (which the request is then parsed from), else None. Only a
    Query request whose raw ``Action=`` item names such an operation, within the size and
    item count of a legal one (``server.unsigned``), is decoded to find out."""
    if ex.protocol != "query" or not may_be_unsigned(ex.raw_query, ex.body):
        return None
    try:
        form = read_form(ex.body, ex.headers.get("content-type"), ex.raw_query)
    except MalformedRequest:
        return None
    version, action = _version_and_action(form)
    spec = lookup(QUERY_VERSIONS.get(version, ""), action)
    return (spec, form) if spec is not None and spec.unsigned else None


def _version_and_action(form: list[tuple[str, str]]) -> tuple[str, str]:
    """The first ``Version`` and ``Action`` of a decoded form ("" when absent), in one pass."""
    version = action = None
    for name, value in form:
        if name == "Version":
            if version is None:
                version = value
                if action is not None:
                    break
        elif name == "Action" and action is None:
            action = value
            if version is not None:
                break
    return version or "", action or ""


def _version(service: str) -> str:
    """The service's API version, as its model gives it (``2010-05-08`` for IAM)."""
    return service_spec(service).api_version


class _Disconnected(Exception):
    """The connection closed before the whole body arrived."""


def _local_port(scope: Scope) -> int | None:
    """The port the connection arrived on. Listeners are told apart by port, never by
    address: a connection to a wildcard listener (``0.0.0.0``, ``::``) has the concrete
    local address it was made to, not the listener's."""
    server = scope.get("server")
    if not server or server[1] is None:
        return None
    return int(server[1])


def _too_large(limit: int) -> RequestEntityTooLarge:
    return RequestEntityTooLarge(f"Request body exceeds the limit of {limit} bytes")


async def _read_body(receive: Receive, limit: int, first: bytes) -> bytes:
    """The request body whose ``first`` chunk has arrived with more to follow; a partial
    body is never processed."""
    if len(first) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = [first]
    size = len(first)
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _respond(send: Send, status: int, content_type: bytes, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})
