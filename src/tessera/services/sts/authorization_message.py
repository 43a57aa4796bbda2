"""Encoded authorization-failure messages and DecodeAuthorizationMessage
(https://docs.aws.amazon.com/STS/latest/APIReference/API_DecodeAuthorizationMessage.html).

When a request is denied, the edge attaches an *encoded* account of the decision to
the response (header ``x-amzn-authorization-message``; IAM and STS put nothing in the
AccessDenied text itself, so neither does Tessera). The encoding is opaque to the
caller: the JSON, compressed and sealed by the server's ``SecretBox`` (AES-GCM under the
master key, with the caller's account as associated data), so every node can open it
and nobody can forge or read it without asking Tessera.
Only a principal of the same account that is allowed
``sts:DecodeAuthorizationMessage`` gets the JSON back.

The decoded document follows AWS's shape: ``allowed``, ``explicitDeny``,
``matchedStatements``, ``failures`` and ``context`` (principal, action, resource,
conditions): "the values of condition keys in the context of the user's request"
(https://docs.aws.amazon.com/STS/latest/APIReference/API_DecodeAuthorizationMessage.html).
What belongs to the resource's owner is left out, so an unknown role stays
indistinguishable from a role that does not trust the caller, and nothing is learned
about another account's organization:

* statements of resource-based and trust policies, and the resource's tags;
* when the resource is in another account: its organization id (unless it is the
  caller's own organization) and its OU paths — and the whole course of the decision.
  The caller's own policies are evaluated with the owner's condition keys (the role's
  tags, its organization), so which of them matched, and whether one denied, would tell
  the caller those values one guess at a time. A refusal of a resource in another
  account therefore always reads the same: not an explicit deny, no statements, and the
  reason a role that does not exist yields.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from collections.abc import Mapping
from typing import Any

from tessera.clock import iso_seconds
from tessera.errors import AccessDenied, Denial, InvalidAuthorizationMessageException, TesseraError
from tessera.secrets import SecretError
from tessera.services.request import OperationContext, operation
from tessera.services.runtime import Runtime

HEADER = "x-amzn-authorization-message"
INVALID = "The encoded authorization message is invalid or has expired."


def authorization_message_headers(ctx: OperationContext, error: TesseraError) -> list[tuple[bytes, bytes]]:
    """The response header carrying the encoded message of a policy denial; empty for
    errors that no policy evaluation decided (bad input, credential-kind refusals)."""
    if not isinstance(error, AccessDenied) or error.decision is None:
        return []
    encoded = encode_authorization_message(ctx.runtime, error.decision)
    return [(HEADER.encode("ascii"), encoded.encode("ascii"))]


def encode_authorization_message(runtime: Runtime, denial: Denial) -> str:
    """The opaque message: the decoded document, compressed, sealed by the server's
    ``SecretBox`` with the caller's account as context (so only that account's callers
    get it opened)."""
    document = json.dumps(_decoded_document(denial), separators=(",", ":")).encode("utf-8")
    return runtime.secret_box.seal_bytes(zlib.compress(document, 9), context=_context(denial.principal.account))


def decode_message(runtime: Runtime, encoded: str, account: str) -> str:
    """The decoded JSON text, if ``encoded`` is ours and about ``account``."""
    try:
        return zlib.decompress(runtime.secret_box.open_bytes(encoded, context=_context(account))).decode("utf-8")
    except (SecretError, ValueError, zlib.error) as error:
        raise InvalidAuthorizationMessageException(INVALID) from error


def _context(account: str) -> str:
    return f"authorization-message:{account}"


@operation("sts", "DecodeAuthorizationMessage", inline=True, read_only=True)
def decode_authorization_message(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("sts:DecodeAuthorizationMessage", "*")
    return {"DecodedMessage": decode_message(ctx.runtime, params["EncodedMessage"], ctx.caller.account)}


def _decoded_document(denial: Denial) -> dict[str, Any]:
    foreign = not denial.same_account
    statements = [
        {"policyId": m.policy_id, "statementId": m.sid, "statementIndex": m.statement_index, "effect": m.effect.upper()}
        for m in denial.statements
        if not m.owner and not foreign
    ]
    reason = f"no resource-based policy allows the {denial.action} action" if foreign else denial.reason
    shown = _shown_keys(denial.context, foreign)
    principal = denial.principal
    return {
        "allowed": False,
        "explicitDeny": denial.explicit_deny and not foreign,
        "matchedStatements": {"items": statements},
        # why it was refused ("no identity-based policy allows …"): the text IAM puts after
        # "because" in its own messages, and STS leaves out of AssumeRole refusals
        "failures": {"items": [reason] if reason else []},
        "context": {
            "principal": {"id": principal.id, "name": principal.name, "arn": principal.arn},
            "action": denial.action,
            "resource": denial.resource,
            "conditions": {"items": [_condition(k, v) for k, v in sorted(shown.items())]},
        },
    }


_OWNER_KEY_PREFIXES = ("aws:resourcetag/", "iam:resourcetag/")
_RESOURCE_ORG_ID = "aws:resourceorgid"
_RESOURCE_ORG_PATHS = "aws:resourceorgpaths"


def _shown_keys(context: Mapping[str, object], foreign: bool) -> dict[str, object]:
    """The request context without what belongs to the resource's owner: its tags
    (which also reveal that the resource exists) and, for a resource in another account,
    its organization id unless the caller shares it, and its OU paths."""
    principal_org = next((v for k, v in context.items() if k.lower() == "aws:principalorgid"), None)
    shown: dict[str, object] = {}
    for key, value in context.items():
        lower = key.lower()
        if lower.startswith(_OWNER_KEY_PREFIXES):
            continue
        if foreign and (lower == _RESOURCE_ORG_PATHS or (lower == _RESOURCE_ORG_ID and value != principal_org)):
            continue
        shown[key] = value
    return shown


def _condition(key: str, value: object) -> dict[str, Any]:
    values = value if isinstance(value, (list, tuple)) else [value]
    return {"key": key, "values": {"items": [{"value": _text(v)} for v in values]}}


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return iso_seconds(value)
    return str(value)
