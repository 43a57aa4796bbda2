"""Session policies passed to AssumeRole/GetFederationToken (``Policy``, ``PolicyArns``),
and the packed-size budget they share with session tags
(https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html).

AWS packs policies and tags into a proprietary binary form and reports how much of
its budget a request uses (``PackedPolicySize``, a percentage). Tessera defines a
deterministic stand-in that honours AWS's documented rules:

* the plaintext of the inline policy (whitespace outside strings not counted, as IAM
  counts policy size) plus the managed-policy ARNs may not exceed 2,048 characters —
  checked before the policy is read, so an oversized text costs no parse;
* policies, ARNs and tags together are compressed (zlib, level 9) and must fit in
  ``PACKED_BUDGET`` bytes — so many long, varied tags can fail even when the plaintext
  fits, as AWS warns they can;
* the reported percentage is the larger of the two ratios, rounded up, and a request
  over 100 % fails with ``PackedPolicyTooLarge`` and AWS's message.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tessera.arn import is_aws_managed_policy
from tessera.auth.caller import SessionTag
from tessera.errors import MalformedPolicyDocumentException, PackedPolicyTooLargeException, ValidationError
from tessera.policy import PACKED_TOO_LARGE, PolicyError, PolicyType, policy_size, policy_size_exceeds
from tessera.services.runtime import Runtime

PLAINTEXT_LIMIT = 2048
PACKED_BUDGET = 1024
MAX_POLICY_ARNS = 10


@dataclass(frozen=True, slots=True)
class SessionPolicies:
    inline: tuple[str, ...] = ()
    arns: tuple[str, ...] = ()


def session_policies(runtime: Runtime, params: Mapping[str, Any], account_id: str) -> SessionPolicies:
    """Validate ``Policy`` and ``PolicyArns``; managed policies must exist in ``account_id``
    (or be AWS managed). Compiling here also warms the cache the session's requests use."""
    policies = requested_session_policies(runtime, params)
    resolve_managed_policies(runtime, policies, account_id)
    return policies


def requested_session_policies(runtime: Runtime, params: Mapping[str, Any]) -> SessionPolicies:
    """Validate what the request alone decides: the number of ``PolicyArns`` and the
    inline ``Policy``. Nothing here depends on any account's state, so AssumeRole can do
    it before authorization without saying anything about the role's account."""
    inline = params.get("Policy")
    arns = tuple(entry["arn"] for entry in params.get("PolicyArns") or () if entry.get("arn"))
    if len(arns) > MAX_POLICY_ARNS:
        raise ValidationError(
            f"1 validation error detected: Value at 'policyArns' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_POLICY_ARNS}"
        )
    if inline is not None:
        _check_plaintext(inline, arns)
        _compile(runtime, inline, "session-policy")
    return SessionPolicies((inline,) if inline is not None else (), arns)


def resolve_managed_policies(runtime: Runtime, policies: SessionPolicies, account_id: str) -> None:
    """Each ``PolicyArns`` entry must name a policy of ``account_id`` or an AWS managed
    policy. Whether a policy exists in the role's account is that account's business:
    AssumeRole asks only once the caller is allowed to assume the role."""
    for arn in policies.arns:
        _compile(runtime, _managed_text(runtime, account_id, arn), arn)


def _check_plaintext(inline: str, arns: Sequence[str]) -> None:
    """Refuse an inline policy over the plaintext limit before reading it as JSON (AWS
    Query accepts a policy of any length; a megabyte must cost microseconds, not a
    parse). A text whose non-whitespace characters alone pass the limit is measured by
    those (a lower bound of its size); otherwise by ``policy_size``, cheap once at most
    2 048 characters are not whitespace.
    https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html (Policy)"""
    budget = PLAINTEXT_LIMIT - sum(len(arn) for arn in arns)
    if not policy_size_exceeds(inline, budget):
        return
    floor = len(inline) - sum(inline.count(char) for char in " \t\r\n")
    size = floor if floor > budget else policy_size(inline)
    percent = math.ceil(100 * (size + PLAINTEXT_LIMIT - budget) / PLAINTEXT_LIMIT)
    raise PackedPolicyTooLargeException(f"Packed policy consumes {percent}% of allotted space, please use smaller policy.")


def packed_policy_size(policies: SessionPolicies, tags: Sequence[SessionTag]) -> int | None:
    """The percentage of the packed budget used, or None when nothing was passed;
    raises ``PackedPolicyTooLarge`` above 100 %."""
    if not (policies.inline or policies.arns or tags):
        return None
    plaintext = sum(policy_size(text) for text in policies.inline) + sum(len(arn) for arn in policies.arns)
    packed = len(zlib.compress(_packing_input(policies, tags), 9))
    percent = math.ceil(100 * max(plaintext / PLAINTEXT_LIMIT, packed / PACKED_BUDGET))
    if percent > 100:
        raise PackedPolicyTooLargeException(f"Packed policy consumes {percent}% of allotted space, please use smaller policy.")
    return percent


def _packing_input(policies: SessionPolicies, tags: Sequence[SessionTag]) -> bytes:
    parts = [json.dumps(json.loads(text), separators=(",", ":")) for text in policies.inline]
    parts.extend(policies.arns)
    parts.extend(f"{tag.key}={tag.value}" for tag in tags)
    return "\n".join(parts).encode("utf-8")


def _managed_text(runtime: Runtime, account_id: str, arn: str) -> str:
    view = runtime.view
    text: str | None = None
    if is_aws_managed_policy(arn) or arn.startswith(f"arn:aws:iam::{account_id}:policy/"):
        text = view.managed_policy_text(view.account(account_id), arn)
    if text is None:
        raise MalformedPolicyDocumentException(f"The policy {arn} does not exist or is not attachable.")
    return text


def _compile(runtime: Runtime, text: str, policy_id: str) -> None:
    try:
        runtime.view.policies.get(text, PolicyType.SESSION, policy_id)
    except PolicyError as error:
        if error.code == PACKED_TOO_LARGE:
            raise PackedPolicyTooLargeException(error.message) from error
        raise MalformedPolicyDocumentException(error.message) from error
