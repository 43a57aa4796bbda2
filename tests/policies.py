"""Policy documents and unique names, the small builders the unit, end-to-end and attack
tests share (importable from every test directory, like ``serverproc``)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from typing import Any


def policy(*statements: Mapping[str, Any]) -> str:
    """A policy document (JSON text) of ``statements``."""
    return json.dumps({"Version": "2012-10-17", "Statement": [dict(s) for s in statements]})


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def revoke_older_sessions() -> str:
    """AWS's "Revoke active sessions" policy (``AWSRevokeOlderSessions``): everything
    denied to sessions issued before the end of the current second."""
    cutoff = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.999Z")
    return policy(deny("*", Condition={"DateLessThan": {"aws:TokenIssueTime": cutoff}}))


def trust(principal: Any, action: str | list[str] = "sts:AssumeRole", **extra: Any) -> dict[str, Any]:
    """A trust policy statement letting ``principal`` assume the role."""
    return {"Effect": "Allow", "Principal": principal, "Action": action, **extra}


def trust_account(account: str) -> str:
    """A trust policy that lets the principals of ``account`` (as their policies allow) assume a role."""
    return policy(trust({"AWS": f"arn:aws:iam::{account}:root"}))


def unique(prefix: str) -> str:
    """A name no other test uses, even on a shared server or database."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
