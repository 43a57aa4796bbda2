"""The in-memory view of IAM state that the request path reads.

Authentication and authorization never touch the database: they read an
``AccountState`` per account, built once from a store snapshot and then moved forward
by the store's change feed when the account's generation moves (after a local write
at once, and from other nodes by ``StateView.poll``, run when a change notice
arrives and as a fallback every poll interval): only the records a write
changed are read and applied (``AccountState.apply``), so a write costs the same in
an account of ten users or of ten thousand. A view that the feed no longer reaches
back to is rebuilt from a snapshot. Readers take no lock: a change is applied to a
new ``AccountState`` (copying only the indexes it touches) that replaces the old one
in one assignment. A refresh after a commit that fails (the database went away
right after the commit) never fails the write: the scope is marked stale and is
reloaded before it is read again (``StateView.refresh_committed``). Policies are
compiled by the policy engine once per distinct text and reused across refreshes.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tessera.arn import is_aws_managed_policy
from tessera.policy import Policy, PolicyType, parse_policy
from tessera.services import records as R
from tessera.store.base import GLOBAL, BackendError, Change, Record, Store
from tessera.store.guard import LOOP_GUARD

if TYPE_CHECKING:
    from tessera.services.aws_managed import ManagedPolicies

log = logging.getLogger(__name__)

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def name_key(name: str) -> str:
    """The one key IAM names are looked up by: the name lower-cased in ASCII only.

    IAM names are unique regardless of case, but only ASCII letters fold: the names'
    model pattern is ``[\\w+=,.@-]+`` (ASCII), and ``str.lower`` would also map
    characters such as KELVIN SIGN (U+212A) to ``k``, letting a name no user can hold
    reach a stored one (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-names)."""
    return name.translate(_ASCII_LOWER)


#: What one compiled policy is estimated to hold in memory: ``BYTES_PER_CHARACTER``
#: per character of its text plus ``BYTES_PER_POLICY``. Measured with tracemalloc on
#: compiled policies of every shape (many actions, statements, conditions, values,
#: long ``?`` patterns): 17–56 bytes per character, ~5 KiB for the smallest policy.
BYTES_PER_CHARACTER = 64
BYTES_PER_POLICY = 4096
#: The default memory budget of the compiled-policy cache (64 MiB: ~7 000 distinct
#: 2 KiB session policies, or every stored policy of a large deployment).
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


def estimated_size(text: str) -> int:
    """The memory a compiled ``text`` is counted as using in ``PolicyCache``."""
    return BYTES_PER_POLICY + BYTES_PER_CHARACTER * len(text)


class PolicyCache:
    """Compiled policies by (type, id, text): compile once, evaluate many times.

    Session policies are chosen by clients (any text up to 2 048 characters per
    AssumeRole), so the cache is bounded by an estimate of the memory it holds
    (``estimated_size``), not by a count of entries: when an insertion would pass
    ``max_bytes``, the oldest entries are dropped until half the budget is free. A
    dropped policy still in use is recompiled on its next use — correct, merely slower.
    A policy larger than the whole budget is compiled but not kept."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._compiled: dict[tuple[PolicyType, str, str], Policy] = {}
        self._max_bytes = max_bytes
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes(self) -> int:
        """The estimated memory the cached policies hold."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._compiled)

    def get(self, text: str, policy_type: PolicyType, policy_id: str = "") -> Policy:
        key = (policy_type, policy_id, text)
        policy = self._compiled.get(key)
        if policy is None:
            policy = parse_policy(text, policy_type, policy_id=policy_id)
            size = estimated_size(text)
            if size > self._max_bytes:
                return policy
            with self._lock:
                if key in self._compiled:
                    return self._compiled[key]
                if self._bytes + size > self._max_bytes:
                    self._evict(self._max_bytes // 2 - size)
                self._compiled[key] = policy
                self._bytes += size
        return policy

    def _evict(self, target: int) -> None:
        """Drop the oldest entries until at most ``target`` bytes remain (lock held)."""
        for old in list(self._compiled):
            if self._bytes <= target:
                break
            del self._compiled[old]
            self._bytes -= estimated_size(old[2])


@dataclass(slots=True, weakref_slot=True)
class AccountState:
    """One account's IAM entities, indexed the way the request path looks them up."""

    account_id: str
    generation: int
    info: R.AccountRecord | None = None  # None until the account record is read
    users: dict[str, R.UserRecord] = field(default_factory=dict)  # name_key(name) → record
    groups: dict[str, R.GroupRecord] = field(default_factory=dict)
    roles: dict[str, R.RoleRecord] = field(default_factory=dict)
    policies: dict[str, R.PolicyRecord] = field(default_factory=dict)  # arn → record
    policies_by_name: dict[str, R.PolicyRecord] = field(default_factory=dict)  # name_key(name) → record
    access_keys: dict[str, R.AccessKeyRecord] = field(default_factory=dict)  # key id → record
    mfa_devices: dict[str, R.MfaDeviceRecord] = field(default_factory=dict)  # serial → record
    signing_certificates: dict[str, R.SigningCertificateRecord] = field(default_factory=dict)  # id → record
    ssh_public_keys: dict[str, R.SshPublicKeyRecord] = field(default_factory=dict)  # id → record
    service_credentials: dict[str, R.ServiceCredentialRecord] = field(default_factory=dict)  # id → record
    server_certificates: dict[str, R.ServerCertificateRecord] = field(default_factory=dict)  # name_key(name) → record
    instance_profiles: dict[str, R.InstanceProfileRecord] = field(default_factory=dict)  # name_key(name) → record
    oidc_providers: dict[str, R.OidcProviderRecord] = field(default_factory=dict)  # identifier (url) → record
    login_profiles: dict[str, R.LoginProfileRecord] = field(default_factory=dict)  # name_key(user) → record
    saml_providers: dict[str, R.SamlProviderRecord] = field(default_factory=dict)  # name_key(name) → record
    password_policy: R.PasswordPolicyRecord | None = None
    root_password: R.RootPasswordRecord | None = None
    console_signouts: dict[str, R.ConsoleSignoutRecord] = field(default_factory=dict)  # access key id → record
    roles_by_id: dict[str, R.RoleRecord] = field(default_factory=dict)
    users_by_id: dict[str, R.UserRecord] = field(default_factory=dict)
    _identity_cache: dict[tuple[str, str], tuple[Policy, ...]] = field(default_factory=dict)
    #: What authorization derived from each caller of this account and this state alone
    #: (``services.authorization.CallerProfile``); a new state starts with none.
    caller_profiles: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def exists(self) -> bool:
        return self.info is not None

    def user(self, name: str) -> R.UserRecord | None:
        return self.users.get(name_key(name))

    def role(self, name: str) -> R.RoleRecord | None:
        return self.roles.get(name_key(name))

    def group(self, name: str) -> R.GroupRecord | None:
        return self.groups.get(name_key(name))

    def apply(self, changes: Iterable[Change], generation: int) -> AccountState:
        """This state with ``changes`` (the store's feed from this state's generation to
        ``generation``) applied, as ``build_account_state`` would build it from the
        records as of ``generation``. A new state: this one is left as it was, for the
        readers that hold it; the indexes no change touches are shared, not copied."""
        new = dataclasses.replace(self, generation=generation, _identity_cache={}, caller_profiles={})
        copied: set[str] = set()

        def index(attr: str) -> dict[str, Any]:
            table: dict[str, Any] = getattr(new, attr)
            if attr not in copied:
                table = table.copy()
                setattr(new, attr, table)
                copied.add(attr)
            return table

        for change in changes:
            kind, data = change.kind, change.data
            if kind == R.ACCOUNT:
                new.info = None if data is None else R.load(R.ACCOUNT, data)
            elif kind == R.PASSWORD_POLICY:
                new.password_policy = None if data is None else R.load(R.PASSWORD_POLICY, data)
            elif kind == R.ROOT_PASSWORD:
                new.root_password = None if data is None else R.load(R.ROOT_PASSWORD, data)
            elif kind in _INDEXES:
                attr, by_field, by_attr = _INDEXES[kind]
                primary = index(attr)
                old: Mapping[str, Any] | None = primary.pop(change.key, None)
                if data is not None:
                    primary[change.key] = data
                if by_attr:
                    secondary = index(by_attr)
                    # drop the old record's entry only if it is still that record's (a
                    # rename puts the new key, with the same id, before or after the delete)
                    if old is not None:
                        old_id = old[by_field]
                        if secondary.get(old_id) is old:
                            del secondary[old_id]
                    if data is not None:
                        secondary[data[by_field]] = data
        return new


#: kind → (the index by store key, the field of a second index, that index) for the
#: kinds ``AccountState`` keeps in dicts; both a full build (``build_account_state``)
#: and the change feed go through ``AccountState.apply`` and this table.
_INDEXES: dict[str, tuple[str, str, str]] = {
    R.USER: ("users", "id", "users_by_id"),
    R.GROUP: ("groups", "", ""),
    R.ROLE: ("roles", "id", "roles_by_id"),
    R.POLICY: ("policies_by_name", "arn", "policies"),
    R.ACCESS_KEY: ("access_keys", "", ""),
    R.MFA_DEVICE: ("mfa_devices", "", ""),
    R.SIGNING_CERTIFICATE: ("signing_certificates", "", ""),
    R.SSH_PUBLIC_KEY: ("ssh_public_keys", "", ""),
    R.SERVICE_CREDENTIAL: ("service_credentials", "", ""),
    R.SERVER_CERTIFICATE: ("server_certificates", "", ""),
    R.INSTANCE_PROFILE: ("instance_profiles", "", ""),
    R.LOGIN_PROFILE: ("login_profiles", "", ""),
    R.OIDC_PROVIDER: ("oidc_providers", "", ""),
    R.SAML_PROVIDER: ("saml_providers", "", ""),
    R.CONSOLE_SIGNOUT: ("console_signouts", "", ""),
}


def build_account_state(account_id: str, generation: int, recs: Iterable[Record]) -> AccountState:
    """The state of an account from a snapshot of its records: the changes that would
    create them, applied to an empty state, so that a full build and the change feed
    (``AccountState.apply``) can never disagree about a kind."""
    changes = (Change(generation, rec.kind, rec.key, rec.data) for rec in recs)
    return AccountState(account_id=account_id, generation=generation).apply(changes, generation)


class StateView:
    """Every account's ``AccountState`` plus the global scope, kept fresh.

    ``refresh_committed(scopes)`` is called by the write path after a commit; ``poll()``
    picks up writes by other nodes (one cheap query of generations) and stale scopes."""

    def __init__(self, store: Store, managed: ManagedPolicies, cache: PolicyCache | None = None) -> None:
        self._store = store
        self.managed = managed
        self.policies = cache if cache is not None else PolicyCache()
        self._accounts: dict[str, AccountState] = {}
        self._global: AccountState = AccountState(GLOBAL, -1)
        self._global_records: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._key_index: dict[str, str] = {}  # access key id → account id
        self._lock = threading.Lock()
        self.listeners: list[Callable[[str], None]] = []
        # scope → mark number: committed to but not reloaded; read methods reload first
        self._stale: dict[str, int] = {}
        self._marks = 0

    # -- reading -------------------------------------------------------------------
    # Each read first reloads the scopes a failed post-commit refresh left stale (one
    # dict test when there are none), so nobody reads a committed write as missing;
    # if the store is still down that raises BackendError (answered 503).
    def account(self, account_id: str) -> AccountState | None:
        if self._stale:
            self.reload_stale()
        return self._accounts.get(account_id)

    def accounts(self) -> list[AccountState]:
        if self._stale:
            self.reload_stale()
        return list(self._accounts.values())

    def account_for_key(self, access_key_id: str) -> AccountState | None:
        if self._stale:
            self.reload_stale()
        account_id = self._key_index.get(access_key_id)
        return self._accounts.get(account_id) if account_id else None

    def global_record(self, kind: str, key: str) -> Mapping[str, Any] | None:
        if self._stale:
            self.reload_stale()
        return self._global_records.get((kind, key))

    def global_records(self, kind: str) -> list[Mapping[str, Any]]:
        if self._stale:
            self.reload_stale()
        return [d for (k, _), d in sorted(self._global_records.items()) if k == kind]

    @property
    def has_stale(self) -> bool:
        """Whether a read would first reload from the store (so must not run on the event loop)."""
        return bool(self._stale)

    @property
    def stale_scopes(self) -> frozenset[str]:
        """The scopes committed to whose rebuild failed and is still owed."""
        return frozenset(self._stale)

    def reload_stale(self) -> None:
        """Reload the scopes a failed post-commit refresh left stale (BackendError if the store is still down).

        The app prepares requests off the event loop while any scope is stale; one that
        became stale after that check (a concurrent failed refresh) is answered 503 here
        rather than doing store I/O on the loop."""
        if LOOP_GUARD.thread == threading.get_ident():
            raise BackendError("the state view owes a reload from the store", operation="read", reason="state reload pending")
        self.refresh(sorted(self._stale))

    # -- refreshing ----------------------------------------------------------------
    def load_all(self) -> None:
        self.refresh(self._store.scopes())

    def poll(self, generations: Mapping[str, int] | None = None) -> list[str]:
        """Bring forward every scope whose generation moved (or that is stale) by its
        changes since the view's generation; returns those scopes. The one entry point
        for picking up other nodes' writes, however they are noticed: ``generations``
        (from a change notice) names the scopes that moved and saves the query of every
        scope's generation."""
        gens = self._store.generations() if generations is None else generations
        stale = [s for s, g in gens.items() if self._generation(s) != g or s in self._stale]
        if stale:
            self.refresh(stale)
        return stale

    def behind(self, generations: Mapping[str, int]) -> bool:
        """Whether any of ``generations`` (a change notice) is newer than what this view
        holds: a node's own writes, already refreshed after their commit, are not."""
        return any(self._generation(scope) < generation for scope, generation in generations.items())

    def refresh(self, scopes: Iterable[str]) -> None:
        """Bring ``scopes`` up to the store's generation: by the changes since the view's
        generation (one indexed query), or from a snapshot when the view holds no state
        of the scope yet or the feed no longer reaches back to it."""
        for scope in scopes:
            mark = self._marks  # a stale mark made after this point is not cleared below
            since = self._generation(scope)
            feed = self._store.changes(scope, since) if since >= 0 else None
            snap = self._store.snapshot(scope) if feed is None else None
            with self._lock:
                if self._stale.get(scope, mark + 1) <= mark:
                    del self._stale[scope]
                current = self._generation(scope)
                if feed is not None:
                    if feed.generation < current:
                        continue  # a newer state was installed meanwhile
                    # another refresh may have moved the scope past ``since``: the
                    # changes it applied are skipped
                    self._advance(scope, feed.generation, [c for c in feed.changes if c.generation > current])
                elif snap is not None:
                    if snap.generation < current:
                        continue  # a newer snapshot was installed meanwhile
                    if scope == GLOBAL:
                        self._install_global(snap.generation, {(r.kind, r.key): r.data for r in snap.records})
                    else:
                        self._install_account(build_account_state(scope, snap.generation, snap.records))
            for listener in self.listeners:
                listener(scope)

    def refresh_committed(self, scopes: Iterable[str]) -> None:
        """``refresh`` after a commit, which must not turn the committed write into an
        error: if it fails (the database went away just after the commit), the failure
        is logged and ``scopes`` are marked stale, to be reloaded before they are read
        again (and by the next ``poll``)."""
        scopes = list(scopes)
        try:
            self.refresh(scopes)
        except Exception as exc:
            with self._lock:
                self._marks += 1
                for scope in scopes:
                    self._stale[scope] = self._marks
            log.warning(
                "refreshing %s after a commit failed (%s: %s); reloading before the next read", ", ".join(scopes), type(exc).__name__, exc
            )

    def _generation(self, scope: str) -> int:
        if scope == GLOBAL:
            return self._global.generation
        state = self._accounts.get(scope)
        return state.generation if state else -1

    def _advance(self, scope: str, generation: int, changes: list[Change]) -> None:
        """Apply ``changes`` to the scope's state (lock held)."""
        if scope == GLOBAL:
            records = dict(self._global_records)
            for change in changes:
                if change.data is None:
                    records.pop((change.kind, change.key), None)
                else:
                    records[(change.kind, change.key)] = change.data
            self._install_global(generation, records)
            return
        state = self._accounts.get(scope) or AccountState(scope, -1)
        keys = {c.key for c in changes if c.kind == R.ACCESS_KEY}
        self._install_account(state.apply(changes, generation), keys)

    def _install_account(self, state: AccountState, keys: Iterable[str] | None = None) -> None:
        """Readers take no lock, so every step leaves a consistent answer: keys of the new
        state are indexed before the state is installed, and only keys it no longer has
        are dropped afterwards (dropping all and re-adding left a moment in which a live
        key was unknown, and a request signed with it failed as InvalidClientTokenId).
        ``keys``: the only access keys that may differ from the installed state's (the
        ones a change touched); ``None``: any."""
        old = self._accounts.get(state.account_id)
        for key_id in state.access_keys if keys is None else keys:
            if key_id in state.access_keys:
                self._key_index[key_id] = state.account_id
        self._accounts[state.account_id] = state
        if old is not None:
            for key_id in old.access_keys if keys is None else keys:
                if key_id in old.access_keys and key_id not in state.access_keys and self._key_index.get(key_id) == state.account_id:
                    del self._key_index[key_id]

    def _install_global(self, generation: int, records: dict[tuple[str, str], Mapping[str, Any]]) -> None:
        """One assignment after the other: a reader may see the new records with the
        old generation for a moment, never a half-built dict."""
        self._global_records = records
        self._global = AccountState(GLOBAL, generation)

    # -- policies of principals ----------------------------------------------------
    def managed_policy_text(self, account: AccountState | None, arn: str) -> str | None:
        """The default version's document of a managed policy: an AWS managed one, or a
        customer policy of ``account`` (by its ARN as stored). The one lookup every
        evaluation, simulation and session policy goes through."""
        if is_aws_managed_policy(arn):
            return self.managed.document(arn)
        if account is None:
            return None
        rec = account.policies.get(arn)
        if rec is None:
            return None
        document: str = rec["versions"][rec["default_version"]]["document"]
        return document

    def identity_policies(self, account: AccountState, kind: str, name: str) -> tuple[Policy, ...]:
        """Compiled identity policies of a user (with its groups'), or a role."""
        cache_key = (kind, name_key(name))
        hit = account._identity_cache.get(cache_key)
        if hit is not None:
            return hit
        holders: list[R.UserRecord | R.GroupRecord | R.RoleRecord] = []
        if kind == R.USER:
            user = account.users.get(name_key(name))
            if user is not None:
                holders = [user, *(g for g in (account.groups.get(name_key(n)) for n in user["groups"]) if g)]
        else:
            role = account.roles.get(name_key(name))
            holders = [role] if role is not None else []
        if not holders:
            return ()
        out: list[Policy] = []
        for holder in holders:
            for pname, text in sorted(holder["inline_policies"].items()):
                out.append(self.policies.get(text, PolicyType.IDENTITY, f"{holder['arn']}#{pname}"))
            for arn in holder["attached"]:
                document = self.managed_policy_text(account, arn)
                if document is not None:
                    out.append(self.policies.get(document, PolicyType.IDENTITY, arn))
        result = tuple(out)
        account._identity_cache[cache_key] = result
        return result

    def boundary(self, account: AccountState, kind: str, name: str) -> Policy | None:
        rec: R.UserRecord | R.RoleRecord | None = account.users.get(name_key(name)) if kind == R.USER else account.roles.get(name_key(name))
        arn = rec["boundary"] if rec else None
        if not arn:
            return None
        text = self.managed_policy_text(account, arn)
        return self.policies.get(text, PolicyType.BOUNDARY, arn) if text is not None else None
