"""Driving the web console in a real browser: Debian's Chromium, headless, through
Playwright (its Python package talks to the browser over the DevTools protocol; no
browser is downloaded: ``CHROMIUM`` is the system's).

``open_browser()`` starts one Chromium per test module (cheap contexts per test);
``Console`` wraps a page signed in (or not) at a server, with the few steps every test
repeats; ``console_user`` makes a user who can sign in with ``PASSWORD``. Screenshots go
to ``$TESSERA_CONSOLE_SCREENSHOTS`` when it is set (``make screenshots`` writes them to
``docs/console/``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from serverproc import TesseraServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NARROW = {"width": 390, "height": 844}  # a phone's viewport
PASSWORD = "Correct-Horse-9-battery"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def console_user(
    server: TesseraServer,
    policy: str | None = ADMIN,
    *,
    prefix: str = "u",
    inline: Mapping[str, str] | None = None,
    **profile: Any,
) -> str:
    """A new user of ``server``'s account (named ``prefix-`` and a random suffix) with the
    console password ``PASSWORD`` (``profile``: more of CreateLoginProfile's parameters),
    the managed ``policy`` attached and the ``inline`` policies (name → document) put."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    iam = server.client("iam")
    iam.create_user(UserName=name)
    iam.create_login_profile(UserName=name, Password=PASSWORD, **profile)
    if policy:
        iam.attach_user_policy(UserName=name, PolicyArn=policy)
    for policy_name, document in (inline or {}).items():
        iam.put_user_policy(UserName=name, PolicyName=policy_name, PolicyDocument=document)
    return name


@contextmanager
def open_browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Console:
    """One browser context (its own cookies) on one server's console."""

    server: TesseraServer
    page: Page

    @classmethod
    def open(cls, browser: Browser, server: TesseraServer, **context: Any) -> Console:
        ctx = browser.new_context(base_url=server.endpoint, **context)
        ctx.set_default_timeout(15_000)
        return cls(server, ctx.new_page())

    @classmethod
    @contextmanager
    def opened(cls, browser: Browser, server: TesseraServer, **context: Any) -> Iterator[Console]:
        """``open``, closed when the block ends."""
        console = cls.open(browser, server, **context)
        try:
            yield console
        finally:
            console.close()

    def close(self) -> None:
        self.page.context.close()

    def goto(self, path: str) -> Page:
        self.page.goto(f"/console{path}")
        return self.page

    def sign_in(self, user: str, password: str, *, account: str | None = None, root: bool = False) -> Page:
        """Fill and send the sign-in form (whatever comes next: the dashboard, the MFA
        step, an error)."""
        page = self.goto("/signin")
        if root:
            page.get_by_label("Root user", exact=True).check()
        page.get_by_label("Account ID or alias").fill(account or self.server.account_id)
        if not root:
            page.get_by_label("IAM user name").fill(user)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()
        return page

    def signed_in(self, user: str, password: str = PASSWORD) -> Page:
        """Sign in, and wait for the dashboard."""
        page = self.sign_in(user, password)
        page.wait_for_url("**/console/")
        return page

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()

    def sign_out_and_replay(self, browser: Browser, path: str = "/") -> None:
        """Sign out; then this browser's cookies, replayed in another one, open ``path``
        on nothing but the sign-in page."""
        stolen = self.page.context.cookies()
        self.sign_out()
        self.page.wait_for_url("**/console/signin")
        with Console.opened(browser, self.server) as replay:
            replay.page.context.add_cookies(stolen)
            replay.goto(path)
            replay.page.wait_for_url("**/console/signin**")

    def cookie(self, name: str) -> str | None:
        for cookie in self.page.context.cookies():
            if cookie["name"] == name:
                return str(cookie["value"])
        return None

    def screenshot(self, name: str) -> None:
        """Save a full-page screenshot as ``NAME.png`` when screenshots are asked for."""
        directory = os.environ.get("TESSERA_CONSOLE_SCREENSHOTS")
        if directory:
            os.makedirs(directory, exist_ok=True)
            self.page.screenshot(path=os.path.join(directory, f"{name}.png"), full_page=True)


def trail_events(server: TesseraServer, name: str, *, until: Callable[[list[dict[str, Any]]], bool] | None = None) -> list[dict[str, Any]]:
    """The audit trail's events named ``name`` (``tessera audit``), read again while
    ``until`` does not hold: events of read-only calls are written by the trail's
    background writer, a moment after the answer. Fails when it does not hold within 15 s."""
    command = [sys.executable, "-m", "tessera", "audit", "--data-dir", server.data_dir, "--json", "--event-name", name]
    if server.database_url:
        command += ["--database-url", server.database_url]
    deadline = time.monotonic() + 15
    while True:
        out = subprocess.run(command, capture_output=True, text=True, env=server.environment(), check=True).stdout
        events = [json.loads(line) for line in out.splitlines() if line.strip()]
        if until is None or until(events):
            return events
        if time.monotonic() > deadline:
            pytest.fail(f"{len(events)} {name} events, not what was awaited: {events}")
        time.sleep(0.2)
