"""Tessera's IAM policy engine: a pure library (stdlib only; no I/O, clock or logging).

Parse a policy once with ``parse_policy`` (validated as IAM validates it, compiled for
fast matching), then ``evaluate`` any number of ``Request`` values against a
``PolicySet`` to get a ``Decision`` that explains itself.
"""

from tessera.policy.context import Principal, Request, lowered_names, principal_context
from tessera.policy.errors import LIMIT_EXCEEDED, MALFORMED, PACKED_TOO_LARGE, PolicyError
from tessera.policy.evaluate import Decision, DecisionResult, MatchedStatement, PolicySet, evaluate
from tessera.policy.memo import DecisionMemo, PreparedSet
from tessera.policy.model import Effect, Policy, PolicyType, Statement
from tessera.policy.parse import VERSION_2008, VERSION_2012, parse_policy, policy_size, policy_size_exceeds
from tessera.policy.serialise import serialise

__all__ = [
    "LIMIT_EXCEEDED",
    "MALFORMED",
    "PACKED_TOO_LARGE",
    "VERSION_2008",
    "VERSION_2012",
    "Decision",
    "DecisionMemo",
    "DecisionResult",
    "Effect",
    "MatchedStatement",
    "Policy",
    "PolicyError",
    "PolicySet",
    "PolicyType",
    "PreparedSet",
    "Principal",
    "Request",
    "Statement",
    "evaluate",
    "lowered_names",
    "parse_policy",
    "policy_size",
    "policy_size_exceeds",
    "principal_context",
    "serialise",
]
