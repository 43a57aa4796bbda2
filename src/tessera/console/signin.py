"""Console sign-in as AWS does it: an IAM user's password (with the account's password
policy: expiry, hard expiry, reset required), then a TOTP code when the user has an MFA
device; or the root user's password, set with ``tessera accounts set-root-password``
(https://docs.aws.amazon.com/IAM/latest/UserGuide/console.html).

Failed attempts are limited per user (by unique id, so renaming buys nothing) and per
source address, with the same failure limiter MFA codes use (``services.throttle``): while
either is locked out every attempt is refused before the password is looked at. A name
that is not a user counts against the address only, and costs the same argon2 work as a
real one, so the answer and its timing tell nobody which users exist.

Every attempt is a CloudTrail ``ConsoleLogin`` event (``eventType`` ``AwsConsoleSignIn``,
``responseElements.ConsoleLogin`` ``Success`` or ``Failure``); a success's is committed
with the password's last-use time before the session is handed out.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tessera.arn import root_arn
from tessera.audit.events import OPERATOR_SOURCE, bounded, unrequested_event
from tessera.audit.ids import new_id
from tessera.audit.sink import UNAVAILABLE_MESSAGE
from tessera.auth.caller import Caller
from tessera.console.session import ROOT_SESSION_SECONDS, USER_SESSION_SECONDS
from tessera.errors import AccessDenied, ServiceUnavailable, TesseraError, Throttling
from tessera.services import records as R
from tessera.services.iam.passwords import GATE, hash_password, password_matches
from tessera.services.runtime import Runtime
from tessera.services.sts.credentials import issue_own_session
from tessera.services.sts.mfa import authenticate_mfa
from tessera.services.throttle import Locked, password_attempt
from tessera.services.view import AccountState, name_key
from tessera.store.base import BackendError

WRONG = "Your authentication information is incorrect. Please try again."
LOCKED = "Too many failed sign-in attempts. Wait a few minutes, then try again."
HARD_EXPIRED = "Your password has expired. Ask your administrator to reset it."
HIDDEN_USER = "HIDDEN_DUE_TO_SECURITY_REASONS"
"""CloudTrail's user name in the event of a sign-in that named no user of the account."""

_DUMMY_HASH: list[str] = []  # made on first use: the work a sign-in of an unknown name costs

Sink = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Who:
    """The principal a sign-in names, found in the in-memory view."""

    account: AccountState
    user: R.UserRecord | None  # None for root
    caller: Caller  # its long-term identity (no key)

    @property
    def root(self) -> bool:
        return self.user is None


@dataclass(frozen=True)
class Step:
    """What a sign-in step came to: ``done`` with credentials; ``mfa`` (a code is owed)
    or ``new-password`` (the password must be changed first, with the credentials that
    will do it); or ``refused`` with the message to show."""

    kind: Literal["done", "mfa", "new-password", "refused"]
    message: str = ""
    credentials: Mapping[str, Any] | None = None
    devices: tuple[str, ...] = ()
    status: int = 200
    password_changed: str | None = None  # ``mfa``: when the password checked was set


def find_account(runtime: Runtime, text: str) -> AccountState | None:
    """The account named by its 12-digit id or its alias."""
    text = text.strip()
    if text.isdigit() and len(text) == 12:
        return runtime.view.account(text)
    for data in runtime.view.global_records(R.ACCOUNT_ALIAS):
        rec = R.load(R.ACCOUNT_ALIAS, data)
        if rec["alias"] == text.lower():
            return runtime.view.account(rec["account"])
    return None


def find_principal(runtime: Runtime, account_text: str, user_name: str, root: bool) -> Who | None:
    account = find_account(runtime, account_text)
    if account is None or not account.exists:
        return None
    if root:
        caller = Caller("root", account.account_id, root_arn(account.account_id), account.account_id, "", "")
        return Who(account, None, caller)
    user = account.user(user_name) if user_name else None
    if user is None:
        return None
    return Who(account, user, Caller("user", account.account_id, user["arn"], user["id"], user["name"], ""))


def address_key(source_ip: str) -> str:
    """The limiter key of an address: an IPv6 client counts by its /64 (one host holds a
    whole /64), an IPv4 one by its address."""
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return f"signin-address:{source_ip[:64]}"
    if address.version == 6:
        return f"signin-address:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"signin-address:{address}"


def mfa_devices(who: Who) -> tuple[str, ...]:
    """The serials of the enabled MFA devices of the user a sign-in names."""
    if who.user is None:
        return ()
    key = name_key(who.user["name"])
    return tuple(
        sorted(d["serial"] for d in who.account.mfa_devices.values() if d["user"] and d["enabled_at"] and name_key(d["user"]) == key)
    )


def password_state(profile: R.LoginProfileRecord, policy: R.PasswordPolicyRecord | None, now: dt.datetime) -> str:
    """``ok``, ``reset`` (an administrator asked for a new one), ``expired`` (older than
    the policy's MaxPasswordAge: the user sets a new one at sign-in) or ``hard-expired``
    (expired under HardExpiry: only an administrator can set a new one)."""
    max_age = policy["max_age"] if policy is not None else None
    if max_age is not None:
        changed = dt.datetime.fromisoformat(profile["changed"].replace("Z", "+00:00"))
        if changed + dt.timedelta(days=max_age) <= now:
            return "hard-expired" if policy is not None and policy["hard_expiry"] else "expired"
    return "reset" if profile["reset_required"] else "ok"


def check_password(
    runtime: Runtime,
    sink: Sink,
    *,
    account_text: str,
    user_name: str,
    root: bool,
    password: str,
    source_ip: str,
    user_agent: str,
    now: dt.datetime,
) -> tuple[Step, Who | None]:
    """The first step: the password. Refused, or what comes next.

    Failures count against the name signed in as (whether or not it names a user) from
    this address, against that name from anywhere, and against the address: a name that
    is no user is limited exactly like one that is, so neither the answer, nor its
    timing, nor when the lock-out starts tells which users exist."""
    who = find_principal(runtime, account_text, user_name, root)
    address = address_key(source_ip)
    name = name_key_of(who, account_text, user_name, root)
    stored = _stored(who)
    try:
        with (
            runtime.limiters.signin_address.attempt([address], now) as by_address,
            runtime.limiters.signin_name.attempt([name], now) as by_name,
            password_attempt(runtime.limiters, [f"{name}@{address}"], now) as by_name_here,
            GATE.hold(name),
        ):
            if stored is None:
                password_matches(_dummy_hash(), password)  # the same work as a real check
                matched = False
            else:
                matched = password_matches(stored[0], password)
            if not matched:
                by_address.fail()
                by_name.fail()
                by_name_here.fail()
    except (Locked, Throttling):
        # no event: the failures that locked it out are recorded, and a refusal that
        # costs the server nothing must not cost the audit trail anything either
        return Step("refused", LOCKED, status=429), None
    except BackendError as error:  # the budgets could not be read or the failure recorded
        raise ServiceUnavailable(error.client_message()) from error
    if not matched or who is None or stored is None:
        if who is not None or find_account(runtime, account_text) is not None:
            sink(_event(who, account_text, user_name, root, source_ip, user_agent, now, failure="Failed authentication"))
        return Step("refused", WRONG, status=401), None
    if who.user is not None:
        profile = who.account.login_profiles.get(name_key(who.user["name"]))
        if profile is not None and password_state(profile, who.account.password_policy, now) == "hard-expired":
            sink(_event(who, account_text, user_name, root, source_ip, user_agent, now, failure=HARD_EXPIRED))
            return Step("refused", HARD_EXPIRED, status=403), None
    devices = mfa_devices(who)
    if devices:
        return Step("mfa", devices=devices, password_changed=stored[1]), who
    step = finish(runtime, who, mfa=False, source_ip=source_ip, user_agent=user_agent, now=now, password_changed=stored[1])
    return step, who


def check_mfa(
    runtime: Runtime,
    sink: Sink,
    who: Who,
    serial: str,
    code: str,
    *,
    source_ip: str,
    user_agent: str,
    now: dt.datetime,
    password_changed: str | None,
) -> Step:
    """The second step: a code of one of the user's enabled MFA devices, for the
    password checked (set at ``password_changed``)."""
    if serial not in mfa_devices(who):
        serial = ""
    try:
        authenticate_mfa(runtime, who.caller, serial, code, now)
    except BackendError as error:  # the budgets could not be read or the failure recorded
        raise ServiceUnavailable(error.client_message()) from error
    except (AccessDenied, Throttling) as error:
        message = LOCKED if isinstance(error, Throttling) else "The MFA code is not valid. Please try again."
        sink(
            _event(
                who,
                who.account.account_id,
                who.caller.name,
                who.root,
                source_ip,
                user_agent,
                now,
                failure=error.message or message,
                mfa=True,
            )
        )
        return Step("refused", message, devices=mfa_devices(who), status=429 if isinstance(error, Throttling) else 401)
    return finish(runtime, who, mfa=True, source_ip=source_ip, user_agent=user_agent, now=now, password_changed=password_changed)


def finish(
    runtime: Runtime,
    who: Who,
    *,
    mfa: bool,
    source_ip: str,
    user_agent: str,
    now: dt.datetime,
    password_changed: str | None = None,
) -> Step:
    """Open the console session: record the password's use and the ``ConsoleLogin``
    event in one transaction, then mint the session's credentials. ``new-password`` when
    the password must be changed before anything else. ``password_changed`` is when the
    password checked was set: a sign-in whose password was replaced since (while its MFA
    code was owed) is refused, as is one whose password has hard-expired since."""
    caller = who.caller
    seconds = ROOT_SESSION_SECONDS if who.root else USER_SESSION_SECONDS
    credentials = issue_own_session(runtime, caller, kind="console", now=now, seconds=seconds, mfa=mfa, source_ip=source_ip)
    event = _event(who, caller.account, caller.name, who.root, source_ip, user_agent, now, mfa=mfa)
    account = caller.account
    state = "ok"
    try:
        with runtime.store.write(account) as tx:
            if who.user is None:
                rec = tx.get(account, R.ROOT_PASSWORD, "root")
                if rec is None:
                    return Step("refused", WRONG, status=401)
                root_rec = R.load(R.ROOT_PASSWORD, dict(rec.data))
                if password_changed is not None and root_rec["changed"] != password_changed:
                    return Step("refused", WRONG, status=401)
                root_rec["last_used"] = _iso(now)
                tx.update(account, R.ROOT_PASSWORD, "root", root_rec)
            else:
                key = name_key(who.user["name"])
                rec = tx.get(account, R.LOGIN_PROFILE, key)
                if rec is None or rec.data.get("user_id") != who.user["id"]:
                    return Step("refused", WRONG, status=401)  # deleted since the check
                profile = R.load(R.LOGIN_PROFILE, dict(rec.data))
                if password_changed is not None and profile["changed"] != password_changed:
                    return Step("refused", WRONG, status=401)  # a new password was set since the check
                policy_rec = tx.get(account, R.PASSWORD_POLICY, R.PASSWORD_POLICY)
                policy = R.load(R.PASSWORD_POLICY, policy_rec.data) if policy_rec is not None else None
                state = password_state(profile, policy, now)
                if state == "hard-expired":  # expired (or HardExpiry set) while an MFA code was owed
                    return Step("refused", HARD_EXPIRED, status=403)
                profile["last_used"] = _iso(now)
                tx.update(account, R.LOGIN_PROFILE, key, profile)
            tx.append_audit([event])
        runtime.view.refresh_committed((account,))
    except BackendError as error:
        raise ServiceUnavailable(UNAVAILABLE_MESSAGE) from error
    if state in ("reset", "expired"):
        return Step("new-password", credentials=credentials)
    return Step("done", credentials=credentials)


def set_root_password(runtime: Runtime, account: str, password: str, now: dt.datetime) -> None:
    """Set (or replace) the root user's console password (``tessera accounts
    set-root-password``); the account's password policy applies to it as to users'. The
    change is recorded as AWS records a root password change (``PasswordUpdated``), in
    the same transaction."""
    hashed = hash_password(password)
    root = Caller("root", account, root_arn(account), account, "", "")
    event = signin_event("PasswordUpdated", root, OPERATOR_SOURCE, "tessera accounts set-root-password", now)
    with runtime.store.write(account) as tx:
        if tx.get(account, R.ACCOUNT, R.ACCOUNT) is None:
            raise TesseraError(f"no account {account}")
        rec: R.RootPasswordRecord = {"hash": hashed, "changed": _iso(now), "last_used": None}
        tx.put(account, R.ROOT_PASSWORD, "root", rec)
        tx.append_audit([event])


def name_key_of(who: Who | None, account_text: str, user_name: str, root: bool) -> str:
    """The limiter key of the name a sign-in names: its account (the id when the account
    exists, so an alias and the id share a budget) and the user (or root), found or not."""
    account = who.account.account_id if who is not None else account_text.strip().lower()[:64]
    return f"signin-name:{account}:{'root' if root else name_key(user_name)[:64]}"


def _stored(who: Who | None) -> tuple[str, str] | None:
    """The password's hash and when it was set, for the principal a sign-in names."""
    if who is None:
        return None
    if who.user is None:
        root = who.account.root_password
        return (root["hash"], root["changed"]) if root is not None else None
    profile = who.account.login_profiles.get(name_key(who.user["name"]))
    if profile is None or profile.get("user_id") != who.user["id"]:
        return None
    return profile["hash"], profile["changed"]


def _dummy_hash() -> str:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password(new_id()))
    return _DUMMY_HASH[0]


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _event(
    who: Who | None,
    account_text: str,
    user_name: str,
    root: bool,
    source_ip: str,
    user_agent: str,
    now: dt.datetime,
    *,
    failure: str | None = None,
    mfa: bool = False,
) -> dict[str, Any]:
    """The ``ConsoleLogin`` event of one attempt
    (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-aws-console-sign-in-events.html)."""
    if who is not None:
        caller: Caller | None = who.caller
    else:
        account = account_text if account_text.isdigit() and len(account_text) == 12 else ""
        kind: Any = "root" if root else "user"
        caller = Caller(kind, account, root_arn(account) if root and account else "", "", "" if root else HIDDEN_USER, "")
    event = _signin_event(
        "ConsoleLogin",
        caller,
        source_ip,
        user_agent,
        now,
        outcome="Failure" if failure else "Success",
        additional={"LoginTo": "/console/", "MobileVersion": "No", "MFAUsed": "Yes" if mfa else "No"},
    )
    if failure:
        event["errorMessage"] = failure
    if who is None and not root:
        event["userIdentity"].pop("arn", None)
    return bounded(event)


def signin_event(
    name: Literal["SwitchRole", "ExitRole", "ConsoleLogout", "PasswordUpdated"],
    caller: Caller,
    source_ip: str,
    user_agent: str,
    now: dt.datetime,
    *,
    additional: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A successful sign-in event other than ``ConsoleLogin``, by ``caller``. AWS's
    sign-in records ``SwitchRole`` (its ``additionalEventData`` names the identity
    switched from), ``ExitRole`` (back to the signed-in identity) and ``PasswordUpdated``
    (the root user's password), each with ``responseElements`` ``{name: "Success"}``
    (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-aws-console-sign-in-events.html).
    ``ConsoleLogout`` is Tessera's own: AWS records no sign-out, where Tessera's ends
    the session on every node, a change the trail must show."""
    return bounded(_signin_event(name, caller, source_ip, user_agent, now, outcome="Success", additional=additional))


def _signin_event(
    name: str,
    caller: Caller | None,
    source_ip: str,
    user_agent: str,
    now: dt.datetime,
    *,
    outcome: str,
    additional: Mapping[str, str] | None,
) -> dict[str, Any]:
    event = unrequested_event(
        service="signin", name=name, caller=caller, when=now, source_ip=source_ip, user_agent=user_agent, event_type="AwsConsoleSignIn"
    )
    event["responseElements"] = {name: outcome}
    if additional is not None:
        event["additionalEventData"] = dict(additional)
    return event
