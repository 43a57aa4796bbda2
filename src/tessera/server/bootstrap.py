"""Opening a data directory: the store, the master key, the state view, and — on first
start — the management account with its root access key.

First start (no management account recorded in the store): the account id comes from
``TESSERA_ACCOUNT_ID`` and the root key pair from ``TESSERA_ROOT_ACCESS_KEY_ID`` /
``TESSERA_ROOT_SECRET_ACCESS_KEY``; whatever is unset is generated. Generated root
keys are printed once and saved to ``DATA_DIR/root-credentials`` (mode 0600) as an
AWS shared-credentials file, so ``AWS_SHARED_CREDENTIALS_FILE=DATA_DIR/root-credentials``
works as is. Later starts change nothing. Several nodes starting at once against one
PostgreSQL database bootstrap exactly once (the global scope's write lock).

Before anything is written, the master key is checked against the store
(``check_master_key``): when the store already holds sealed secrets, the key must open
one of each kind present (the newest session-token key, the root access key), and a
missing ``master.key`` is an error instead of being created. A server or admin command
given the wrong key thus stops with a clear message (``ConfigError``) rather than
sealing new secrets under a key the server does not have.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TextIO

from tessera.audit.events import operator_event
from tessera.auth.oidc_keys import DEFAULT_REFETCH_SECONDS, OidcKeys, OidcSettings
from tessera.auth.tokens import new_access_key_id, new_secret_access_key
from tessera.clock import Clock, OffsetClock, SystemClock
from tessera.secrets import ENV_VAR, KEY_FILE, SecretBox, SecretError, load_master_key
from tessera.services import records as R
from tessera.services.accounts import add_access_key, create_account, new_account_id
from tessera.services.aws_managed import ManagedPolicies
from tessera.services.keys import ensure_token_key
from tessera.services.org_view import OrgState
from tessera.services.runtime import Runtime, Settings
from tessera.services.throttle import Limiters
from tessera.services.usage import UsageTracker
from tessera.services.view import PolicyCache, StateView
from tessera.store.base import GLOBAL, Store, StoreError
from tessera.store.guard import GuardedStore
from tessera.store.sql import default_url, open_store

BOOTSTRAP = "bootstrap"
ACCOUNT_ID = re.compile(r"^\d{12}$")


class ConfigError(Exception):
    """Bad start-up configuration, reported on the command line. Deliberately not a
    ``TesseraError``: it is no AWS error, and nothing renders it to a client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Bootstrapped:
    account_id: str
    access_key_id: str
    secret_access_key: str | None  # only when generated now
    created: bool


def clock_from_env(env: Mapping[str, str]) -> Clock:
    offset = env.get("TESSERA_CLOCK_OFFSET_SECONDS")
    if not offset:
        return SystemClock()
    try:
        return OffsetClock(float(offset))
    except ValueError as error:
        raise ConfigError(f"TESSERA_CLOCK_OFFSET_SECONDS must be a number of seconds, not '{offset}'") from error


def policy_cache_from_env(env: Mapping[str, str]) -> PolicyCache:
    """``TESSERA_POLICY_CACHE_BYTES``: the compiled-policy cache's memory budget."""
    budget = env.get("TESSERA_POLICY_CACHE_BYTES")
    if not budget:
        return PolicyCache()
    if not budget.isascii() or not budget.isdigit() or len(budget) > 15 or int(budget) < 1024 * 1024:
        raise ConfigError(f"TESSERA_POLICY_CACHE_BYTES must be a number of bytes, at least 1048576, not '{budget[:32]}'")
    return PolicyCache(max_bytes=int(budget))


def oidc_from_env(env: Mapping[str, str]) -> OidcKeys:
    """``TESSERA_OIDC_CA_BUNDLE`` (a PEM file of CA certificates trusted for OIDC
    providers besides the system's), ``TESSERA_OIDC_REFETCH_SECONDS`` (the least time
    between two fetches of one issuer's keys; 10 by default) and
    ``TESSERA_OIDC_TIMEOUT_SECONDS`` (the time one fetch of an issuer's keys is given in
    all; 5 by default) and ``TESSERA_OIDC_ALLOW_PRIVATE`` (``0``: never fetch from
    loopback, private, link-local or reserved addresses; ``1``, the default: do)."""
    bundle = env.get("TESSERA_OIDC_CA_BUNDLE") or None
    if bundle is not None and not os.path.isfile(bundle):
        raise ConfigError(f"TESSERA_OIDC_CA_BUNDLE must name a PEM file, not '{bundle[:256]}'")
    interval = env.get("TESSERA_OIDC_REFETCH_SECONDS")
    try:
        refetch = float(interval) if interval else DEFAULT_REFETCH_SECONDS
    except ValueError:
        refetch = -1.0
    if not 0 <= refetch <= 86400:
        raise ConfigError(f"TESSERA_OIDC_REFETCH_SECONDS must be a number of seconds from 0 to 86400, not '{(interval or '')[:32]}'")
    given = env.get("TESSERA_OIDC_TIMEOUT_SECONDS")
    try:
        timeout = float(given) if given else OidcSettings().timeout
    except ValueError:
        timeout = -1.0
    if not 0.1 <= timeout <= 600:
        raise ConfigError(f"TESSERA_OIDC_TIMEOUT_SECONDS must be a number of seconds from 0.1 to 600, not '{(given or '')[:32]}'")
    private = env.get("TESSERA_OIDC_ALLOW_PRIVATE", "1")
    if private not in ("0", "1"):
        raise ConfigError(f"TESSERA_OIDC_ALLOW_PRIVATE must be 0 or 1, not '{private[:32]}'")
    return OidcKeys(OidcSettings(extra_ca_file=bundle, refetch_interval=refetch, timeout=timeout, allow_private=private == "1"))


def open_runtime(
    data_dir: str,
    database_url: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    out: TextIO | None = None,
    command: str = "tessera serve",
) -> Runtime:
    """Everything a server process (or an admin command) needs, bootstrapped.
    ``command`` names, in the audit trail, what made what a first start creates."""
    env = os.environ if env is None else env
    try:
        os.makedirs(data_dir, mode=0o700, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot use the data directory {data_dir!r}: {error.strerror or error}") from None
    try:
        store = GuardedStore(open_store(database_url or default_url(data_dir)))
    except StoreError as error:
        raise ConfigError(f"cannot open the database: {error}") from None
    try:
        runtime, boot = _open(store, data_dir, env, clock, command)
    except ConfigError:
        store.close()
        raise
    except StoreError as error:
        store.close()
        raise ConfigError(f"cannot read the database: {error}") from None
    if boot.created and boot.secret_access_key is not None:
        _announce_root_keys(data_dir, boot, out or sys.stdout)
    return runtime


def _open(store: Store, data_dir: str, env: Mapping[str, str], clock: Clock | None, command: str) -> tuple[Runtime, Bootstrapped]:
    box = check_master_key(store, data_dir, env)
    view = StateView(store, ManagedPolicies.load(), policy_cache_from_env(env))
    oidc = oidc_from_env(env)
    runtime = Runtime(
        store=store,
        view=view,
        clock=clock or clock_from_env(env),
        secret_box=box,
        oidc=oidc,
        limiters=Limiters.shared_by(store),  # every process and node on this store: one budget
    )
    boot = bootstrap(runtime, env, command)
    runtime.settings = Settings(management_account=boot.account_id)
    view.load_all()
    ensure_token_key(runtime, command)
    runtime.org = OrgState(runtime)
    runtime.usage = UsageTracker(store)
    return runtime, boot


def check_master_key(store: Store, data_dir: str, env: Mapping[str, str]) -> SecretBox:
    """The ``SecretBox`` of the master key given (``TESSERA_MASTER_KEY`` or
    ``DATA_DIR/master.key``), once it is known to open the secrets the store already
    holds; a new master key is created only for a store that holds none."""
    samples = _sealed_samples(store)
    source = ENV_VAR if ENV_VAR in env else os.path.join(data_dir, KEY_FILE)
    try:
        box = SecretBox(load_master_key(data_dir, env, create=not samples))
    except SecretError as error:
        raise ConfigError(f"{error}; this database already holds sealed secrets: give this command the server's master key") from error
    for sealed, context in samples:
        try:
            box.open(sealed, context=context)
        except SecretError as error:
            raise ConfigError(
                f"the master key in {source} does not open the secrets already stored in this database "
                f"({context.split(':', 1)[0]}): refusing to start or write; give this command the server's master key "
                f"({ENV_VAR} or {KEY_FILE} in the server's data directory)"
            ) from error
    return box


def _sealed_samples(store: Store) -> list[tuple[str, str]]:
    """One sealed value (and its context) per kind of secret the store surely holds once
    used: the newest session-token key and the management account's root access key
    (or another of its keys if root's was deleted). Empty for a fresh store."""
    samples: list[tuple[str, str]] = []
    with store.read() as tx:
        token_keys = [R.load(R.TOKEN_KEY, rec.data) for rec in tx.list(GLOBAL, R.TOKEN_KEY)]
        if token_keys:
            newest = max(token_keys, key=lambda data: data["sequence"])
            samples.append((newest["secret_sealed"], f"token-key:{newest['id']}"))
        management = tx.get(GLOBAL, BOOTSTRAP, "management")
        if management is not None:
            account = management.data["account"]
            root = tx.get(account, R.ACCESS_KEY, management.data["root_access_key_id"])
            keys = [root] if root is not None else tx.list(account, R.ACCESS_KEY)[:1]
            samples += [(rec.data["secret_sealed"], f"access-key:{rec.key}") for rec in keys]
    return samples


def bootstrap(runtime: Runtime, env: Mapping[str, str], command: str = "tessera serve") -> Bootstrapped:
    account_id = env.get("TESSERA_ACCOUNT_ID") or ""
    if account_id and not ACCOUNT_ID.match(account_id):
        raise ConfigError(f"TESSERA_ACCOUNT_ID must be 12 digits, not '{account_id}'")
    key_id = env.get("TESSERA_ROOT_ACCESS_KEY_ID") or ""
    secret = env.get("TESSERA_ROOT_SECRET_ACCESS_KEY") or ""
    if key_id and not re.match(r"^[A-Z0-9]{16,128}$", key_id):
        raise ConfigError("TESSERA_ROOT_ACCESS_KEY_ID must be 16-128 upper-case letters and digits")
    with runtime.store.write(GLOBAL) as tx:
        existing = tx.get(GLOBAL, BOOTSTRAP, "management")
        if existing is not None:
            data = existing.data
            return Bootstrapped(data["account"], data["root_access_key_id"], None, False)
    generated = not (key_id and secret)
    account_id = account_id or new_account_id()
    key_id = key_id or new_access_key_id("AKIA", account=account_id)
    secret = secret or new_secret_access_key()
    now = runtime.clock.now()
    with runtime.store.write(GLOBAL, account_id) as tx:
        if tx.get(GLOBAL, BOOTSTRAP, "management") is not None:  # another node won the race
            data = tx.get(GLOBAL, BOOTSTRAP, "management").data  # type: ignore[union-attr]
            return Bootstrapped(data["account"], data["root_access_key_id"], None, False)
        create_account(tx, account_id, name="management", email="", now=now, management=True)
        add_access_key(tx, runtime.secret_box, account_id, user="", now=now, key_id=key_id, secret=secret)
        tx.insert(GLOBAL, BOOTSTRAP, "management", {"account": account_id, "root_access_key_id": key_id})
        # the first start's own change, in the trail with it: where the root key came from
        details = {"accountId": account_id, "rootAccessKeyId": key_id, "rootKeyGenerated": generated}
        event = operator_event(
            service="organizations", name="CreateAccount", account=account_id, command=command, when=now, details=details
        )
        tx.append_audit([event])
    return Bootstrapped(account_id, key_id, secret if generated else None, True)


def _announce_root_keys(data_dir: str, boot: Bootstrapped, out: TextIO) -> None:
    path = os.path.join(data_dir, "root-credentials")
    text = f"[default]\naws_access_key_id = {boot.access_key_id}\naws_secret_access_key = {boot.secret_access_key}\n"
    # 0600 from creation; a file left there with a looser mode is tightened before the
    # secret is written, and a symbolic link is not followed.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    out.write(
        "Tessera bootstrapped the management account "
        f"{boot.account_id}.\nRoot access key (shown once; also saved to {path}):\n"
        f"  aws_access_key_id     = {boot.access_key_id}\n"
        f"  aws_secret_access_key = {boot.secret_access_key}\n"
    )
    out.flush()
