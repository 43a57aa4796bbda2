"""The ceiling: the fastest a one-worker uvicorn can answer, with no work behind it.

Every request, whatever its path, method or query, gets the same small STS-shaped XML
body. Served the way ``tessera serve`` serves (uvicorn, httptools, uvloop, one worker),
its requests/second bound what any Python ASGI application on this stack can reach, so
Tessera's figures are reported as a fraction of it.

Run: ``uvicorn bench.ceiling:app --loop uvloop --http httptools --workers 1 --no-access-log``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY = (
    b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
    b"<GetCallerIdentityResult><UserId>AIDAEXAMPLEUSERID0001</UserId><Account>123456789012</Account>"
    b"<Arn>arn:aws:iam::123456789012:user/bench</Arn></GetCallerIdentityResult>"
    b"<ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>"
    b"</GetCallerIdentityResponse>"
)
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/xml"), (b"content-length", str(len(BODY)).encode())],
}
RESPONSE = {"type": "http.response.body", "body": BODY}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer HTTP with the fixed body; accept the lifespan protocol so uvicorn starts
    quietly. The request body is not read: benchmark requests are GETs without one."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send(START)
    await send(RESPONSE)
