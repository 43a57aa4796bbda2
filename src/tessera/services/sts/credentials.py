"""Minting temporary credentials: a fresh ASIA key id (naming its account, as AWS's
do), a fresh secret, and a session token sealed with the active token key.

Nothing is written anywhere: the token carries the session (``SessionClaims``), so
issuing credentials costs no store I/O and any node can verify them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tessera.auth.caller import SessionClaims
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
