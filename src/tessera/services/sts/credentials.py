"""Minting temporary credentials: a fresh ASIA key id (naming its account, as AWS's
do), a fresh secret, and a session token sealed with the active token key.

Nothing is written anywhere: the token carries the session (``SessionClaims``), so
issuing credentials costs no store I/O and any node can verify them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tessera.auth.caller import Caller, SessionClaims
from tessera.auth.tokens import new_access_key_id, new_secret_access_key, seal
from tessera.services.keys import current_keyring
from tessera.services.runtime import Runtime


def issue_credentials(runtime: Runtime, **fields: Any) -> tuple[SessionClaims, dict[str, Any]]:
    """Seal ``SessionClaims(**fields)`` under a new key id and secret; returns the claims
    and the ``Credentials`` output member."""
    access_key_id = new_access_key_id("ASIA", account=fields["account"])
    claims = SessionClaims(access_key_id=access_key_id, secret_access_key=new_secret_access_key(), **fields)
    token = seal(claims, current_keyring(runtime).current)
    return claims, {
        "AccessKeyId": access_key_id,
        "SecretAccessKey": claims.secret_access_key,
        "SessionToken": token,
        "Expiration": claims.expires_at,
    }


def session_window(now: dt.datetime, seconds: int) -> tuple[dt.datetime, dt.datetime]:
    """Issue and expiry times. The issue time (``aws:TokenIssueTime``) keeps its
    fraction of a second so that a revocation (``DateLessThan`` a millisecond time)
    separates sessions issued just before it from those issued just after; the wire
    shows both times in whole seconds, as AWS does."""
    issued = now.astimezone(dt.UTC)
    return issued, issued + dt.timedelta(seconds=seconds)


def issue_own_session(
    runtime: Runtime, caller: Caller, *, kind: str, now: dt.datetime, seconds: int, mfa: bool, source_ip: str
) -> dict[str, Any]:
    """The ``Credentials`` of a session that acts as ``caller`` itself, with its own
    permissions (GetSessionToken's, the console's), for ``seconds`` from ``now``; MFA
    recorded (at the issue time) when ``mfa``."""
    issued, expires = session_window(now, seconds)
    _, credentials = issue_credentials(
        runtime,
        kind=kind,
        account=caller.account,
        issued_at=issued,
        expires_at=expires,
        session_name=caller.name,
        source_arn=caller.arn,
        source_user_id=caller.user_id,
        mfa_authenticated=mfa,
        mfa_auth_time=issued if mfa else None,
        source_ip=source_ip,
    )
    return credentials
