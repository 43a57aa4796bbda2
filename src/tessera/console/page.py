"""What a page handler gets and gives: the route table, the page context and rendering.

A page is a function ``handler(page, **match) -> Response`` registered with ``@route``;
``page`` is a ``Page``: the request, the signed-in identity, the identity it acts as
(a switched role, or the signed-in one), the API client acting as it, and ``render``.
Handlers run in the server's worker threads (they make API calls, which may write).
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2

from tessera.console.calls import Api, Host
from tessera.console.session import Identity, csrf_token
from tessera.console.web import PREFIX, Request, Response
from tessera.services.runtime import Runtime

Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    public: bool  # served without a session (sign-in)


ROUTES: list[Route] = []


def route(method: str, path: str, *, public: bool = False) -> Callable[[Handler], Handler]:
    """Register a page. ``path`` is relative to the console's prefix; ``{name}`` matches
    one path segment (``{name:path}`` the rest of the path) and is passed by name."""

    def register(handler: Handler) -> Handler:
        pattern = re.escape(PREFIX + path)
        pattern = re.sub(r"\\\{(\w+):path\\\}", r"(?P<\1>.+)", pattern)
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
        ROUTES.append(Route(method, re.compile(pattern + r"\Z"), handler, public))
        return handler

    return register


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None | bool:
    """The route for ``method`` and ``path`` with its parameters; False when the path
    is known under another method; None when unknown."""
    known = False
    for candidate in ROUTES:
        found = candidate.pattern.match(path)
        if found is None:
            continue
        if candidate.method == method or (method == "HEAD" and candidate.method == "GET"):
            return candidate, found.groupdict()
        known = True
    return False if known else None


_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("tessera.console", "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: Any) -> str:
    """A time as the console shows it: UTC, to the second."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, str) and value:
        try:
            return _when(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return value
    return "—" if value in (None, "") else str(value)


_ENVIRONMENT.filters["when"] = _when


@dataclass
class Page:
    app: Host
    request: Request
    signed_in: Identity | None  # the identity that signed in
    acting: Identity | None  # the identity pages act as: a switched role, or ``signed_in``
    role_display: Mapping[str, str] | None = None  # the switched role's display name and colour
    flash: list[str] = field(default_factory=list)

    @property
    def runtime(self) -> Runtime:
        return self.app.runtime

    @property
    def api(self) -> Api:
        """The API client acting as ``acting``."""
        assert self.acting is not None  # INVARIANT: only public pages run without a session
        return Api(
            self.app,
            self.acting.caller,
            self.request.source_ip,
            self.request.headers.get("user-agent", ""),
            self.request.secure,
        )

    @property
    def csrf(self) -> str:
        return csrf_token(self.signed_in) if self.signed_in is not None else ""

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        body = _ENVIRONMENT.get_template(template).render(page=self, prefix=PREFIX, **values)
        return Response(status=status, body=body.encode())


def url(*parts: str, **query: str) -> str:
    """A console URL from path segments (each quoted) and query parameters."""
    path = PREFIX + "/" + "/".join(urllib.parse.quote(part, safe="") for part in parts)
    if query:
        path += "?" + urllib.parse.urlencode(query)
    return path


_ENVIRONMENT.globals["url"] = url
