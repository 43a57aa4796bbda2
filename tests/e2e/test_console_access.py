"""The console for everyone, in a real browser on SQLite and PostgreSQL: every page reads
and every form works without JavaScript and on a phone's screen, every control has a
name a screen reader announces, and the keyboard alone signs in and moves around."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from consoleui import NARROW, Console
from playwright.sync_api import Page, expect
from serverproc import TesseraServer

PASSWORD = "Correct-Horse-9-battery"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}

# What a page's controls lack when nothing names them (run in the page).
_UNNAMED = """() => {
  const named = (el) => (el.labels && el.labels.length > 0) || el.getAttribute("aria-label")
    || el.getAttribute("aria-labelledby") || el.getAttribute("title");
  const out = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || el.type === "submit") continue;
    if (!named(el)) out.push(el.outerHTML.slice(0, 120));
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (!(el.textContent || "").trim() && !el.getAttribute("aria-label")) out.push(el.outerHTML.slice(0, 120));
  }
  for (const el of document.querySelectorAll("img")) {
    if (!el.hasAttribute("alt")) out.push(el.outerHTML.slice(0, 120));
  }
  return out;
}"""


def _pages(user: str, role: str) -> list[str]:
    return [
        "/",
        "/users",
        f"/users/{user}",
        "/groups",
        "/roles",
        f"/roles/{role}",
        "/policies",
        "/policies/arn:aws:iam::aws:policy/ReadOnlyAccess",
        "/organizations",
        "/audit",
        "/simulator",
        "/switchrole",
    ]


@pytest.fixture(scope="module")
def people(server: TesseraServer) -> tuple[str, str]:
    """An administrator with a console password, and a role to look at."""
    iam = server.client("iam")
    user, role = f"access-{uuid.uuid4().hex[:8]}", f"access-role-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    iam.create_login_profile(UserName=user, Password=PASSWORD)
    iam.attach_user_policy(UserName=user, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST))
    return user, role


def test_every_page_reads_and_edits_without_javascript_on_a_narrow_screen(
    browser: Any, server: TesseraServer, people: tuple[str, str]
) -> None:
    user, role = people
    with Console.opened(browser, server, java_script_enabled=False, viewport=NARROW) as console:
        console.sign_in(user, PASSWORD).wait_for_url("**/console/")
        for path in _pages(user, role):
            page = console.goto(path)
            expect(page.locator("h1")).to_have_count(1)
            assert page.locator("main#main").count() == 1, path
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
        # a change, a plain form post and a redirect: no script involved
        page = console.goto(f"/roles/{role}")
        tags = page.get_by_role("region", name="Tags")
        tags.get_by_label("Tag key").fill("team")
        tags.get_by_label("Tag value").fill("blue")
        tags.get_by_role("button", name="Add tag").click()
        expect(page.get_by_role("status")).to_be_visible()
        assert {"Key": "team", "Value": "blue"} in server.client("iam").list_role_tags(RoleName=role)["Tags"]


def test_every_control_has_a_name(browser: Any, server: TesseraServer, people: tuple[str, str]) -> None:
    user, role = people
    with Console.opened(browser, server) as console:
        page = console.goto("/signin")
        assert page.evaluate(_UNNAMED) == []
        console.sign_in(user, PASSWORD).wait_for_url("**/console/")
        for path in _pages(user, role):
            page = console.goto(path)
            assert page.evaluate(_UNNAMED) == [], path
            assert page.locator("html").get_attribute("lang") == "en"
            assert page.get_by_role("navigation", name="Main").count() == 1, path


def _tab_to(page: Page, selector: str, *, limit: int = 30) -> None:
    """Press Tab until ``selector`` has the focus (as a keyboard user would)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_the_keyboard_alone_signs_in_and_moves_around(browser: Any, server: TesseraServer, people: tuple[str, str]) -> None:
    user, _ = people
    with Console.opened(browser, server) as console:
        page = console.goto("/signin")
        _tab_to(page, "#account")
        page.keyboard.type(server.account_id)
        _tab_to(page, "#user")
        page.keyboard.type(user)
        _tab_to(page, "#password")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url("**/console/")
        # the first stop is the skip link, which jumps over the navigation
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        page.keyboard.press("Enter")
        page.wait_for_url("**/console/#main")
        # the navigation is links in order; Enter follows one
        page.goto("/console/")
        _tab_to(page, "nav a[href$='/console/users']")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
        assert page.get_by_role("link", name="Users", exact=True).get_attribute("aria-current") == "page"
        # a focused control shows where it is
        _tab_to(page, "nav a[href$='/console/roles']")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none")
