"""The example notes service without the authorization middleware, for ``bench.notes_example``
only: the same route table fills in what the middleware would (path parameters, action)
and a fixed principal, so the difference between the two is the middleware's cost —
reading and hashing the body, AuthorizeRequest over a pooled connection, its answer.
Never serve this: it authorizes nothing."""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "notes"))

import notes_service

_store = notes_service.Store(os.environ["NOTES_DB"])
_notes = notes_service.Notes(_store, os.environ["NOTES_ACCOUNT"], os.environ.get("NOTES_REGION", "us-east-1"))
_routes = notes_service.routes(_store)
_PRINCIPAL = {"Arn": "arn:aws:iam::123456789012:user/bench"}


async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        found = _routes.match(scope["method"], raw)
        if found is not None:
            scope = {**scope, "tessera.params": dict(found.params), "tessera.action": found.route.action, "tessera.principal": _PRINCIPAL}
    await _notes(scope, receive, send)
