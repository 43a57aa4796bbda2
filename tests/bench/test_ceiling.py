"""The ceiling app answers every request with its fixed body and speaks lifespan."""

from __future__ import annotations

import asyncio
from typing import Any

from bench import ceiling


def run_app(scope: dict[str, Any], incoming: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(dict(message))

    asyncio.run(ceiling.app(scope, receive, send))
    return sent


def test_any_request_gets_the_fixed_xml_body() -> None:
    sent = run_app({"type": "http", "method": "GET", "path": "/", "query_string": b"Action=AssumeRole"}, [])
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200
    assert (b"content-length", str(len(ceiling.BODY)).encode()) in sent[0]["headers"]
    assert sent[1]["body"].startswith(b"<GetCallerIdentityResponse")


def test_lifespan_starts_and_stops() -> None:
    sent = run_app({"type": "lifespan"}, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
