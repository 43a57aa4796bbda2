"""The ASGI application: authenticate → parse → dispatch → authorize → encode.

This is the one place where ``TesseraError`` becomes a wire error (through
``tessera.protocol``); anything else is logged with its traceback and answered with a
bare 500 ``InternalFailure`` that reveals nothing.

``/metrics`` is served only on the separate listener given by ``--metrics-listen``,
which serves nothing else but ``/healthz`` and ``/readyz``; the API listener never serves it.

Routes: ``GET /healthz`` (liveness: no auth, no secrets), ``GET /readyz`` (readiness,
from in-memory indicators only: no auth, no secrets), ``GET /metrics`` (Prometheus text),
and everything else is an AWS API call — awsJson1_1 when ``X-Amz-Target`` is present
(Organizations), the Query protocol otherwise (IAM and STS, told apart by
``Version``); the credential scope of the signature must name that same service.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tessera.audit.events import build_event
from tessera.audit.ids import new_id
from tessera.audit.sink import AuditWriter
from tessera.auth.authenticate import AuthSettings, HttpRequest, check_service, headers_from_raw, verify
from tessera.auth.caller import Caller
from tessera.errors import (
    InternalFailure,
    InvalidAction,
    RequestEntityTooLarge,
    TesseraError,
)
from tessera.protocol.errors import client_visible, render_json_error, render_query_error
from tessera.protocol.json import encode_json_response, read_json_request, resolve_json_operation
from tessera.protocol.model import service_spec
from tessera.protocol.query import (
    QUERY_JSON_CONTENT_TYPE,
    answers_json,
    encode_query_response,
    encode_query_response_json,
    read_form,
    read_query_params,
    resolve_query_operation,
)
from tessera.server import heap
from tessera.server.addresses import SourceAddress
from tessera.server.credentials import CredentialResolver
from tessera.server.http import declared_length
from tessera.server.logs import ACCESS_LOGGER
from tessera.server.metrics import ServerMetrics
from tessera.service_models import Operation
from tessera.services.keys import current_keyring
from tessera.services.operations import lookup
from tessera.services.request import OperationContext, OperationSpec, RequestInfo
from tessera.services.runtime import WORKER_THREADS, Runtime
from tessera.services.sts import authorization_message_headers
from tessera.store.base import BackendError
from tessera.store.guard import LOOP_GUARD

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
_WARM_UP = [lambda name=name: service_spec(name) for name in ("iam", "sts", "organizations")]
"""Long-lived data built on first use, loaded before the heap is settled."""


@dataclass
class Exchange:
    """One request as it moves through the pipeline (for audit, metrics and logs)."""

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
    ) -> None:
        self.runtime = runtime
        self.audit = audit
        self.metrics = metrics
        self.resolver = CredentialResolver(runtime)
        self.auth_settings = AuthSettings(debug=runtime.settings.debug_signatures)
        self.poll_interval = poll_interval
        self.access_log_enabled = access_log_enabled
        self.source_address = source_address or SourceAddress(trusted_proxy_header)
        self.metrics_port = metrics_port
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="tessera-op")
        self._poller: asyncio.Task[None] | None = None
        # readiness indicators (``/readyz``), monotonic seconds
        self.poll_ok = True
        self.store_failed_at: float | None = None
        self.store_succeeded_at: float | None = None

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
                self._poller = asyncio.get_running_loop().create_task(self._poll_forever())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._poller is not None:
                    self._poller.cancel()
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

    async def _poll_forever(self) -> None:
        """Pick up writes made by other nodes sharing the database."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.poll_interval)
            try:
                await loop.run_in_executor(None, self.runtime.view.poll)
                self.poll_ok = True
            except Exception:  # a transient database error must not stop polling
                self.poll_ok = False
                log.exception("refreshing the state view failed")
            await loop.run_in_executor(None, self._flush_usage)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "/")
        method = scope.get("method", "GET")
        if method == "GET" and path == "/healthz":
            await _respond(send, 200, b"application/json", b'{"status":"ok"}', [])
            return
        if method == "GET" and path == "/readyz":
            status, body = await self.readiness()
            await _respond(send, status, b"application/json", body, [])
            return
        if self.metrics_port is not None and _local_port(scope) == self.metrics_port:
            if method == "GET" and path == "/metrics":
                await _respond(send, 200, self.metrics.content_type.encode(), self.metrics.render(), [])
            else:
                await _respond(send, 404, b"text/plain", b"Not Found", [])
            return
        ex = self._exchange(scope, method, path)
        try:
            ex.body = await _read_body(receive, self.runtime.settings.max_body_bytes, declared_length(scope["headers"]))
        except RequestEntityTooLarge as error:
            ex.error = error
        except _Disconnected:
            return  # the client left (or was timed out) before its body arrived: nothing to do
        if ex.error is None:
            await self._process(ex)
        status, content_type, body = ex.encoded or self._encode(ex)
        headers = [(b"x-amzn-requestid", ex.request_id.encode()), *ex.extra_headers]
        await _respond(send, status, content_type, body, headers)
        self._record(ex, status)

    def _exchange(self, scope: Scope, method: str, path: str) -> Exchange:
        headers = headers_from_raw(scope.get("headers", ()))
        client = scope.get("client") or ("", 0)
        resolver = self.source_address
        forwarded = headers.get(resolver.header) if resolver.header else None
        source_ip = resolver.resolve(client[0] or "", forwarded)
        raw_query = scope.get("query_string", b"").decode("latin-1")
        return Exchange(
            request_id=new_id(),
            started=time.perf_counter(),
            method=method,
            path=scope.get("raw_path", path.encode()).decode("latin-1") if scope.get("raw_path") else path,
            raw_query=raw_query,
            headers=headers,
            body=b"",
            source_ip=source_ip,
            secure=scope.get("scheme") == "https",
        )

    # -- the pipeline ------------------------------------------------------------------
    async def _process(self, ex: Exchange) -> None:
        """Run the request on the event loop only when it is cheap: a large body (its
        decoding and validation alone can take tens of milliseconds) or a handler with
        store I/O runs, with the encoding of its answer, in the thread pool; so does every
        request while the view owes a reload (a failed refresh after a commit), since
        authentication's first read then reloads from the store."""
        loop = asyncio.get_running_loop()
        if len(ex.body) > INLINE_BODY_BYTES or self.runtime.view.has_stale:
            await loop.run_in_executor(self.executor, self._run, ex, None)
            return
        LOOP_GUARD.enter()  # no store I/O on the event loop (tessera.store.guard)
        try:
            ctx = self._guarded(ex, self._prepare, ex)
            spec = ex.spec
            inline = ctx is not None and spec is not None and ex.params is not None and spec.runs_inline(ex.params)
            if ctx is not None and inline:
                self._guarded(ex, self._execute, ex, ctx)
        finally:
            LOOP_GUARD.leave()
        if ctx is not None and not inline:
            await loop.run_in_executor(self.executor, self._run, ex, ctx)

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
        audit = (True, "the audit trail is being written") if self.audit.healthy else (False, "the last audit write failed")
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
        Organizations, ``Version`` for IAM and STS) and must be the credential scope's."""
        target = ex.headers.get("x-amz-target")
        if target is not None:
            ex.protocol, ex.service = "json", "organizations"
        else:
            ex.service = _service_hint(ex.raw_query, ex.body)
        now = self.runtime.clock.now()
        request = HttpRequest(method=ex.method, path=ex.path, raw_query=ex.raw_query, headers=ex.headers, body=ex.body)
        verified = verify(request, now, self.resolver, self.auth_settings)
        form: list[tuple[str, str]] = []
        ex.caller = verified.caller
        ex.access_key_id = verified.access_key_id
        ex.region = verified.region
        if ex.protocol == "json":
            ex.operation = (target or "").rpartition(".")[2]
        else:
            form = read_form(ex.body, ex.headers.get("content-type"), ex.raw_query)
            version = next((v for k, v in form if k == "Version"), "")
            ex.operation = next((v for k, v in form if k == "Action"), "")
            ex.service = QUERY_VERSIONS.get(version) or (verified.service if verified.service in ("iam", "sts") else "iam")
        check_service(verified, ex.service)
        if self.runtime.usage is not None:
            self.runtime.usage.note(verified.caller, ex.service, ex.region, now)
        # the operation is resolved here, once; the parser, the encoder and the audit
        # event read ``ex.resolved``
        if ex.protocol == "json":
            resolved = resolve_json_operation(target)
            ex.operation = resolved.name
            ex.params = read_json_request(resolved, ex.body)
        else:
            resolved = resolve_query_operation(ex.service, form)
            ex.operation = resolved.name
            ex.params = read_query_params(resolved, form)
        ex.resolved = resolved
        spec = lookup(ex.service, ex.operation)
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
        return OperationContext(runtime=self.runtime, caller=verified.caller, info=info, operation=ex.operation)

    def _execute(self, ex: Exchange, ctx: OperationContext) -> None:
        spec = ex.spec
        assert spec is not None and ex.params is not None  # INVARIANT: set by _prepare
        try:
            result = spec.handler(ctx, ex.params)
        except TesseraError as error:
            self._note_store_success()
            ex.error = error
            ex.extra_headers.extend(authorization_message_headers(ctx, error))
            return
        if spec.authorize and not ctx.authorized:
            raise RuntimeError(f"handler for {spec.service}:{spec.name} returned without authorizing")
        self._note_store_success()
        ex.result = result
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

    # -- after the response --------------------------------------------------------------
    def _record(self, ex: Exchange, status: int) -> None:
        elapsed = time.perf_counter() - ex.started
        outcome = "success" if status < 400 else ("client_error" if status < 500 else "server_error")
        operation = ex.operation if ex.spec is not None else (ex.operation or "Unknown")[:64]
        if ex.spec is None and ex.operation:
            operation = "Unknown"  # never let arbitrary client text become a metric label
        self.metrics.observe(ex.service, operation, outcome, elapsed)
        error = ex.error
        self.audit.submit(
            build_event(
                service=ex.service,
                operation=operation,
                resolved=ex.resolved if ex.spec is not None else None,
                caller=ex.caller,
                access_key_id=ex.access_key_id,
                when=self.runtime.clock.now(),
                region=ex.region,
                source_ip=ex.source_ip,
                user_agent=ex.headers.get("user-agent", ""),
                request_id=ex.request_id,
                params=ex.params,
                result=ex.result,
                error_code=(error.json_code or error.code) if error and ex.protocol == "json" else (error.code if error else None),
                error_message=error.message if error else None,
                read_only=bool(ex.spec and ex.spec.read_only),
            )
        )
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


def _service_hint(raw_query: str, body: bytes) -> str:
    """IAM or STS, guessed from the raw request without decoding it, only to render the
    error of a request that fails authentication in its service's namespace."""
    return "sts" if "Version=2011-06-15" in raw_query or body.find(b"Version=2011-06-15") >= 0 else "iam"


def _version(service: str) -> str:
    return "2011-06-15" if service == "sts" else "2010-05-08"


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


async def _read_body(receive: Receive, limit: int, declared: int = 0) -> bytes:
    """The request body; a partial body is never processed. A body whose declared
    length is over the limit is refused before any of it is read."""
    if declared > limit:
        raise RequestEntityTooLarge(f"Request body exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge(f"Request body exceeds the limit of {limit} bytes")
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
