"""The console's HTTP edge: a page request as plain values, and the response a page gives.

Pages are plain functions of a ``Request`` (``tessera.console.pages``); nothing below them
knows ASGI. Every response carries the headers a page of a security product needs: no
caching, no framing, no sniffing, and a content security policy that allows only the
console's own stylesheet and script."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

PREFIX = "/console"
"""Where the console is served, on the API's own host and port."""

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    (
        "content-security-policy",
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
)
MAX_FORM_FIELDS = 1000
"""More fields than any console form has: a body with more is refused, not parsed."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # decoded, e.g. "/console/roles/Admin"
    query: Mapping[str, str]  # the first value of each parameter
    form: Mapping[str, list[str]]  # every value of each field (urlencoded bodies only)
    cookies: Mapping[str, str]
    headers: Mapping[str, str]  # lower-cased names
    source_ip: str
    secure: bool  # arrived over TLS
    host: str  # the Host header, for the absolute links a page shows

    def field(self, name: str, default: str = "") -> str:
        """A form field's first value."""
        values = self.form.get(name)
        return values[0] if values else default

    def fields(self, name: str) -> list[str]:
        return list(self.form.get(name, ()))

    def arg(self, name: str, default: str = "") -> str:
        """A query parameter."""
        return self.query.get(name, default)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def redirect(cls, location: str, status: int = 303) -> Response:
        """To a console path (never to another site: ``location`` must start with the
        console's prefix)."""
        inside = location == PREFIX or location.startswith(PREFIX + "/")
        if not inside or not all(" " < c < "\x7f" for c in location):
            location = PREFIX + "/"
        return cls(status=status, headers=[("location", location)])

    def set_cookie(self, name: str, value: str, *, secure: bool, max_age: int | None = None) -> None:
        """An HttpOnly, SameSite=Strict cookie scoped to the console (``max_age`` 0 deletes it)."""
        parts = [f"{name}={value}", f"Path={PREFIX}", "HttpOnly", "SameSite=Strict"]
        if secure:
            parts.append("Secure")
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        self.headers.append(("set-cookie", "; ".join(parts)))

    def delete_cookie(self, name: str, *, secure: bool) -> None:
        self.set_cookie(name, "", secure=secure, max_age=0)


def parse_cookies(header: str) -> dict[str, str]:
    """``Cookie`` header → name → value (the first of a repeated name)."""
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in cookies:
            cookies[name] = value.strip().strip('"')
    return cookies


def parse_form(body: bytes, content_type: str) -> dict[str, list[str]] | None:
    """An ``application/x-www-form-urlencoded`` body's fields; None if it is not one, or
    is not UTF-8, or has more than ``MAX_FORM_FIELDS`` fields."""
    if not body:
        return {}
    if content_type.split(";", 1)[0].strip().lower() != "application/x-www-form-urlencoded":
        return None
    try:
        text = body.decode("utf-8")
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict", max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return None
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


def parse_query(raw: str) -> dict[str, str]:
    query: dict[str, str] = {}
    try:
        pairs = urllib.parse.parse_qsl(raw, keep_blank_values=True, errors="strict", max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return {}
    for name, value in pairs:
        query.setdefault(name, value)
    return query
