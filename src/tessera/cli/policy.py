"""``tessera policy validate|simulate`` — the policy engine from the command line.

``validate`` checks documents exactly as IAM would on CreatePolicy/PutRolePolicy/
CreateRole; ``simulate`` evaluates one request against policy files (like IAM's
SimulateCustomPolicy, plus boundaries, session policies and SCP levels) and prints the
decision with the statements that decided it. Thin by design: all logic is in
``tessera.policy``.

Exit status: ``validate`` 0 when every file is valid, 1 otherwise; ``simulate`` 0 when
allowed, 1 when denied; both 2 for unusable input (unreadable file, bad flag value).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path

from tessera.arn import Arn
from tessera.policy import (
    Decision,
    Policy,
    PolicyError,
    PolicySet,
    PolicyType,
    Principal,
    Request,
    evaluate,
    parse_policy,
    principal_context,
)

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
_TYPES = {t.value: t for t in PolicyType}


class UsageError(Exception):
    """Input the command cannot use (unreadable file, malformed flag value)."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("policy", help="validate and simulate IAM policies offline")
    commands = parser.add_subparsers(dest="policy_command", metavar="COMMAND")
    commands.required = True
    _register_validate(commands)
    _register_simulate(commands)


def _register_validate(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("validate", help="check policy documents as IAM would")
    parser.add_argument("files", nargs="+", metavar="FILE", help="policy JSON files ('-' for stdin)")
    parser.add_argument("--type", choices=sorted(_TYPES), default="identity", help="policy type to validate as (default: identity)")
    parser.add_argument("--max-size", type=int, metavar="N", help="size quota in characters, whitespace excluded (e.g. 6144)")
    parser.set_defaults(func=run_validate)


def _register_simulate(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("simulate", help="evaluate one request against policy files")
    parser.add_argument("--identity", action="append", default=[], metavar="FILE", help="identity-based policy (repeatable)")
    policy = parser.add_mutually_exclusive_group()
    policy.add_argument("--resource-policy", metavar="FILE", help="resource-based policy")
    policy.add_argument("--trust-policy", metavar="FILE", help="role trust policy (resource-based)")
    parser.add_argument("--boundary", metavar="FILE", help="permissions boundary")
    parser.add_argument("--session", action="append", default=[], metavar="FILE", help="session policy (repeatable)")
    parser.add_argument(
        "--scp", action="append", metavar="FILE[,FILE...]", help="SCPs attached at one level, root first (repeat once per level)"
    )
    parser.add_argument("--principal-arn", required=True, help="caller ARN (user, root, assumed-role…)")
    parser.add_argument("--user-id", default="", help="caller's aws:userid (AIDA…, AROA…:session)")
    parser.add_argument("--action", required=True, help="e.g. iam:CreateUser")
    parser.add_argument("--resource", default="*", metavar="ARN", help="resource ARN (default '*')")
    parser.add_argument("--resource-account", help="account owning the resource (default: from the ARN)")
    parser.add_argument(
        "--context",
        action="append",
        default=[],
        metavar="KEY=TYPE:VALUE",
        help="context key, e.g. aws:MultiFactorAuthPresent=boolean:true (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print the decision as JSON")
    parser.set_defaults(func=run_simulate)


# ------------------------------------------------------------------ validate


def run_validate(args: argparse.Namespace) -> int:
    policy_type = _TYPES[args.type]
    status = EXIT_OK
    for name in args.files:
        try:
            text = _read(name)
        except UsageError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            policy = parse_policy(text, policy_type, policy_id=name, max_size=args.max_size)
        except PolicyError as exc:
            print(_format_error(name, exc))
            status = EXIT_FAIL
            continue
        count = len(policy.statements)
        print(f"{name}: valid {policy_type.value} policy ({count} statement{'' if count == 1 else 's'})")
    return status


def _format_error(name: str, error: PolicyError) -> str:
    where = f"{name}:{error.line}:{error.column}" if error.line else name
    path = f" [{error.path}]" if error.path else ""
    return f"{where}: {error.code}: {error.reason}{path}"


# ------------------------------------------------------------------ simulate


def run_simulate(args: argparse.Namespace) -> int:
    try:
        policies = _policy_set(args)
        request = _request(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PolicyError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    decision = evaluate(request, policies)
    if args.json:
        print(json.dumps(decision_json(decision, request), indent=2))
    else:
        print(describe(decision, request))
    return EXIT_OK if decision.allowed else EXIT_FAIL


def _policy_set(args: argparse.Namespace) -> PolicySet:
    load = _loader()
    resource = None
    if args.resource_policy:
        resource = load(args.resource_policy, PolicyType.RESOURCE)
    elif args.trust_policy:
        resource = load(args.trust_policy, PolicyType.TRUST)
    scps = None
    if args.scp is not None:
        scps = [[load(f, PolicyType.SCP) for f in level.split(",") if f] for level in args.scp]
    return PolicySet(
        identity=[load(f, PolicyType.IDENTITY) for f in args.identity],
        resource=resource,
        boundary=load(args.boundary, PolicyType.BOUNDARY) if args.boundary else None,
        session=[load(f, PolicyType.SESSION) for f in args.session],
        scps=scps,
    )


def _loader() -> Callable[[str, PolicyType], Policy]:
    def load(name: str, policy_type: PolicyType) -> Policy:
        try:
            return parse_policy(_read(name), policy_type, policy_id=name)
        except PolicyError as exc:
            raise UsageError(_format_error(name, exc)) from None

    return load


def _request(args: argparse.Namespace) -> Request:
    try:
        principal = Principal.from_arn(args.principal_arn, user_id=args.user_id)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    context = principal_context(principal)
    for item in args.context:
        key, value = parse_context_entry(item)
        context[key] = value
    account = args.resource_account
    if account is None:
        arn = Arn.parse(args.resource)
        account = arn.account if arn is not None else ""
    return Request(principal, args.action, args.resource, account, context)


_SCALARS: dict[str, Callable[[str], object]] = {
    "string": str,
    "numeric": lambda v: Decimal(v) if "." in v or "e" in v.lower() else int(v),
    "boolean": lambda v: {"true": True, "false": False}[v.lower()],
    "date": lambda v: int(v) if v.isdigit() else dt.datetime.fromisoformat(v),
    "ip": str,
    "binary": lambda v: base64.b64decode(v, validate=True),
}


def parse_context_entry(entry: str) -> tuple[str, object]:
    """``aws:SourceIp=ip:10.0.0.1`` → ("aws:SourceIp", "10.0.0.1"). Types are those of
    IAM's ContextKeyType; ``…List`` types take comma-separated values."""
    key, eq, typed = entry.partition("=")
    kind, colon, raw = typed.partition(":")
    if not eq or not key or not colon:
        raise UsageError(f'context entry "{entry}" must look like KEY=TYPE:VALUE')
    base = kind[:-4] if kind.endswith("List") else kind
    if base not in _SCALARS:
        raise UsageError(f'context type "{kind}" is not one of {", ".join(_context_types())}')
    convert = _SCALARS[base]
    try:
        if kind.endswith("List"):
            return key, tuple(convert(v) for v in raw.split(",")) if raw else ()
        return key, convert(raw)
    except (ValueError, KeyError, ArithmeticError):
        raise UsageError(f'context value "{raw}" is not a valid {kind}') from None


def _context_types() -> list[str]:
    return [t for base in _SCALARS for t in (base, base + "List")]


def decision_json(decision: Decision, request: Request) -> dict[str, object]:
    """The decision in the shape of IAM's EvaluationResult, lower-camel-cased."""
    return {
        "decision": decision.result.value,
        "action": request.action,
        "resource": request.resource,
        "reason": decision.reason,
        "message": "" if decision.allowed else decision.access_denied_message(request),
        "matchedStatements": [
            {
                "policyId": m.policy_id,
                "policyType": m.policy_type.value,
                "statementIndex": m.statement_index,
                "sid": m.sid,
                "effect": m.effect.value,
                "startPosition": {"line": m.start_line, "column": m.start_column},
                "endPosition": {"line": m.end_line, "column": m.end_column},
            }
            for m in decision.matched
        ],
        "missingContextKeys": list(decision.missing_context_keys),
    }


def describe(decision: Decision, request: Request) -> str:
    lines = [f"Decision: {decision.result.value}"]
    if not decision.allowed:
        lines.append(f"Reason:   {decision.reason}")
        lines.append(f"Message:  {decision.access_denied_message(request)}")
    if decision.matched:
        lines.append("Matched statements:")
        for m in decision.matched:
            sid = f" ({m.sid})" if m.sid else ""
            lines.append(
                f"  {m.effect.value:5} {m.policy_type.value:8} {m.policy_id} statement {m.statement_index}"
                f"{sid}, lines {m.start_line}:{m.start_column}-{m.end_line}:{m.end_column}"
            )
    if decision.missing_context_keys:
        lines.append("Missing context keys: " + ", ".join(decision.missing_context_keys))
    return "\n".join(lines)


def _read(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror if isinstance(exc, OSError) else exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tessera policy …`` on its own (tests, or before the full CLI is wired)."""
    parser = argparse.ArgumentParser(prog="tessera")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))
