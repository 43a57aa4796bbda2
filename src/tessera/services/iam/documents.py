"""Policy documents at the IAM boundary: parse with the engine, enforce IAM's size limits.

The engine raises ``tessera.policy.PolicyError``; ``policy_errors()`` is the one place
it becomes a client-visible ``MalformedPolicyDocument`` (or ``LimitExceeded`` when the
engine itself reports a size problem). Aggregate limits — the sum of a user's inline
policies — are IAM bookkeeping, not a property of one document, so they live here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from tessera.errors import LimitExceededException, MalformedPolicyDocumentException
from tessera.policy import Policy, PolicyError, PolicyType, parse_policy, policy_size

_LIMIT_EXCEEDED = "LimitExceeded"


@contextmanager
def policy_errors() -> Iterator[None]:
    """Translate the engine's PolicyError into the IAM error a client sees."""
    try:
        yield
    except PolicyError as e:
        if e.code == _LIMIT_EXCEEDED:
            raise LimitExceededException(e.message) from e
        raise MalformedPolicyDocumentException(e.message) from e


def parse_document(text: str, policy_type: PolicyType, policy_id: str = "") -> Policy:
    """The compiled policy, or MalformedPolicyDocument with the engine's reason."""
    with policy_errors():
        return parse_policy(text, policy_type, policy_id=policy_id)


def check_size(texts: Iterable[str], limit: int, message: str) -> None:
    """LimitExceeded(``message``) when the documents together exceed ``limit``."""
    if sum(policy_size(t) for t in texts) > limit:
        raise LimitExceededException(message)
