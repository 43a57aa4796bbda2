"""ASGI middleware: every HTTP request is authorized before the application sees it.

The body is read whole (up to ``max_body`` bytes), hashed, and replayed to the
application. On Allow the scope carries ``scope["tessera.principal"]`` (the
AuthorizeRequest ``Principal``), ``scope["tessera.params"]`` (the path parameters) and
``scope["tessera.resource"]`` (the resource ARN). Otherwise the client gets the error in
the service's protocol. The blocking botocore call runs in the default thread pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tessera_authz.authorizer import Authorizer, Outcome, Received
from tessera_authz.errors import TOO_LARGE, render

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class AuthzMiddleware:
    def __init__(self, app: ASGIApp, authorizer: Authorizer, *, protocol: str = "rest-json", max_body: int = 8 * 1024 * 1024) -> None:
        self.app = app
        self.authorizer = authorizer
        self.protocol = protocol
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body"))
            if len(body) > self.max_body:
                await self._reply(send, render(TOO_LARGE, self.protocol))
                return
        received = Received(
            method=scope["method"],
            raw_path=(scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0],
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])],
            body=bytes(body),
            source_ip=(scope.get("client") or (None,))[0],
            secure=scope.get("scheme") in ("https", "wss"),
        )
        outcome: Outcome = await asyncio.get_running_loop().run_in_executor(None, self.authorizer.decide, received)
        if outcome.error is not None:
            await self._reply(send, render(outcome.error, self.protocol))
            return
        inner = dict(scope)
        inner["tessera.principal"] = outcome.principal
        inner["tessera.params"] = dict(outcome.match.params) if outcome.match else {}
        inner["tessera.resource"] = outcome.resource
        inner["tessera.action"] = outcome.match.route.action if outcome.match else None
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(inner, replay, send)

    @staticmethod
    async def _reply(send: Send, reply: tuple[int, list[tuple[str, str]], bytes]) -> None:
        status, headers, body = reply
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in [*headers, ("Content-Length", str(len(body)))]]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})
