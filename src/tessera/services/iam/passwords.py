"""Console passwords of IAM users (login profiles), ChangePassword and the account
password policy.

A password is never stored: a login profile keeps its argon2id hash (argon2-cffi, with
OWASP's recommended parameters: 19 MiB, 2 passes, 1 lane —
https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html — so
the 8 worker threads hashing at once hold about 150 MiB, not the 512 MiB of
RFC 9106's 64 MiB profile), and the audit trail redacts ``Password``,
``OldPassword`` and ``NewPassword`` (``audit/events.py``). Hashing and verifying take
tens of milliseconds, so these operations are registered without ``inline`` and run in
the worker pool, never on the event loop; argon2's verify compares in constant time.

Argon2 work is bounded so that password calls cannot take the worker pool: at most
``HASH_SLOTS`` operations hash or verify at once in the process (``HashGate``; well below
the ``WORKER_THREADS`` of the pool), a call that finds no free slot within
``HASH_WAIT_SECONDS`` is refused with ``Throttling``, and at most one password
operation per user is in flight (a second one is refused with ``Throttling`` at once).
Every check that costs no argon2 work (the caller's rights, the user and its profile,
the password policy) runs first; the reuse check stops at the first match.

ChangePassword is the one call that tests a password a client sends, so it is an online
guessing oracle unless bounded: wrong old passwords count against the calling user in
``throttle.password_attempt`` (the MFA rules and numbers, budgets of their own), and a
user out of tries is refused before its password is looked at.

AWS's rules (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_passwords_account-policy.html):
without a custom policy the default applies (8 to 128 characters, three of the four
character types, not the account's name or email); UpdateAccountPasswordPolicy does no
partial update: every member left out takes its default
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateAccountPasswordPolicy.html);
``AllowUsersToChangePassword`` lets every IAM user change its own password and read the
policy without any policy granting ``iam:ChangePassword`` / ``iam:GetAccountPasswordPolicy``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tessera.errors import (
    AccessDenied,
    ConcurrentModificationException,
    EntityAlreadyExistsException,
    InvalidUserTypeException,
    LimitExceededException,
    NoSuchEntityException,
    PasswordPolicyViolationException,
    Throttling,
    ValidationError,
)
from tessera.policy import PolicySet, PolicyType, evaluate
from tessera.services import records as R
from tessera.services.authorization import caller_policies, request_of
from tessera.services.iam.entities import (
    USER,
    Target,
    account_of,
    account_state,
    authorize_target,
    caller_user_name,
    iso,
    parse_time,
    require_target,
    resolve,
)
from tessera.services.request import OperationContext, operation
from tessera.services.runtime import WORKER_THREADS
from tessera.services.throttle import Locked, password_attempt, principal_id, principal_key
from tessera.services.view import name_key
from tessera.store.base import Transaction

POLICY_KEY = "password_policy"
MAX_PREVIOUS = 24  # PasswordReusePrevention's maximum
DEFAULT_MINIMUM_LENGTH = 6  # UpdateAccountPasswordPolicy's default for MinimumPasswordLength
DEFAULT_POLICY_MINIMUM_LENGTH = 8  # the policy in force while none is set
#: The characters AWS counts as symbols (non-alphanumeric) in a password.
SYMBOLS = frozenset("!@#$%^&*()_+-=[]{}|'")
WRONG_OLD_PASSWORD = "The old password is incorrect."

#: A hash records its own parameters: changing these later still verifies older hashes.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


#: Operations doing argon2 work at once in the process: the cores, at most a quarter of
#: the worker pool (each argon2 call holds a core and 19 MiB for tens of milliseconds).
HASH_SLOTS = max(1, min(os.cpu_count() or 1, WORKER_THREADS // 4))
#: How long a password operation waits for a free slot before ``Throttling``.
HASH_WAIT_SECONDS = 2.0


class HashGate:
    """The process-wide bound on argon2 work: ``slots`` password operations at once, one
    per user; ``in_flight`` / ``peak`` / ``calls`` count the argon2 calls themselves."""

    def __init__(self, slots: int, wait: float) -> None:
        self.slots = slots
        self.wait = wait
        self._slots = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._users: set[str] = set()
        self.in_flight = 0
        self.peak = 0
        self.calls = 0

    @contextmanager
    def hold(self, user_id: str) -> Iterator[None]:
        """One password operation on ``user_id``: Throttling when another one on that user
        is in flight or when no slot frees up within ``wait`` seconds."""
        with self._lock:
            if user_id in self._users:
                raise Throttling("Another password operation for this user is in progress")
            self._users.add(user_id)
        try:
            if not self._slots.acquire(timeout=self.wait):
                raise Throttling()
            try:
                yield
            finally:
                self._slots.release()
        finally:
            with self._lock:
                self._users.discard(user_id)

    @contextmanager
    def counted(self) -> Iterator[None]:
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1


GATE = HashGate(HASH_SLOTS, HASH_WAIT_SECONDS)


# -- hashing --------------------------------------------------------------------------
def hash_password(password: str) -> str:
    with GATE.counted():
        return _HASHER.hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    """Whether ``password`` is the one ``stored_hash`` was made from (constant time)."""
    with GATE.counted():
        try:
            return _HASHER.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


# -- the policy -----------------------------------------------------------------------
def stored_policy(ctx: OperationContext) -> R.PasswordPolicyRecord | None:
    state = account_state(ctx)
    return state.password_policy if state is not None else None


def policy_shape(policy: R.PasswordPolicyRecord) -> dict[str, Any]:
    """``PasswordPolicy``: the optional members only when set; ``ExpirePasswords`` is
    true exactly when a maximum age is."""
    out: dict[str, Any] = {
        "MinimumPasswordLength": policy["minimum_length"],
        "RequireSymbols": policy["require_symbols"],
        "RequireNumbers": policy["require_numbers"],
        "RequireUppercaseCharacters": policy["require_uppercase"],
        "RequireLowercaseCharacters": policy["require_lowercase"],
        "AllowUsersToChangePassword": policy["allow_users_to_change"],
        "ExpirePasswords": policy["max_age"] is not None,
    }
    if policy["max_age"] is not None:
        out["MaxPasswordAge"] = policy["max_age"]
    if policy["reuse_prevention"] is not None:
        out["PasswordReusePrevention"] = policy["reuse_prevention"]
    if policy["hard_expiry"] is not None:
        out["HardExpiry"] = policy["hard_expiry"]
    return out


def _classes(password: str) -> dict[str, bool]:
    return {
        "upper": any("A" <= c <= "Z" for c in password),
        "lower": any("a" <= c <= "z" for c in password),
        "number": any("0" <= c <= "9" for c in password),
        "symbol": any(c in SYMBOLS for c in password),
    }


def check_password(ctx: OperationContext, password: str, policy: R.PasswordPolicyRecord | None) -> None:
    """PasswordPolicyViolation, naming every rule ``password`` breaks."""
    classes = _classes(password)
    problems: list[str] = []
    if policy is None:
        if len(password) < DEFAULT_POLICY_MINIMUM_LENGTH:
            problems.append(f"Password should have a minimum length of {DEFAULT_POLICY_MINIMUM_LENGTH}")
        if sum(classes.values()) < 3:
            problems.append("Password should have at least three of the following: uppercase letters, lowercase letters, numbers, symbols")
        state = account_state(ctx)
        info = state.info if state is not None else None
        if info is not None and password in {info["name"], info["email"]} - {""}:
            problems.append("Password should not be the account name or email address")
    else:
        if len(password) < policy["minimum_length"]:
            problems.append(f"Password should have a minimum length of {policy['minimum_length']}")
        if policy["require_uppercase"] and not classes["upper"]:
            problems.append("Password should have at least one uppercase letter")
        if policy["require_lowercase"] and not classes["lower"]:
            problems.append("Password should have at least one lowercase letter")
        if policy["require_numbers"] and not classes["number"]:
            problems.append("Password should have at least one number")
        if policy["require_symbols"] and not classes["symbol"]:
            problems.append("Password should have at least one symbol")
    if problems:
        raise PasswordPolicyViolationException("; ".join(problems))


def check_reuse(profile: R.LoginProfileRecord | None, password: str, policy: R.PasswordPolicyRecord | None) -> None:
    """PasswordReusePrevention: the new password may not be the current one nor one of
    the ones before it, ``N`` passwords in all."""
    count = (policy["reuse_prevention"] or 0) if policy is not None else 0
    if profile is None or count == 0:
        return
    recent = [profile["hash"], *profile["previous"]][:count]
    if any(password_matches(h, password) for h in recent):
        raise PasswordPolicyViolationException(f"Password should not be one of your last {count} passwords")


# -- login profiles ---------------------------------------------------------------------
def _no_profile(name: str) -> NoSuchEntityException:
    return NoSuchEntityException(f"Login Profile for User {name} cannot be found.")


def view_profile(ctx: OperationContext, name: str) -> R.LoginProfileRecord | None:
    state = account_state(ctx)
    return state.login_profiles.get(name_key(name)) if state is not None else None


def _profile_shape(profile: R.LoginProfileRecord, user: R.UserRecord) -> dict[str, Any]:
    return {
        "UserName": user["name"],
        "CreateDate": parse_time(profile["created"]),
        "PasswordResetRequired": profile["reset_required"],
    }


def _require_profile(tx: Transaction, account: str, user: R.UserRecord, seen: R.LoginProfileRecord | None) -> R.LoginProfileRecord:
    """The stored profile of ``user``; ConcurrentModification when it is not the one the
    request checked (``seen``: its password changed meanwhile)."""
    rec = tx.get(account, R.LOGIN_PROFILE, name_key(user["name"]))
    profile = R.load(R.LOGIN_PROFILE, dict(rec.data)) if rec is not None else None
    if profile is None or profile["user_id"] != user["id"]:
        raise _no_profile(user["name"])
    if seen is not None and profile["hash"] != seen["hash"]:
        raise ConcurrentModificationException(f"The login profile of {user['name']} changed while the request was processed. Please retry.")
    return profile


def _target_user(ctx: OperationContext, params: Mapping[str, Any]) -> Target[R.UserRecord]:
    """The user a login-profile call names; the caller's own user when UserName is left
    out (root must name one: AWS omits it only in AssumeRoot sessions)."""
    return resolve(ctx, USER, caller_user_name(ctx, params))


@operation("iam", "CreateLoginProfile")
def create_login_profile(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    target = _target_user(ctx, params)
    authorize_target(ctx, "iam:CreateLoginProfile", target)
    password = params.get("Password")
    if not password:
        raise ValidationError("Password is required to create a login profile for an IAM user.")
    if target.record is None:
        raise NoSuchEntityException(f"The user with name {target.name} cannot be found.")
    if view_profile(ctx, target.name) is not None:
        raise EntityAlreadyExistsException(f"Login Profile for user {target.name} already exists.")
    check_password(ctx, password, stored_policy(ctx))
    with GATE.hold(str(target.record["id"])):
        hashed = hash_password(password)
    with ctx.write(account) as tx:
        user = require_target(tx, account, target)
        key = name_key(user["name"])
        if tx.get(account, R.LOGIN_PROFILE, key) is not None:
            raise EntityAlreadyExistsException(f"Login Profile for user {user['name']} already exists.")
        profile: R.LoginProfileRecord = {
            "user": user["name"],
            "user_id": user["id"],
            "hash": hashed,
            "created": iso(ctx.now),
            "changed": iso(ctx.now),
            "reset_required": bool(params.get("PasswordResetRequired")),
            "previous": [],
            "last_used": None,
        }
        tx.insert(account, R.LOGIN_PROFILE, key, profile)
    return {"LoginProfile": _profile_shape(profile, user)}


@operation("iam", "GetLoginProfile", read_only=True)
def get_login_profile(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    target = _target_user(ctx, params)
    authorize_target(ctx, "iam:GetLoginProfile", target)
    if target.record is None:
        raise NoSuchEntityException(f"The user with name {target.name} cannot be found.")
    profile = view_profile(ctx, target.name)
    if profile is None or profile["user_id"] != target.record["id"]:
        raise _no_profile(target.name)
    return {"LoginProfile": _profile_shape(profile, target.record)}


@operation("iam", "UpdateLoginProfile")
def update_login_profile(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    target = resolve(ctx, USER, params["UserName"])
    authorize_target(ctx, "iam:UpdateLoginProfile", target)
    if target.record is None:
        raise NoSuchEntityException(f"The user with name {target.name} cannot be found.")
    seen = view_profile(ctx, target.name)
    if seen is None:
        raise _no_profile(target.name)
    password, reset = params.get("Password"), params.get("PasswordResetRequired")
    hashed = None
    if password:
        policy = stored_policy(ctx)
        check_password(ctx, password, policy)
        with GATE.hold(str(target.record["id"])):
            check_reuse(seen, password, policy)
            hashed = hash_password(password)
    with ctx.write(account) as tx:
        user = require_target(tx, account, target)
        profile = _require_profile(tx, account, user, seen)
        if hashed is not None:
            _set_hash(profile, hashed, ctx.now)
        if reset is not None:
            profile["reset_required"] = bool(reset)
        tx.update(account, R.LOGIN_PROFILE, name_key(user["name"]), profile)
    return {}


def _set_hash(profile: R.LoginProfileRecord, hashed: str, now: dt.datetime) -> None:
    profile["previous"] = [profile["hash"], *profile["previous"]][:MAX_PREVIOUS]
    profile["hash"] = hashed
    profile["changed"] = iso(now)


@operation("iam", "DeleteLoginProfile")
def delete_login_profile(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    target = _target_user(ctx, params)
    authorize_target(ctx, "iam:DeleteLoginProfile", target)
    with ctx.write(account) as tx:
        user = require_target(tx, account, target)
        _require_profile(tx, account, user, None)
        tx.delete(account, R.LOGIN_PROFILE, name_key(user["name"]))
    return {}


def _allowed_by_password_policy(ctx: OperationContext, error: AccessDenied) -> bool:
    """Whether the refusal just decided is lifted by ``AllowUsersToChangePassword``, for
    an IAM user only. The setting acts as an identity-based grant of the action on the
    request's resource: the request is evaluated again with that grant added to the
    user's identity policies, so an explicit deny, an SCP, a permissions boundary or a
    session policy still refuse it."""
    policy = stored_policy(ctx)
    denial = error.decision
    if ctx.caller.kind != "user" or policy is None or not policy.get("allow_users_to_change") or denial is None:
        return False
    request = request_of(ctx.caller, denial)
    text = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": request.action, "Resource": request.resource}]})
    grant = ctx.runtime.view.policies.get(text, PolicyType.IDENTITY, "account-password-policy")
    base = caller_policies(ctx)
    policies = PolicySet(
        identity=(*base.identity, grant), resource=base.resource, boundary=base.boundary, session=base.session, scps=base.scps
    )
    decision = evaluate(request, policies)
    if decision.allowed:
        ctx.decisions.append(decision)
        ctx.authorized = True
    return decision.allowed


@operation("iam", "ChangePassword")
def change_password(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """The calling IAM user changes its own password, proving the current one."""
    if ctx.caller.kind != "user":
        ctx.authorize("iam:ChangePassword", ctx.caller.arn)
        raise InvalidUserTypeException("Only IAM users can change their own password.")
    account = account_of(ctx)
    target = resolve(ctx, USER, ctx.caller.name)
    try:
        authorize_target(ctx, "iam:ChangePassword", target)
    except AccessDenied as error:
        if not _allowed_by_password_policy(ctx, error):
            raise
    if target.record is None or target.record["id"] != principal_id(ctx.caller):
        raise NoSuchEntityException(f"The user with name {target.name} cannot be found.")
    seen = view_profile(ctx, target.name)
    if seen is None or seen.get("user_id") != target.record["id"]:
        raise _no_profile(target.name)
    policy = stored_policy(ctx)
    check_password(ctx, params["NewPassword"], policy)
    with GATE.hold(str(target.record["id"])):
        try:
            with password_attempt(ctx.runtime.limiters, [principal_key(ctx.caller)], ctx.now) as attempt:
                if not password_matches(seen["hash"], params["OldPassword"]):
                    attempt.fail()
                    raise AccessDenied(WRONG_OLD_PASSWORD)
        except Locked:
            raise LimitExceededException("Too many failed password change attempts. Try again later.") from None
        check_reuse(seen, params["NewPassword"], policy)
        hashed = hash_password(params["NewPassword"])
    with ctx.write(account) as tx:
        user = require_target(tx, account, target)
        profile = _require_profile(tx, account, user, seen)
        _set_hash(profile, hashed, ctx.now)
        profile["reset_required"] = False
        tx.update(account, R.LOGIN_PROFILE, name_key(user["name"]), profile)
    return {}


# -- the account password policy ---------------------------------------------------------
def _no_policy(account: str) -> NoSuchEntityException:
    return NoSuchEntityException(f"The Password Policy with domain name {account} cannot be found.")


@operation("iam", "GetAccountPasswordPolicy", read_only=True)
def get_account_password_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    try:
        ctx.authorize("iam:GetAccountPasswordPolicy", "*")
    except AccessDenied as error:
        if not _allowed_by_password_policy(ctx, error):
            raise
    policy = stored_policy(ctx)
    if policy is None:
        raise _no_policy(account_of(ctx))
    return {"PasswordPolicy": policy_shape(policy)}


@operation("iam", "UpdateAccountPasswordPolicy")
def update_account_password_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """No partial update: a member left out takes its default."""
    account = account_of(ctx)
    ctx.authorize("iam:UpdateAccountPasswordPolicy", "*")
    policy: R.PasswordPolicyRecord = {
        "minimum_length": int(params.get("MinimumPasswordLength") or DEFAULT_MINIMUM_LENGTH),
        "require_symbols": bool(params.get("RequireSymbols")),
        "require_numbers": bool(params.get("RequireNumbers")),
        "require_uppercase": bool(params.get("RequireUppercaseCharacters")),
        "require_lowercase": bool(params.get("RequireLowercaseCharacters")),
        "allow_users_to_change": bool(params.get("AllowUsersToChangePassword")),
        "max_age": params.get("MaxPasswordAge"),
        "reuse_prevention": params.get("PasswordReusePrevention"),
        "hard_expiry": params.get("HardExpiry"),
    }
    with ctx.write(account) as tx:
        tx.put(account, R.PASSWORD_POLICY, POLICY_KEY, policy)
    return {}


@operation("iam", "DeleteAccountPasswordPolicy")
def delete_account_password_policy(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account = account_of(ctx)
    ctx.authorize("iam:DeleteAccountPasswordPolicy", "*")
    with ctx.write(account) as tx:
        if tx.get(account, R.PASSWORD_POLICY, POLICY_KEY) is None:
            raise _no_policy(account)
        tx.delete(account, R.PASSWORD_POLICY, POLICY_KEY)
    return {}


def password_last_used(ctx: OperationContext, user: R.UserRecord) -> dt.datetime | None:
    """``PasswordLastUsed`` of a user: only when its password was ever used to sign in."""
    profile = view_profile(ctx, user["name"])
    used = profile["last_used"] if profile is not None and profile["user_id"] == user["id"] else None
    return parse_time(used) if used else None
