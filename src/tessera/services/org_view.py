"""The organizations as authorization sees them: ``Runtime.org``.

``OrgState`` implements ``runtime.OrgPolicies`` over the in-memory view's GLOBAL
records: which SCPs limit an account (levels root → OUs → account, compiled by the
policy engine) and which organization and path an account has (for
``aws:PrincipalOrgID``/``…OrgPaths`` and ``aws:ResourceOrg…``). The snapshot is
rebuilt lazily after the view reloads the GLOBAL scope — a local write or another
node's, seen by ``StateView.poll`` — so a policy change applies to the very next
request (https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from tessera.policy import Policy, PolicyType
from tessera.services.organizations import records as store
from tessera.services.organizations.model import Organization, Organizations
from tessera.services.runtime import Runtime
from tessera.store.base import GLOBAL

Levels = tuple[tuple[Policy, ...], ...]


@dataclass
class _Cache:
    version: int
    orgs: Organizations
    levels: dict[str, Levels | None] = field(default_factory=dict)


class OrgState:
    """``runtime.org``: build with ``OrgState(runtime)`` once the view is loaded."""

    def __init__(self, runtime: Runtime) -> None:
        self._view = runtime.view
        self._lock = threading.Lock()
        self._version = 0
        self._cache: _Cache | None = None
        self._view.listeners.append(self._scope_refreshed)

    def _scope_refreshed(self, scope: str) -> None:
        if scope == GLOBAL:
            with self._lock:
                self._version += 1
                self._cache = None

    def _current(self) -> _Cache:
        if self._view.has_stale:  # a failed refresh after a commit: reload before reading
            self._view.reload_stale()
        cache = self._cache
        if cache is not None:
            return cache
        with self._lock:
            version = self._version
        built = _Cache(version, store.from_view(self._view))
        with self._lock:
            if self._version == version:  # no refresh happened while building
                self._cache = built
        return built

    def snapshot(self) -> Organizations:
        """Every organization, as of the view's GLOBAL scope."""
        return self._current().orgs

    # -- OrgPolicies -------------------------------------------------------------------------
    def scps_for(self, account_id: str) -> Sequence[Sequence[Policy]] | None:
        cache = self._current()
        if account_id not in cache.levels:
            org = cache.orgs.of_account(account_id)
            cache.levels[account_id] = self._compile_levels(org, account_id) if org else None
        return cache.levels[account_id]

    def principal_org(self, account_id: str) -> tuple[str, Sequence[str]] | None:
        org = self._current().orgs.of_account(account_id)
        if org is None:
            return None
        return org.id, (org.org_path(account_id),)

    def _compile_levels(self, org: Organization, account_id: str) -> Levels | None:
        if not org.scps_apply_to(account_id):
            return None
        return tuple(self._compile_level(org, level) for level in org.scp_levels(account_id))

    def _compile_level(self, org: Organization, policy_ids: Sequence[str]) -> tuple[Policy, ...]:
        """A level's policies; an attachment whose policy vanished (only possible through
        hand-edited records) is skipped, so it can narrow access but never widen it."""
        texts = [(pid, rec["content"]) for pid in policy_ids if (rec := org.policy(pid)) is not None]
        return tuple(self._view.policies.get(str(text), PolicyType.SCP, pid) for pid, text in texts)
