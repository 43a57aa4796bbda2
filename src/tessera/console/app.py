"""The console's ASGI edge, mounted by ``TesseraApp`` under ``/console``.

Reads the request (bounded), finds its page, checks the session and, for every POST,
the request's origin and the session's CSRF token; then runs the page in the server's
worker threads (pages make API calls, which may write) and answers with the console's
security headers. ``--no-console`` leaves it unmounted.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from importlib import resources
from typing import Any

from tessera.console import pages  # noqa: F401  (registers every page)
from tessera.console.calls import Host
from tessera.console.page import Page, match
from tessera.console.session import (
    COOKIE,
    ROLE_COOKIE,
    ROLE_DISPLAY_COOKIE,
    ROLE_DISPLAY_PURPOSE,
    csrf_matches,
    open_note,
    read_identity,
)
from tessera.console.switchrole import belongs_to
from tessera.console.web import PREFIX, SECURITY_HEADERS, Request, Response, parse_cookies, parse_form, parse_query
from tessera.errors import AccessDenied, TesseraError
from tessera.store.base import BackendError

log = logging.getLogger("tessera.console")

MAX_BODY_BYTES = 256 * 1024
"""A console form's body: a policy document (at most 10 240 characters for a role's
trust policy, 6 144 for a managed policy) with room to spare."""
STATIC: dict[str, str] = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}


class Console:
    def __init__(self, app: Host) -> None:
        self.app = app
        self._static = {name: (resources.files("tessera.console") / "static" / name).read_bytes() for name in STATIC}

    async def handle(
        self,
        scope: Any,
        receive: Any,
        send: Any,
        *,
        headers: dict[str, str],
        source_ip: str,
        secure: bool,
        raw_query: str,
        declared: int,
    ) -> None:
        """Serve one request; the server has read its headers, its client's address
        (behind a trusted proxy, the forwarded one) and whether it came over TLS."""
        method = scope.get("method", "GET")
        path = scope.get("path", "/")
        if method == "GET" and path.startswith(PREFIX + "/static/"):
            name = path.removeprefix(PREFIX + "/static/")
            if name in self._static:
                cache = [("cache-control", "public, max-age=3600"), ("x-content-type-options", "nosniff")]
                await _send(send, Response(200, self._static[name], STATIC[name], cache), security=False)
            else:
                await _send(send, _plain(404, "Not Found"))
            return
        body, too_large = await _read_body(receive, MAX_BODY_BYTES, declared)
        if too_large:
            await _send(send, _plain(413, "The request is too large."))
            return
        form = parse_form(body, headers.get("content-type", "")) if method == "POST" else {}
        if form is None:
            await _send(send, _plain(400, "The form could not be read."))
            return
        request = Request(
            method=method,
            path=path,
            query=parse_query(raw_query),
            form=form,
            cookies=parse_cookies(headers.get("cookie", "")),
            headers=headers,
            source_ip=source_ip,
            secure=secure,
            host=headers.get("host", ""),
        )
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(self.app.executor, self.dispatch, request)
        await _send(send, response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path in (PREFIX, PREFIX + "/"):
            path = PREFIX + "/"
        found = match(request.method, path)
        if found is None:
            return _plain(404, "Not Found")
        if found is False:
            return _plain(405, "Method Not Allowed")
        assert not isinstance(found, bool)
        route, params = found
        if request.method == "POST" and not same_origin(request):
            return _plain(403, "The request did not come from this console.")
        page = Page(self.app, request, None, None)
        if not route.public:
            signed_in = read_identity(self.app.runtime, request.cookies.get(COOKIE))
            if signed_in is None:
                if request.method == "GET":
                    return Response.redirect(PREFIX + "/signin?" + urllib.parse.urlencode({"next": path}))
                return Response.redirect(PREFIX + "/signin")
            page.signed_in = page.acting = signed_in
            role = read_identity(self.app.runtime, request.cookies.get(ROLE_COOKIE), "assumed-role")
            if role is not None:
                now = self.app.runtime.clock.now()
                note = open_note(self.app.runtime, ROLE_DISPLAY_PURPOSE, request.cookies.get(ROLE_DISPLAY_COOKIE), now)
                if belongs_to(role, signed_in, note):
                    page.acting, page.role_display = role, note
            if request.method == "POST" and not csrf_matches(signed_in, request.field("csrf")):
                return page.render(
                    "error.html", status=403, title="Refused", message="The form has expired. Reload the page and try again."
                )
        try:
            return route.handler(page, **params)
        except AccessDenied as error:
            return page.render("error.html", status=403, title="Not authorized", message=error.message, code=error.code)
        except TesseraError as error:
            return page.render("error.html", status=error.status, title=error.code, message=error.message, code=error.code)
        except BackendError as error:  # the store failed: what the API answers 503, never a 500
            message = error.client_message()
            return page.render("error.html", status=503, title="ServiceUnavailable", message=message, code="ServiceUnavailable")
        except Exception:
            log.exception("console page %s %s failed", request.method, request.path)
            return _plain(500, "The console could not show this page.")


def same_origin(request: Request) -> bool:
    """Whether a POST came from the console's own pages: its ``Origin`` (or, without
    one, its ``Referer``) names this host. Browsers send ``Origin`` on every POST."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return False
    parsed = urllib.parse.urlsplit(origin)
    return bool(parsed.netloc) and parsed.netloc == request.host


def _plain(status: int, message: str) -> Response:
    return Response(status, message.encode(), "text/plain; charset=utf-8")


async def _read_body(receive: Any, limit: int, declared: int) -> tuple[bytes, bool]:
    if declared > limit:
        return b"", True
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks), False


async def _send(send: Any, response: Response, *, security: bool = True) -> None:
    headers = [(b"content-type", response.content_type.encode())]
    headers += [(name.encode(), value.encode()) for name, value in response.headers]
    if security:
        headers += [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
