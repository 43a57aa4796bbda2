"""The policies panel a user's and a group's page share: the managed policies attached to
the principal and its inline policies (read with their text), and the four edits
(attach, detach, put inline, delete inline), each one API call made as the signed-in
principal. ``Target`` names the principal and the operations of its kind."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tessera.console.calls import Api
from tessera.console.web import Request
from tessera.errors import TesseraError


@dataclass(frozen=True)
class Target:
    kind: str  # "User" or "Group": the word in the operations' names
    name: str

    @property
    def param(self) -> dict[str, str]:
        return {f"{self.kind}Name": self.name}


@dataclass
class Policies:
    attached: list[dict[str, Any]] = field(default_factory=list)
    attached_error: str = ""
    inline: list[dict[str, str]] = field(default_factory=list)  # PolicyName, PolicyDocument
    inline_error: str = ""


def load(api: Api, target: Target) -> Policies:
    """ListAttached{Kind}Policies, List{Kind}Policies and Get{Kind}Policy for each; a
    refused call leaves its part empty with AWS's message."""
    out = Policies()
    try:
        out.attached = api.pages("iam", f"ListAttached{target.kind}Policies", "AttachedPolicies", **target.param)
    except TesseraError as error:
        out.attached_error = error.message
    try:
        names = api.pages("iam", f"List{target.kind}Policies", "PolicyNames", **target.param)
        for policy_name in names:
            result = api.iam(f"Get{target.kind}Policy", PolicyName=policy_name, **target.param)
            out.inline.append({"PolicyName": policy_name, "PolicyDocument": pretty(str(result["PolicyDocument"]))})
    except TesseraError as error:
        out.inline_error = error.message
    return out


def pretty(document: str) -> str:
    """A policy document indented for reading (as it is, if it is not JSON)."""
    try:
        return json.dumps(json.loads(document), indent=2)
    except ValueError:
        return document


def attach(api: Api, target: Target, request: Request) -> str:
    arn = request.field("policy_arn").strip()
    api.iam(f"Attach{target.kind}Policy", PolicyArn=arn, **target.param)
    return f"Attached {arn}."


def detach(api: Api, target: Target, request: Request) -> str:
    arn = request.field("policy_arn")
    api.iam(f"Detach{target.kind}Policy", PolicyArn=arn, **target.param)
    return f"Detached {arn}."


def put_inline(api: Api, target: Target, request: Request) -> str:
    policy_name = request.field("policy_name").strip()
    api.iam(f"Put{target.kind}Policy", PolicyName=policy_name, PolicyDocument=request.field("policy_document"), **target.param)
    return f"Saved the inline policy {policy_name}."


def delete_inline(api: Api, target: Target, request: Request) -> str:
    policy_name = request.field("policy_name")
    api.iam(f"Delete{target.kind}Policy", PolicyName=policy_name, **target.param)
    return f"Deleted the inline policy {policy_name}."


ACTIONS = {"attach": attach, "detach": detach, "put-inline": put_inline, "delete-inline": delete_inline}


def page_edits(kind: str) -> dict[str, tuple[str, Callable[[Api, str, Request], str]]]:
    """``ACTIONS`` as edits of the page of a ``kind`` ("User" or "Group"), which takes the
    principal's name: ``action`` → ("policies", the panel that shows its error; the edit)."""

    def on_page(change: Callable[[Api, Target, Request], str]) -> Callable[[Api, str, Request], str]:
        return lambda api, name, request: change(api, Target(kind, name), request)

    return {action: ("policies", on_page(change)) for action, change in ACTIONS.items()}
