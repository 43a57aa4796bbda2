"""What is being asked: the caller, the action, the resource and the context keys.

Everything the engine needs about the request arrives here as plain values filled in by
the server (time, source IP, tags…), so evaluation reads no clock and no environment.
Context keys are case-insensitive in IAM; ``Request`` lower-cases them once, at
construction, so evaluation does only dictionary look-ups.

Source: IAM User Guide, "AWS global condition context keys"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import InitVar, dataclass, field

PRINCIPAL_KINDS = frozenset({"root", "user", "assumed-role", "federated-user", "service", "anonymous", "web-identity"})
_PRINCIPAL_TYPE = {
    "root": "Account",
    "user": "User",
    "assumed-role": "AssumedRole",
    "federated-user": "FederatedUser",
    "anonymous": "Anonymous",
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller.

    ``kind``: ``root``, ``user``, ``assumed-role`` (any AssumeRole* session),
    ``federated-user`` (GetFederationToken), ``service`` (``arn`` is the service name,
    e.g. ``ec2.amazonaws.com``), ``web-identity`` (an AssumeRoleWithWebIdentity/SAML
    request before a session exists; ``arn`` is the provider ARN or the IdP name such as
    ``accounts.google.com``) or ``anonymous``.
    ``role_arn``: for ``assumed-role`` the role's ARN; for ``federated-user`` the ARN
    of the IAM user who called GetFederationToken (the identity its grants derive from).
    ``user_id``: ``aws:userid`` (``AIDA…``, ``AROA…:session``, the account id for root).
    """

    kind: str
    arn: str
    account: str
    role_arn: str = ""
    user_id: str = ""

    def __post_init__(self) -> None:
        if self.kind not in PRINCIPAL_KINDS:
            raise ValueError(f'Unknown principal kind "{self.kind}".')

    @property
    def unique_id(self) -> str:
        """The IAM unique id a trust policy may store in place of an ARN: the user id
        for users, the role id (``AROA…``) for role sessions."""
        return self.user_id.split(":", 1)[0] if self.kind == "assumed-role" else self.user_id

    @classmethod
    def from_arn(cls, arn: str, *, user_id: str = "", role_path: str = "/") -> Principal:
        """Build a Principal from its ARN alone (CLI, tests). Role sessions get
        ``role_arn`` from the session ARN, assuming ``role_path``."""
        if arn == "*" or arn == "anonymous":
            return cls("anonymous", arn, "", user_id=user_id or "anonymous")
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            if arn.endswith(".amazonaws.com"):
                return cls("service", arn, "")
            raise ValueError(f'"{arn}" is not a principal ARN.')
        _, partition, service, _, account, resource = parts
        if service == "iam" and resource == "root":
            return cls("root", arn, account, user_id=user_id or account)
        if service == "iam" and resource.startswith("user/"):
            return cls("user", arn, account, user_id=user_id)
        if service == "sts" and resource.startswith("assumed-role/"):
            role_name = resource.split("/")[1]
            role_arn = f"arn:{partition}:iam::{account}:role{role_path}{role_name}"
            return cls("assumed-role", arn, account, role_arn=role_arn, user_id=user_id)
        if service == "sts" and resource.startswith("federated-user/"):
            return cls("federated-user", arn, account, user_id=user_id or f"{account}:{resource[15:]}")
        if service == "iam" and resource.startswith(("saml-provider/", "oidc-provider/")):
            return cls("web-identity", arn, account)
        raise ValueError(f'"{arn}" is not a principal ARN.')


def principal_context(principal: Principal) -> dict[str, object]:
    """The identity keys AWS sets for ``principal``
    (``aws:PrincipalArn``, ``aws:PrincipalAccount``, ``aws:PrincipalType``, ``aws:userid``,
    ``aws:username``). The server adds tags, time, source IP and the rest."""
    keys: dict[str, object] = {}
    if principal.kind in _PRINCIPAL_TYPE:
        keys["aws:PrincipalType"] = _PRINCIPAL_TYPE[principal.kind]
    if principal.account:
        keys["aws:PrincipalAccount"] = principal.account
    arn = principal.role_arn if principal.kind == "assumed-role" else principal.arn
    if arn and principal.kind not in ("anonymous", "service", "web-identity"):
        keys["aws:PrincipalArn"] = arn
    if principal.user_id:
        keys["aws:userid"] = principal.user_id
    if principal.kind == "user":
        keys["aws:username"] = principal.arn.rsplit("/", 1)[-1]
    return keys


@dataclass(frozen=True, slots=True)
class Request:
    """One authorization question. ``context`` maps condition keys (any case) to a
    str, int, bool, datetime, bytes, or a list/tuple of str for multivalued keys;
    policy variables resolve from the same mapping. ``resource_account`` is the account
    that owns the resource ("" when the resource has no owner, e.g. ``*``).

    ``lowered``, when given, is ``lowered_names(context)``: the context's key names, in
    order, lower-cased. A caller that asks many questions with the same key names (every
    request of a server has the same global keys) keeps those tuples and gives one, so
    that the names are lower-cased once per set of names rather than once per request;
    ``keys`` is then the same dict, built without a call per key. A tuple of another
    length is not used."""

    principal: Principal
    action: str
    resource: str
    resource_account: str = ""
    context: Mapping[str, object] = field(default_factory=dict)
    keys: Mapping[str, object] = field(init=False, repr=False, compare=False)
    action_lower: str = field(init=False, repr=False, compare=False)
    lowered: InitVar[tuple[str, ...] | None] = None

    def __post_init__(self, lowered: tuple[str, ...] | None) -> None:
        context = self.context
        if lowered is not None and len(lowered) == len(context):
            # the same dict as below: a name repeated in another case keeps its first
            # place and its last value either way
            object.__setattr__(self, "keys", dict(zip(lowered, context.values())))  # noqa: B905 - lengths checked
        else:
            object.__setattr__(self, "keys", {k.lower(): v for k, v in context.items()})
        object.__setattr__(self, "action_lower", self.action.lower())

    @property
    def same_account(self) -> bool:
        return not self.resource_account or self.resource_account == self.principal.account


def lowered_names(names: Iterable[str]) -> tuple[str, ...]:
    """``names`` (a context's keys) in order, lower-cased: ``Request``'s ``lowered``."""
    return tuple(name.lower() for name in names)
