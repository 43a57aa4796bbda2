"""What an edit did, shown on the page it redirects to (post, redirect, get: reloading
that page repeats nothing). The message travels in a short-lived sealed note (a cookie
the page that shows it deletes), so no link can make the console show a message of
someone else's choosing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from tessera.console.page import Page
from tessera.console.session import open_note, seal_note
from tessera.console.web import Response

COOKIE = "tessera-console-flash"
PURPOSE = "console-flash"
LIFETIME = dt.timedelta(minutes=1)


def redirect(page: Page, location: str, message: str) -> Response:
    """A redirect to ``location`` that will show ``message`` there."""
    response = Response.redirect(location)
    note = seal_note(page.runtime, PURPOSE, {"message": message}, page.runtime.clock.now() + LIFETIME)
    response.set_cookie(COOKIE, note, secure=page.request.secure, max_age=int(LIFETIME.total_seconds()))
    return response


def showing(page: Page, render: Callable[[], Response]) -> Response:
    """``render()``'s page with the message a redirect left for it (then forgotten)."""
    value = page.request.cookies.get(COOKIE)
    if not value:
        return render()
    note = open_note(page.runtime, PURPOSE, value, page.runtime.clock.now())
    if note is not None and isinstance(note.get("message"), str):
        page.flash.append(note["message"])
    response = render()
    response.delete_cookie(COOKIE, secure=page.request.secure)
    return response
