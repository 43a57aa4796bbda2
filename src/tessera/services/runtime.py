"""The long-lived parts a server process shares across requests (plain values and objects).

``Runtime`` is built once at start (``build_runtime``) and handed to every
``OperationContext``. It is not a global: tests build their own.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from tessera.auth.authenticate import CredentialResolver
from tessera.auth.caller import SessionClaims
from tessera.auth.oidc_keys import OidcKeys
from tessera.cache import LRU
from tessera.clock import Clock
from tessera.policy import DecisionMemo, Policy, PolicyType
from tessera.secrets import SecretBox
from tessera.services.throttle import Limiters
from tessera.services.usage import UsageTracker
from tessera.services.view import StateView
from tessera.store.base import Store

if TYPE_CHECKING:  # keys.py builds on Runtime
    from tessera.services.keys import KeyringCache


class OrgPolicies(Protocol):
    """What authorization needs to know of Organizations."""

    def scps_for(self, account_id: str) -> Sequence[Sequence[Policy]] | None:
        """SCP levels (root → OUs → account) for a member account; None when none apply."""
        ...

    def principal_org(self, account_id: str) -> tuple[str, Sequence[str]] | None:
        """(organization id, org paths) when the account belongs to an organization."""
        ...


class NoOrganization:
    def scps_for(self, account_id: str) -> Sequence[Sequence[Policy]] | None:
        return None

    def principal_org(self, account_id: str) -> tuple[str, Sequence[str]] | None:
        return None


class Metrics(Protocol):
    def decision(self, result: str) -> None: ...


class NullMetrics:
    def decision(self, result: str) -> None:
        return None


@dataclass
class Settings:
    management_account: str = ""
    debug_signatures: bool = False
    max_body_bytes: int = 1 << 20
    #: AssumeRoleWithSAML: the SAML endpoint URL a response's Destination and its
    #: SubjectConfirmationData Recipient must name, and the Audience it must include
    #: (``tessera serve --saml-endpoint/--saml-audience``; AWS's values by default).
    saml_endpoint: str = "https://signin.aws.amazon.com/saml"
    saml_audience: str = "urn:amazon:webservices"


#: Decisions remembered by ``Runtime.decisions`` (``tessera.policy.memo``): each entry
#: holds at most ``memo.MAX_KEY_TEXT`` characters of request values and no policy, so
#: a few KiB at the very most (~20 MiB in all).
DECISION_MEMO_SIZE = 4096


@dataclass
class Runtime:
    store: Store
    view: StateView
    clock: Clock
    secret_box: SecretBox
    settings: Settings = field(default_factory=Settings)
    org: OrgPolicies = field(default_factory=NoOrganization)
    metrics: Metrics = field(default_factory=NullMetrics)
    usage: UsageTracker | None = None
    limiters: Limiters = field(default_factory=Limiters)
    token_keyring: KeyringCache | None = None  # created on first use by ``keys.current_keyring``
    oidc: OidcKeys = field(default_factory=OidcKeys)  # the keys of OIDC providers' issuers
    credentials: CredentialResolver | None = None  # created on first use by ``credentials.credential_resolver``
    decisions: DecisionMemo = field(default_factory=lambda: DecisionMemo(LRU(DECISION_MEMO_SIZE)))
    _session_policy_lock: threading.Lock = field(default_factory=threading.Lock)

    def session_policies(self, session: SessionClaims) -> tuple[Policy, ...]:
        """The session's inline policy and PolicyArns documents, compiled (cached by text).

        PolicyArns are resolved at request time in the session's account; a policy that
        no longer exists contributes nothing (so it cannot widen the session)."""
        out: list[Policy] = []
        for text in session.session_policies:
            out.append(self.view.policies.get(text, PolicyType.SESSION, "session-policy"))
        account = self.view.account(session.account)
        for arn in session.session_policy_arns:
            document = self.view.managed_policy_text(account, arn)
            if document is not None:
                out.append(self.view.policies.get(document, PolicyType.SESSION, arn))
        if (session.session_policies or session.session_policy_arns) and not out:
            # every session policy vanished: the session keeps no permissions at all
            out.append(self.view.policies.get(DENY_ALL, PolicyType.SESSION, "session-policy"))
        return tuple(out)


#: The threads of the worker pool that runs every non-inline operation (``server/app.py``).
WORKER_THREADS = 8

DENY_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}'
ALLOW_ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
"""What the root user may do, as an identity policy: the side of a federation token
minted by root that its session policies intersect with."""
