"""Who made a request, once its signature has been verified (plain values)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

#: ``anonymous``: an unsigned request (AssumeRoleWithSAML) before its credential is
#: verified; ``saml-user``: the federated user a verified SAML assertion names (``arn`` is
#: the provider's, ``user_id`` ``<name qualifier>:<subject>``); ``web-identity``: the
#: caller of AssumeRoleWithWebIdentity (services/sts/web_identity.py). None of them makes
#: signed requests.
PrincipalKind = Literal["root", "user", "assumed-role", "federated-user", "web-identity", "anonymous", "saml-user"]
SessionKind = Literal["assumed-role", "session-token", "federation-token", "console"]


@dataclass(frozen=True, slots=True)
class SessionTag:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """What a sealed session token carries. Everything a node needs to authenticate and
    authorize the session's requests without reading the database.

    ``kind`` says which STS call minted it. For ``assumed-role`` the role is named by
    ``role_arn``/``role_id``/``role_name``; for ``session-token`` and ``federation-token``
    the long-term identity that called is ``source_arn``/``source_user_id``. ``console``
    is the session a console sign-in opens: it acts as the user (or root) that signed in,
    as its own, unrestricted by what limits GetSessionToken's (tessera.console)."""

    kind: SessionKind
    access_key_id: str
    secret_access_key: str
    account: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    session_name: str = ""
    role_arn: str = ""
    role_id: str = ""
    role_name: str = ""
    source_arn: str = ""
    source_user_id: str = ""
    session_policies: tuple[str, ...] = ()  # inline session policy JSON texts
    session_policy_arns: tuple[str, ...] = ()  # managed policies passed as PolicyArns
    tags: tuple[SessionTag, ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    source_identity: str = ""
    mfa_authenticated: bool = False
    mfa_auth_time: dt.datetime | None = None
    chained: bool = False  # minted by a role session assuming a role
    source_ip: str = ""
    federated_provider: str = ""  # AssumeRoleWithWebIdentity: the OIDC provider's ARN


@dataclass(frozen=True, slots=True)
class Caller:
    """A verified caller. ``web-identity`` is the unsigned caller of
    AssumeRoleWithWebIdentity once its token verified: ``arn`` the OIDC provider's ARN,
    ``user_id`` CloudTrail's ``PROVIDER:AUDIENCE:SUBJECT``, ``name`` the subject; it
    never reaches ordinary authorization (its trust-policy check is its own)."""

    kind: PrincipalKind
    account: str
    arn: str
    user_id: str  # aws:userid: AIDA… for users, the account id for root, "AROA…:session" for sessions
    name: str  # user name, role name, or federated user name; "" for root
    access_key_id: str
    session: SessionClaims | None = None
