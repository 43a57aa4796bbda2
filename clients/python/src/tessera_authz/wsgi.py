"""WSGI middleware: every request is authorized before the application sees it.

The body is read whole (``CONTENT_LENGTH`` bytes, at most ``max_body``), hashed, and
given to the application again as ``wsgi.input``. On Allow the environ carries
``environ["tessera.principal"]``, ``environ["tessera.params"]`` and
``environ["tessera.resource"]``; otherwise the client gets the error in the service's
protocol. The raw path is ``RAW_URI``/``REQUEST_URI`` when the server gives it (gunicorn,
uWSGI), else ``PATH_INFO`` percent-encoded again.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from tessera_authz.authorizer import Authorizer, Received
from tessera_authz.errors import TOO_LARGE, render

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-").title(), value))
    for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
        if environ.get(key):
            headers.append((name, environ[key]))
    return headers


class AuthzWSGIMiddleware:
    def __init__(self, app: WSGIApp, authorizer: Authorizer, *, protocol: str = "rest-json", max_body: int = 8 * 1024 * 1024) -> None:
        self.app = app
        self.authorizer = authorizer
        self.protocol = protocol
        self.max_body = max_body

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > self.max_body:
            return self._reply(start_response, render(TOO_LARGE, self.protocol))
        body = environ["wsgi.input"].read(length) if length else b""
        raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        raw_path = raw_uri.split("?", 1)[0] if raw_uri else quote(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""), safe="/~")
        received = Received(
            method=environ["REQUEST_METHOD"],
            raw_path=raw_path,
            query_string=environ.get("QUERY_STRING", ""),
            headers=_headers(environ),
            body=body,
            source_ip=environ.get("REMOTE_ADDR"),
            secure=environ.get("wsgi.url_scheme") == "https",
        )
        outcome = self.authorizer.decide(received)
        if outcome.error is not None:
            return self._reply(start_response, render(outcome.error, self.protocol))
        environ["wsgi.input"] = io.BytesIO(body)
        environ["tessera.principal"] = outcome.principal
        environ["tessera.params"] = dict(outcome.match.params) if outcome.match else {}
        environ["tessera.resource"] = outcome.resource
        environ["tessera.action"] = outcome.match.route.action if outcome.match else None
        return self.app(environ, start_response)

    @staticmethod
    def _reply(start_response: StartResponse, reply: tuple[int, list[tuple[str, str]], bytes]) -> list[bytes]:
        status, headers, body = reply
        start_response(f"{status} {HTTPStatus(status).phrase}", [*headers, ("Content-Length", str(len(body)))])
        return [body]
