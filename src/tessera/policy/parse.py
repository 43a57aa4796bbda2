"""Policy text → compiled ``Policy``, with the validation IAM applies when it stores one.

``parse_policy`` is a short pipeline: check the size, read the JSON (keeping positions),
check the top level, then build each statement — every element validated against the
rules for the policy's type and compiled into matchers,
so evaluation never meets a malformed value. Every failure is a ``PolicyError`` with the
AWS code, an AWS-style reason and where it happened.

Sources: IAM User Guide, "IAM JSON policy grammar", "IAM JSON policy element reference",
"IAM and AWS STS quotas"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html).
"""

from __future__ import annotations

import re
from types import MappingProxyType

from tessera.policy.conditions import Condition, compile_condition
from tessera.policy.errors import LIMIT_EXCEEDED, PACKED_TOO_LARGE, PolicyError
from tessera.policy.model import (
    STATEMENT_FIELDS,
    ActionIndex,
    Effect,
    Policy,
    PolicyType,
    PrincipalElement,
    Statement,
)
from tessera.policy.pattern import ArnPattern, Pattern, is_spanning_arn
from tessera.policy.source import JsonObject, SourceText

VERSION_2012 = "2012-10-17"
VERSION_2008 = "2008-10-17"
VERSIONS = (VERSION_2012, VERSION_2008)

_TOP_LEVEL = ("Version", "Id", "Statement")
_PRINCIPAL_TYPES = ("AWS", "Service", "Federated", "CanonicalUser")
_SID = re.compile(r"[0-9A-Za-z]*", re.ASCII)
_ACCOUNT_ID = re.compile(r"\d{12}", re.ASCII)
_UNIQUE_ID = re.compile(r"A[A-Z0-9]{15,127}", re.ASCII)
# A Federated principal: a domain name (``accounts.google.com``, ``cognito-identity.amazonaws.com``)
# or the ARN of an IAM SAML or OpenID Connect provider; anything else is refused with AWS's
# "Federated principals must be valid domain names or SAML metadata ARNs"
_DOMAIN_NAME = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*", re.ASCII
)
_PROVIDER_ARN = re.compile(r"arn:[a-z-]+:iam::\d{12}:(?:saml-provider/[\w+=,.@-]{1,128}|oidc-provider/[^\s*?]+)", re.ASCII)
FEDERATED_INVALID = "Federated principals must be valid domain names or SAML metadata ARNs"
_IAM_PRINCIPAL_ARN = re.compile(r"arn:[a-z-]+:(iam|sts)::(\d{12}):(.+)", re.ASCII)
_TRUST_ACTIONS = (
    "sts:assumerole",
    "sts:assumerolewithsaml",
    "sts:assumerolewithwebidentity",
    "sts:tagsession",
    "sts:setsourceidentity",
    "sts:setcontext",
)
_WHITESPACE = " \t\r\n"

VENDOR_MESSAGE = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
_NO_PRINCIPAL_MESSAGE = "Policy document should not specify a principal."


_STRING_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)


def _whitespace(text: str) -> int:
    return sum(text.count(char) for char in _WHITESPACE)


def policy_size(text: str) -> int:
    """Characters IAM counts against a size quota: all but whitespace outside strings.

    Computed with C-speed string operations, never a Python loop per character (the
    text may be a megabyte a client sent only to be refused): the string tokens (each
    runs to its closing quote, or to the end of an unterminated text) are cut out, and
    the whitespace left is what does not count."""
    outside = _STRING_TOKEN.sub("", text) if '"' in text else text
    return len(text) - _whitespace(outside)


def policy_size_exceeds(text: str, limit: int) -> bool:
    """``policy_size(text) > limit``, answered first from the non-whitespace characters
    (a lower bound, four ``str.count`` passes) so a huge text is refused at once."""
    if len(text) - _whitespace(text) > limit:
        return True
    return policy_size(text) > limit


def parse_policy(text: str, policy_type: PolicyType, *, policy_id: str = "", max_size: int | None = None) -> Policy:
    """Parse, validate and compile ``text`` as a policy of ``policy_type``.

    ``max_size`` is the caller's quota (characters, whitespace excluded); exceeding it
    raises ``PolicyError`` with code ``LimitExceeded`` (``PackedPolicyTooLarge`` for
    session policies). ``policy_id`` names the policy in decisions."""
    if max_size is not None:
        _check_size(text, policy_type, max_size)
    source = SourceText(text)
    document = source.value
    if not isinstance(document, JsonObject):
        raise PolicyError("Syntax errors in policy.")
    return _Builder(source, policy_type).policy(document, policy_id)


def _check_size(text: str, policy_type: PolicyType, max_size: int) -> None:
    if not policy_size_exceeds(text, max_size):
        return
    size = policy_size(text)
    if policy_type is PolicyType.SESSION:
        percent = size * 100 // max_size
        raise PolicyError(
            f"Packed policy consumes {percent}% of allotted space, please use smaller policy.",
            code=PACKED_TOO_LARGE,
        )
    if policy_type is PolicyType.TRUST:
        raise PolicyError(f"Cannot exceed quota for ACLSizePerRole: {max_size}", code=LIMIT_EXCEEDED)
    raise PolicyError(f"Maximum policy size of {max_size} bytes exceeded.", code=LIMIT_EXCEEDED)


def freeze(value: object) -> object:
    """JSON value → an immutable equivalent (MappingProxyType, tuple)."""
    if isinstance(value, dict):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


class _Builder:
    """Builds one policy; knows the source (for positions) and the policy type."""

    def __init__(self, source: SourceText, policy_type: PolicyType) -> None:
        self.source = source
        self.type = policy_type
        self.variables = True

    def fail(self, reason: str, path: str, obj: JsonObject | None = None) -> PolicyError:
        if obj is None:
            return PolicyError(reason, path=path)
        where = self.source.position(obj.start)
        return PolicyError(reason, path=path, line=where.line, column=where.column)

    def policy(self, document: JsonObject, policy_id: str) -> Policy:
        for name in document:
            if name not in _TOP_LEVEL:
                raise self.fail(f"Has prohibited field {name}", name, document)
        version = self.version(document)
        self.variables = version == VERSION_2012
        document_id = document.get("Id")
        if document_id is not None and not isinstance(document_id, str):
            raise self.fail("The policy Id must be a string.", "Id", document)
        raw = document.get("Statement")
        if raw is None:
            raise self.fail("Missing required field Statement", "Statement", document)
        objects, is_list = self.statement_objects(raw, document)
        statements = tuple(
            self.statement(obj, index, f"Statement[{index}]" if is_list else "Statement") for index, obj in enumerate(objects)
        )
        self.check_unique_sids(statements, objects, is_list)
        return Policy(
            self.source.text,
            policy_id,
            self.type,
            version,
            document_id,
            statements,
            is_list,
            ActionIndex(statements),
        )

    def version(self, document: JsonObject) -> str:
        version = document.get("Version", VERSION_2008)
        if version not in VERSIONS:
            shown = version if isinstance(version, str) else "non-string value"
            raise self.fail(
                f'The policy version "{shown}" is not supported; use "{VERSION_2012}" or "{VERSION_2008}".',
                "Version",
                document,
            )
        return str(version)

    def statement_objects(self, raw: object, document: JsonObject) -> tuple[list[JsonObject], bool]:
        if isinstance(raw, JsonObject):
            return [raw], False
        if not isinstance(raw, list) or not raw:
            raise self.fail("The policy failed legacy parsing", "Statement", document)
        for index, item in enumerate(raw):
            if not isinstance(item, JsonObject):
                raise self.fail("The policy failed legacy parsing", f"Statement[{index}]", document)
        return list(raw), True

    def check_unique_sids(self, statements: tuple[Statement, ...], objects: list[JsonObject], is_list: bool) -> None:
        seen: set[str] = set()
        for statement, obj in zip(statements, objects, strict=False):
            if statement.sid and statement.sid in seen:
                path = f"Statement[{statement.index}].Sid" if is_list else "Statement.Sid"
                raise self.fail("Statement IDs (SID) in a single policy must be unique.", path, obj)
            seen.add(statement.sid)

    def statement(self, obj: JsonObject, index: int, path: str) -> Statement:
        for name in obj:
            if name not in STATEMENT_FIELDS:
                raise self.fail(f"Has prohibited field {name}", f"{path}.{name}", obj)
        sid = self.sid(obj, path)
        effect = self.effect(obj, path)
        principal, not_principal = self.principal(obj, path)
        actions, not_action = self.actions(obj, path)
        resources, not_resource = self.resources(obj, path)
        conditions = self.conditions(obj, path)
        referenced = _referenced_keys(conditions, resources)
        return Statement(
            index=index,
            sid=sid,
            effect=effect,
            element=freeze(obj),  # type: ignore[arg-type]
            span=self.source.span(obj),
            actions=actions,
            not_action=not_action,
            resources=resources,
            not_resource=not_resource,
            principal=principal,
            not_principal=not_principal,
            conditions=conditions,
            referenced_keys=referenced,
            resource_match_all=resources is not None and not not_resource and any(r.match_all for r in resources),
        )

    def sid(self, obj: JsonObject, path: str) -> str:
        sid = obj.get("Sid", "")
        if not isinstance(sid, str):
            raise self.fail("The Sid must be a string.", f"{path}.Sid", obj)
        if self.type is not PolicyType.RESOURCE and not _SID.fullmatch(sid):
            raise self.fail(
                "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*",
                f"{path}.Sid",
                obj,
            )
        return sid

    def effect(self, obj: JsonObject, path: str) -> Effect:
        if "Effect" not in obj:
            raise self.fail("Missing required field Effect", f"{path}.Effect", obj)
        effect = obj["Effect"]
        if effect == "Allow":
            return Effect.ALLOW
        if effect == "Deny":
            return Effect.DENY
        shown = effect if isinstance(effect, str) else "non-string value"
        raise self.fail(f'Invalid effect "{shown}"; the Effect must be "Allow" or "Deny".', f"{path}.Effect", obj)

    # -------------------------------------------------------------- Principal

    def principal(self, obj: JsonObject, path: str) -> tuple[PrincipalElement | None, bool]:
        has, has_not = "Principal" in obj, "NotPrincipal" in obj
        if self.type in (PolicyType.IDENTITY, PolicyType.BOUNDARY, PolicyType.SESSION):
            if has or has_not:
                name = "Principal" if has else "NotPrincipal"
                raise self.fail(_NO_PRINCIPAL_MESSAGE, f"{path}.{name}", obj)
            return None, False
        if self.type is PolicyType.SCP:
            if has or has_not:
                name = "Principal" if has else "NotPrincipal"
                raise self.fail(f"Has prohibited field {name}", f"{path}.{name}", obj)
            return None, False
        if has and has_not:
            raise self.fail("A statement cannot have both Principal and NotPrincipal.", path, obj)
        if has_not and self.type is PolicyType.TRUST:
            raise self.fail("Has prohibited field NotPrincipal", f"{path}.NotPrincipal", obj)
        if not has and not has_not:
            raise self.fail("Missing required field Principal", f"{path}.Principal", obj)
        name = "Principal" if has else "NotPrincipal"
        return self.principal_element(obj[name], f"{path}.{name}", obj), has_not

    def principal_element(self, value: object, path: str, obj: JsonObject) -> PrincipalElement:
        if value == "*":
            return PrincipalElement(everyone=True)
        if not isinstance(value, JsonObject) or not value:
            raise self.fail('Invalid principal in policy: the Principal must be "*" or an object.', path, obj)
        groups: dict[str, set[str]] = {k: set() for k in ("accounts", "users", "roles", "sessions", "unique_ids", "services", "federated")}
        everyone = False
        for kind, entries in value.items():
            if kind not in _PRINCIPAL_TYPES:
                raise self.fail(f'Invalid principal in policy: unknown principal type "{kind}"', path, obj)
            for entry in self.string_list(entries, f"{path}.{kind}", obj, allow_empty=False):
                everyone |= self.principal_entry(kind, entry, groups, path, obj)
        return PrincipalElement(everyone=everyone, **{k: frozenset(v) for k, v in groups.items()})

    def principal_entry(self, kind: str, entry: str, groups: dict[str, set[str]], path: str, obj: JsonObject) -> bool:
        """File one entry under its group; True when it is the ``"*"`` wildcard."""
        invalid = self.fail(f'Invalid principal in policy: "{kind}":"{entry}"', path, obj)
        if kind == "Service":
            if not entry or "*" in entry:
                raise invalid
            groups["services"].add(entry)
        elif kind == "Federated":
            if not entry or "*" in entry:
                raise invalid
            if _DOMAIN_NAME.fullmatch(entry) is None and _PROVIDER_ARN.fullmatch(entry) is None:
                raise self.fail(FEDERATED_INVALID, path, obj)
            groups["federated"].add(entry)
        elif kind == "CanonicalUser":
            if not entry or "*" in entry:
                raise invalid
        elif entry == "*":
            return True
        else:
            group, normalised = _classify_aws_principal(entry)
            if group is None or "*" in entry or "?" in entry:
                raise invalid
            groups[group].add(normalised)
        return False

    # -------------------------------------------------------------- Action / Resource

    def actions(self, obj: JsonObject, path: str) -> tuple[tuple[Pattern, ...], bool]:
        name = self.exclusive(obj, path, "Action", "NotAction", "Policy statement must contain actions.")
        values = self.string_list(
            obj[name], f"{path}.{name}", obj, allow_empty=False, empty_reason="Policy statement must contain actions."
        )
        for value in values:
            if value != "*" and (":" not in value or value.startswith(":")):
                raise self.fail(VENDOR_MESSAGE, f"{path}.{name}", obj)
        patterns = tuple(Pattern.compile(v, fold_case=True) for v in values)
        if self.type is PolicyType.TRUST and name == "Action":
            self.check_trust_actions(patterns, f"{path}.{name}", obj)
        return patterns, name == "NotAction"

    def check_trust_actions(self, patterns: tuple[Pattern, ...], path: str, obj: JsonObject) -> None:
        for pattern in patterns:
            if not any(pattern.matches(action) for action in _TRUST_ACTIONS):
                raise self.fail(
                    f'Trust policy action "{pattern.source}" is not an STS role-assumption action.',
                    path,
                    obj,
                )

    def resources(self, obj: JsonObject, path: str) -> tuple[tuple[ArnPattern, ...] | None, bool]:
        if self.type is PolicyType.TRUST:
            for name in ("Resource", "NotResource"):
                if name in obj:
                    raise self.fail(f"Has prohibited field {name}", f"{path}.{name}", obj)
            return None, False
        missing = "Policy statement must contain resources."
        name = self.exclusive(obj, path, "Resource", "NotResource", missing)
        values = self.string_list(obj[name], f"{path}.{name}", obj, allow_empty=False, empty_reason=missing)
        for value in values:
            if value != "*" and (not value.startswith("arn:") or value.count(":") < 5) and not is_spanning_arn(value):
                raise self.fail(f'Resource {value} must be in ARN format or "*".', f"{path}.{name}", obj)
        patterns = tuple(ArnPattern.compile(v, variables=self.variables, spanning=True) for v in values)
        return patterns, name == "NotResource"

    def exclusive(self, obj: JsonObject, path: str, name: str, negated: str, missing: str) -> str:
        if name in obj and negated in obj:
            raise self.fail(f"A statement cannot have both {name} and {negated}.", path, obj)
        if name not in obj and negated not in obj:
            raise self.fail(missing, f"{path}.{name}", obj)
        return name if name in obj else negated

    # -------------------------------------------------------------- Condition

    def conditions(self, obj: JsonObject, path: str) -> tuple[Condition, ...]:
        if "Condition" not in obj:
            return ()
        block = obj["Condition"]
        if not isinstance(block, JsonObject):
            raise self.fail("The Condition element must be an object.", f"{path}.Condition", obj)
        compiled: list[Condition] = []
        for operator, keys in block.items():
            where = f"{path}.Condition.{operator}"
            if not isinstance(keys, JsonObject):
                raise self.fail(f'Condition "{operator}" must map condition keys to values.', where, obj)
            for key, values in keys.items():
                compiled.append(self.condition(operator, key, values, f"{where}.{key}", obj))
        return tuple(compiled)

    def condition(self, operator: str, key: str, values: object, path: str, obj: JsonObject) -> Condition:
        if ":" not in key or key.startswith(":"):
            raise self.fail(VENDOR_MESSAGE, path, obj)
        items = values if isinstance(values, list) else [values]
        try:
            return compile_condition(operator, key, tuple(freeze(v) for v in items), self.variables)
        except ValueError as exc:
            raise self.fail(str(exc), path, obj) from None

    # -------------------------------------------------------------- shared

    def string_list(self, value: object, path: str, obj: JsonObject, *, allow_empty: bool, empty_reason: str = "") -> list[str]:
        items = value if isinstance(value, list) else [value]
        if not items and not allow_empty:
            raise self.fail(empty_reason or "The value list must not be empty.", path, obj)
        for item in items:
            if not isinstance(item, str):
                raise self.fail("The policy failed legacy parsing", path, obj)
        return items  # type: ignore[return-value]


def _classify_aws_principal(entry: str) -> tuple[str | None, str]:
    """Which group an ``"AWS"`` principal entry belongs to, and its stored form
    (an account id and its ``:root`` ARN are the same principal)."""
    if _ACCOUNT_ID.fullmatch(entry):
        return "accounts", entry
    if _UNIQUE_ID.fullmatch(entry):
        return "unique_ids", entry
    match = _IAM_PRINCIPAL_ARN.fullmatch(entry)
    if match is None:
        return None, entry
    service, account, resource = match.groups()
    if service == "iam" and resource == "root":
        return "accounts", account
    if service == "iam" and resource.startswith("user/") and len(resource) > 5:
        return "users", entry
    if service == "iam" and resource.startswith("role/") and len(resource) > 5:
        return "roles", entry
    if service == "sts" and resource.startswith(("assumed-role/", "federated-user/")):
        return "sessions", entry
    return None, entry


def _referenced_keys(conditions: tuple[Condition, ...], resources: tuple[ArnPattern, ...] | None) -> tuple[str, ...]:
    keys: list[str] = []
    for condition in conditions:
        keys.extend(condition.referenced_keys)
    for resource in resources or ():
        keys.extend(v.name for v in resource.variables)
    seen: dict[str, str] = {}
    for key in keys:
        seen.setdefault(key.lower(), key)
    return tuple(seen.values())
