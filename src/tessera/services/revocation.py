"""Revoking a role's active sessions as AWS's console does: an inline policy named
``AWSRevokeOlderSessions`` on the role that denies everything to sessions issued before
a time (``aws:TokenIssueTime``). Sessions are stateless, so this is the one way to end
them; sessions issued afterwards are unaffected
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html)."""

from __future__ import annotations

import datetime as dt
import json

from tessera.clock import iso_millis

REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"


def revoke_policy(issued_before: dt.datetime) -> str:
    """The inline policy AWS's console puts on a role to revoke its older sessions."""
    stamp = iso_millis(issued_before)
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": ["*"],
                "Resource": ["*"],
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": stamp}},
            }
        ],
    }
    return json.dumps(document, separators=(",", ":"))


def revoked_before(document: object) -> str | None:
    """The ``aws:TokenIssueTime`` an ``AWSRevokeOlderSessions`` document denies sessions
    issued before (as written), or None when the document is not of that shape."""
    if not isinstance(document, dict):
        return None
    statements = document.get("Statement")
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict) or statement.get("Effect") != "Deny":
            continue
        condition = statement.get("Condition")
        block = condition.get("DateLessThan") if isinstance(condition, dict) else None
        value = block.get("aws:TokenIssueTime") if isinstance(block, dict) else None
        if isinstance(value, str):
            return value
    return None
