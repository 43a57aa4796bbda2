"""MFA in AssumeRole and GetSessionToken under online guessing: failures are limited per
caller and per device, a lock-out refuses right codes too, and codes stay single-use."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyotp
import pytest
from sts_world import A, World, doc, trust

from tessera.auth.caller import Caller
from tessera.errors import AccessDenied, Throttling
from tessera.services import records as R
from tessera.services.throttle import (
    MFA_DAILY_FAILURES,
    MFA_DAY_SECONDS,
    MFA_LOCKOUT_SECONDS,
    MFA_MAX_FAILURES,
    MFA_WINDOW_SECONDS,
)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def add_device(world: World, user: Caller, name: str) -> tuple[str, pyotp.TOTP]:
    serial = f"arn:aws:iam::{A}:mfa/{name}"
    seed = pyotp.random_base32(32)
    record = {
        "serial": serial,
        "name": name,
        "path": "/",
        "seed_sealed": world.runtime.secret_box.seal(seed, context=f"mfa:{serial}"),
        "user": user.name,
        "enabled_at": "2026-01-01T00:00:00Z",
        "created": "2026-01-01T00:00:00Z",
        "tags": [],
        "last_counter": -1,
    }
    world._put(A, R.MFA_DEVICE, serial, record)
    return serial, pyotp.TOTP(seed)


def wrong(totp: pyotp.TOTP, world: World) -> str:
    """A code that is none of the three accepted around now."""
    valid = {totp.at(world.clock.now(), counter_offset=offset) for offset in (-1, 0, 1)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in valid)


def session_token(world: World, caller: Caller, serial: str, code: str) -> dict[str, object]:
    return world.call(caller, "GetSessionToken", SerialNumber=serial, TokenCode=code)


def test_wrong_codes_lock_the_caller_out_and_a_right_code_is_then_refused(world: World) -> None:
    alice = world.add_user("alice")
    serial, totp = add_device(world, alice, "alice-phone")
    for _ in range(MFA_MAX_FAILURES):
        with pytest.raises(AccessDenied):
            session_token(world, alice, serial, wrong(totp, world))
    with pytest.raises(Throttling):
        session_token(world, alice, serial, totp.at(world.clock.now()))
    world.clock.advance(MFA_LOCKOUT_SECONDS)
    credentials = session_token(world, alice, serial, totp.at(world.clock.now()))["Credentials"]
    assert world.authenticate(credentials).session.mfa_authenticated  # type: ignore[arg-type,union-attr]


def test_assume_role_and_get_session_token_share_the_budget(world: World) -> None:
    alice = world.add_user("alice", policies={"p": doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})})
    role = world.add_role("R", doc(trust({"AWS": alice.arn})))
    serial, totp = add_device(world, alice, "alice-phone")
    for i in range(MFA_MAX_FAILURES):
        if i % 2:
            with pytest.raises(AccessDenied):
                session_token(world, alice, serial, wrong(totp, world))
        else:
            with pytest.raises(AccessDenied):
                world.assume(alice, role, SerialNumber=serial, TokenCode=wrong(totp, world))
    with pytest.raises(Throttling):
        world.assume(alice, role, SerialNumber=serial, TokenCode=totp.at(world.clock.now()))


def test_unknown_serials_count_against_the_caller_only(world: World) -> None:
    """Guessing serials wears out the caller's budget, never another user's device."""
    mallory = world.add_user("mallory")
    alice = world.add_user("alice")
    serial, totp = add_device(world, alice, "alice-phone")
    for _ in range(MFA_MAX_FAILURES):
        with pytest.raises(AccessDenied):
            session_token(world, mallory, serial, "123456")
    with pytest.raises(Throttling):
        session_token(world, mallory, serial, "123456")
    session_token(world, alice, serial, totp.at(world.clock.now()))


def test_a_second_key_of_the_same_user_does_not_reset_the_budget(world: World) -> None:
    alice = world.add_user("alice")
    serial, totp = add_device(world, alice, "alice-phone")
    for _ in range(MFA_MAX_FAILURES):
        with pytest.raises(AccessDenied):
            session_token(world, alice, serial, wrong(totp, world))
    other_key = Caller(alice.kind, alice.account, alice.arn, alice.user_id, alice.name, "AKIAOTHERKEY00000001")
    with pytest.raises(Throttling):
        session_token(world, other_key, serial, totp.at(world.clock.now()))


def test_a_used_code_stays_refused(world: World) -> None:
    alice = world.add_user("alice")
    serial, totp = add_device(world, alice, "alice-phone")
    code = totp.at(world.clock.now())
    session_token(world, alice, serial, code)
    with pytest.raises(AccessDenied):
        session_token(world, alice, serial, code)


def test_renaming_the_caller_does_not_reset_its_budget(world: World) -> None:
    """The caller counts under its unique id: a user allowed to UpdateUser itself gains
    nothing by renaming itself or changing its path."""
    alice = world.add_user("alice")
    bogus = f"arn:aws:iam::{A}:mfa/nothing"
    for _ in range(MFA_MAX_FAILURES):
        with pytest.raises(AccessDenied):
            session_token(world, alice, bogus, "123456")
    renamed = dataclasses.replace(alice, arn=f"arn:aws:iam::{A}:user/moved/alicia", name="alicia")
    with pytest.raises(Throttling):
        session_token(world, renamed, bogus, "123456")


def test_a_stale_name_in_the_credentials_does_not_make_anothers_device_ones_own(world: World) -> None:
    """Ownership of the device is decided by the caller's unique id: credentials that
    still carry a name now held by another user count against the caller only."""
    alice = world.add_user("alice")
    impostor = world.add_user("mallory")
    serial, totp = add_device(world, alice, "alice-phone")
    stale = dataclasses.replace(impostor, arn=alice.arn, name="alice")
    for _ in range(MFA_MAX_FAILURES):
        with pytest.raises(AccessDenied):
            session_token(world, stale, serial, wrong(totp, world))
    session_token(world, alice, serial, totp.at(world.clock.now()))


def test_a_replayed_code_is_refused_but_not_counted_as_a_guess(world: World) -> None:
    """Concurrent or retried calls of the user with one code are no guesses: the code
    works once, its replays are refused, and the user is not locked out by them."""
    alice = world.add_user("alice")
    serial, totp = add_device(world, alice, "alice-phone")
    code = totp.at(world.clock.now())
    session_token(world, alice, serial, code)
    for _ in range(2 * MFA_MAX_FAILURES):
        with pytest.raises(AccessDenied):
            session_token(world, alice, serial, code)
    for _ in range(MFA_MAX_FAILURES - 1):  # wrong codes still count
        with pytest.raises(AccessDenied):
            session_token(world, alice, serial, wrong(totp, world))
    world.clock.advance(30)
    session_token(world, alice, serial, totp.at(world.clock.now()))


def test_a_patient_guesser_under_the_short_window_meets_the_daily_budget(world: World) -> None:
    alice = world.add_user("alice")
    serial, totp = add_device(world, alice, "alice-phone")
    for failure in range(MFA_DAILY_FAILURES):
        if failure and failure % (MFA_MAX_FAILURES - 1) == 0:
            world.clock.advance(MFA_WINDOW_SECONDS + 1)  # the short window forgets
        with pytest.raises(AccessDenied):
            session_token(world, alice, serial, wrong(totp, world))
    world.clock.advance(MFA_WINDOW_SECONDS + 1)
    with pytest.raises(Throttling):  # a right code too, for the rest of the day
        session_token(world, alice, serial, totp.at(world.clock.now()))
    world.clock.advance(MFA_DAY_SECONDS)
    credentials = session_token(world, alice, serial, totp.at(world.clock.now()))["Credentials"]
    assert world.authenticate(credentials).session.mfa_authenticated  # type: ignore[arg-type,union-attr]
