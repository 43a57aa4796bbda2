"""Switch Role as AWS's console does it
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-console.html).

A switch is an STS AssumeRole call made with the *signed-in* identity's console session
(never with a role switched into before: AWS authorizes every switch with the original
credentials), for ``SESSION_SECONDS``, named after the signed-in user; so the role's trust
policy, its MFA conditions (the console session carries MFA when the sign-in had it), the
caller's own policies and AWS's refusal of the root user all apply exactly as they do to
the API call. The role session's credentials go into the role cookie; a sealed note
(``ROLE_DISPLAY_PURPOSE``) holds what the header shows (display name, colour) and binds
the role session to the console session that opened it (``belongs_to``).

The browser keeps the last ``RECENT_MAX`` roles (AWS's role history) in a sealed note of
the principal that switched, so a browser shared by two users shows each only their own.

Everything here is pure: values in, values out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tessera.console.session import Identity

SESSION_SECONDS = 3600
"""A switched role's console session: AWS's default, an hour."""
RECENT_MAX = 5
"""How many roles the role history keeps, most recent first."""
RECENT_SECONDS = 30 * 24 * 3600
"""How long the browser keeps the role history after the last switch."""
DISPLAY_MAX = 64
"""The longest display name AWS's Switch Role form accepts."""

PALETTE: tuple[tuple[str, str], ...] = (
    ("Red", "f2b0a9"),
    ("Orange", "fbc8aa"),
    ("Yellow", "efda95"),
    ("Green", "b7ca9d"),
    ("Blue", "83d4e8"),
)
"""The colours a switched role can be shown in: AWS's, as its ``color`` URL parameter
spells them (hexadecimal RGB without ``#``)."""

INVALID = "Invalid information in one or more fields. Check your information or contact your administrator."
"""AWS's answer when the account named cannot be found."""

_ACCOUNT_ID = re.compile(r"\d{12}\Z")
_ROLE = re.compile(r"[\w+=,.@/-]{1,512}\Z", re.ASCII)


@dataclass(frozen=True)
class Target:
    """A role to switch to, as the form (or the role history) names it."""

    account: str  # the 12-digit id or the alias, as typed
    role: str  # the role's name, after its path when it has one: ``path/Name``
    display: str = ""
    colour: str = ""  # a palette entry (``f2b0a9``) or "" for none

    @property
    def role_name(self) -> str:
        return self.role.rsplit("/", 1)[-1]

    @property
    def shown(self) -> str:
        """The display name, or AWS's default one: ``Role @ account``."""
        return self.display or f"{self.role_name} @ {self.account}"[:DISPLAY_MAX]

    def as_note(self) -> dict[str, str]:
        return {"account": self.account, "role": self.role, "display": self.shown, "colour": self.colour}


def colour_of(value: str) -> str | None:
    """A palette colour as the form or the URL gives it (``efda95``, ``#EFDA95``) in its
    one spelling; "" for none; None when it is not one of the palette's."""
    value = value.strip().lower().removeprefix("#")
    if value == "":
        return ""
    return value if any(value == hex_ for _, hex_ in PALETTE) else None


def target_from_form(account: str, role: str, display: str, colour: str) -> tuple[Target | None, str]:
    """The target a form asks for, or the message that says what is wrong with it."""
    account, role, display = account.strip(), role.strip().strip("/"), display.strip()
    chosen = colour_of(colour)
    if not account:
        return None, "Enter the account ID or alias."
    if not role:
        return None, "Enter the role name."
    if not _ROLE.match(role) or "//" in role:
        return None, "The role name can contain only letters, numbers, and +=,.@_- (after a path of /-separated parts)."
    if len(display) > DISPLAY_MAX:
        return None, f"The display name can have at most {DISPLAY_MAX} characters."
    if chosen is None:
        return None, "Choose one of the colours offered."
    return Target(account, role, display, chosen), ""


def role_arn(account_id: str, role: str) -> str:
    """The ARN AssumeRole is asked for: the role's path and name, as AWS's form takes them."""
    return f"arn:aws:iam::{account_id}:role/{role}"


def is_account_id(text: str) -> bool:
    return bool(_ACCOUNT_ID.match(text))


def session_name(signed_in: Identity) -> str:
    """The RoleSessionName of a switch: the signed-in user's name (the root user, which
    AssumeRole refuses whatever the name, by its account id)."""
    return signed_in.caller.name or signed_in.caller.account


def display_note(target: Target, signed_in: Identity, role: Identity) -> dict[str, str]:
    """What the header shows of a switched role, bound to the console session that
    switched and to the role session it opened."""
    colour = "#" + target.colour if target.colour else ""
    return {"display": target.shown, "colour": colour, "from": signed_in.access_key_id, "role": role.access_key_id}


def belongs_to(role: Identity, signed_in: Identity, note: Mapping[str, Any] | None) -> bool:
    """Whether a role session was opened by this very console session: the sealed note
    names both sessions' key ids, and the role session is an assumed role named after
    the signed-in principal, issued after the console session began."""
    session, base = role.caller.session, signed_in.caller.session
    return (
        note is not None
        and session is not None
        and base is not None
        and session.kind == "assumed-role"
        and note.get("from") == signed_in.access_key_id
        and note.get("role") == role.access_key_id
        and session.session_name == session_name(signed_in)
        and session.issued_at >= base.issued_at
    )


def recent_targets(note: Mapping[str, Any] | None, principal_arn: str) -> list[Target]:
    """The role history a note holds for ``principal_arn`` (none for anyone else's)."""
    if note is None or note.get("by") != principal_arn or not isinstance(note.get("roles"), list):
        return []
    targets: list[Target] = []
    for entry in note["roles"][:RECENT_MAX]:
        if not isinstance(entry, dict):
            continue
        found, _ = target_from_form(*(str(entry.get(key, "")) for key in ("account", "role", "display", "colour")))
        if found is not None:
            targets.append(found)
    return targets


def remember(history: list[Target], target: Target, principal_arn: str) -> dict[str, Any]:
    """The role history note after switching to ``target``: it first, the same role
    (same account as typed and role) not twice, at most ``RECENT_MAX``."""
    kept = [t for t in history if (t.account.lower(), t.role) != (target.account.lower(), target.role)]
    return {"by": principal_arn, "roles": [t.as_note() for t in [target, *kept][:RECENT_MAX]]}
