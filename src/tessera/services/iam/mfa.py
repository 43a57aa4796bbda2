"""Virtual MFA devices (TOTP: RFC 6238, SHA-1, 6 digits, 30-second steps) and the MFA
check STS uses.

The seed is sealed under ``mfa:<serial>`` and returned only by CreateVirtualMFADevice,
as ``Base32StringSeed`` and as ``QRCodePNG``: a QR code (rendered in memory with segno)
of the key URI AWS documents, ``otpauth://totp/$virtualMFADeviceName@$AccountName?secret=$Base32String``.
The device has no user when it is created, so ``$AccountName`` is the account id.

A code is accepted once: each device keeps the last TOTP counter it accepted
(``last_counter``), and a code whose counter is not newer is refused, so a code seen on
the wire cannot be replayed within its 30-second window.
"""

from __future__ import annotations

import datetime as dt
import hmac
import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pyotp
import segno

from tessera.errors import (
    ConcurrentModificationException,
    DeleteConflictException,
    EntityAlreadyExistsException,
    InvalidAuthenticationCodeException,
    LimitExceededException,
    NoSuchEntityException,
    ValidationError,
)
from tessera.services import records as R
from tessera.services.iam import quotas
from tessera.services.iam.entities import (
    USER,
    account_of,
    authorize_target,
    caller_user_name,
    ensure_quota,
    iso,
    parse_time,
    require_resolved,
    require_target,
    resolve,
    user_shape,
    view_records,
)
from tessera.services.iam.entity_tags import TaggedResource, list_resource_tags, tag_resource, untag_resource
from tessera.services.iam.paging import paginate
from tessera.services.iam.tags import (
    request_tag_context,
    resource_tag_context,
    validate_request_tags,
)
from tessera.services.request import OperationContext, operation
from tessera.services.runtime import Runtime
from tessera.services.throttle import Attempt, device_key, mfa_attempt, principal_id, principal_key
from tessera.services.view import name_key
from tessera.store.base import Transaction

STEP_SECONDS = 30
SEED_LENGTH = 32  # base32 characters: a 160-bit secret, what authenticator apps expect
ENABLE_LOOKBACK_STEPS = 10  # codes typed up to five minutes before the request still enable
VERIFY_WINDOW_STEPS = 1  # one step of clock drift either way when signing in
INVALID_CODE = "Authentication code for device is not valid."
MAX_SERIAL = 256  # serialNumberType's max length in the IAM model
MAX_DEVICE_NAME = MAX_SERIAL - len("arn:aws:iam::123456789012:mfa/")  # 226
QR_SCALE = 4  # pixels per QR module: about 180 px square for a typical key URI


# -- TOTP -----------------------------------------------------------------------------
def current_counter(now: dt.datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def code_at(seed: str, counter: int) -> str:
    return pyotp.TOTP(seed).generate_otp(counter)


def matching_counter(seed: str, code: str, now: dt.datetime, *, after: int) -> int | None:
    """The counter within ±1 step of ``now``, newer than ``after``, whose code is ``code``."""
    centre = current_counter(now)
    for counter in range(centre - VERIFY_WINDOW_STEPS, centre + VERIFY_WINDOW_STEPS + 1):
        if counter > after and hmac.compare_digest(code_at(seed, counter), code):
            return counter
    return None


def consecutive_counter(seed: str, code1: str, code2: str, now: dt.datetime) -> int | None:
    """The counter of ``code2`` when ``code1``/``code2`` are two consecutive codes near now."""
    centre = current_counter(now)
    for first in range(centre - ENABLE_LOOKBACK_STEPS, centre + 1):
        if hmac.compare_digest(code_at(seed, first), code1) and hmac.compare_digest(code_at(seed, first + 1), code2):
            return first + 1
    return None


# -- enrolment QR code ----------------------------------------------------------------
def otpauth_uri(device_name: str, account_name: str, seed: str) -> str:
    """The key URI AWS encodes in ``QRCodePNG``; label parts are percent-encoded so a
    device name holding ``@``, ``+`` or ``=`` cannot change how authenticator apps read it."""
    label = f"{quote(device_name, safe='')}@{quote(account_name, safe='')}"
    return f"otpauth://totp/{label}?secret={seed}"


def qr_code_png(text: str) -> bytes:
    """``text`` as a QR code PNG, rendered in memory: the secret never touches disk (the
    protocol layer base64-encodes the bytes)."""
    buffer = io.BytesIO()
    segno.make_qr(text).save(buffer, kind="png", scale=QR_SCALE)
    return buffer.getvalue()


def _seed(runtime: Runtime, rec: R.MfaDeviceRecord) -> str:
    return runtime.secret_box.open(rec["seed_sealed"], context=f"mfa:{rec['serial']}")


@contextmanager
def _code_attempt(ctx: OperationContext, serial: str, owner_id: str | None = None) -> Iterator[Attempt]:
    """One try of a pair of codes of device ``serial`` (EnableMFADevice,
    ResyncMFADevice); a lock-out refuses before the codes are read. Failures count
    against the caller and, when the device is bound to the user whose unique id is
    ``owner_id`` and the caller is that very user, against the device too — as in STS. A
    device not yet bound to anyone (EnableMFADevice) or bound to someone else counts
    against the caller only: EnableMFADevice is commonly allowed on one's own user only
    (``${aws:username}``,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_iam_mfa-selfmanage.html),
    so a device key there would let anyone lock a colleague out of enrolling.

    Enter it *before* the write transaction that checks the codes: a failure is recorded
    in the store (``throttle.Limiters.shared_by``) when the attempt ends, after that
    transaction, so it counts although the transaction rolls back, and is never a
    second write transaction waiting on the first."""
    keys = [principal_key(ctx.caller)]
    if owner_id is not None and ctx.caller.kind == "user" and principal_id(ctx.caller) == owner_id:
        keys.append(device_key(serial))
    with mfa_attempt(ctx.runtime.limiters, keys, ctx.now) as attempt:
        yield attempt


def _checked_counter(ctx: OperationContext, attempt: Attempt, device: R.MfaDeviceRecord, code1: str, code2: str, *, after: int = -1) -> int:
    """The counter of ``code2`` when ``code1``/``code2`` are consecutive fresh codes of
    ``device``; else the attempt failed."""
    counter = consecutive_counter(_seed(ctx.runtime, device), code1, code2, ctx.now)
    if counter is None or counter <= after:
        attempt.fail()
        raise InvalidAuthenticationCodeException(INVALID_CODE)
    return counter


#: What checking a TokenCode found: a fresh code (now used up), a code of the device
#: that was already used (a concurrent request with the same code won the race, or a
#: retry), or a wrong code.
ACCEPTED, REPLAYED, WRONG = "accepted", "replayed", "wrong"


def verify_mfa_code(runtime: Runtime, account_id: str, serial: str, code: str, now: dt.datetime) -> bool:
    """True when ``code`` is a fresh TOTP of the enabled device ``serial``; the accepted
    counter is stored so the same code cannot be used again."""
    return check_mfa_code(runtime, account_id, serial, code, now) == ACCEPTED


def check_mfa_code(runtime: Runtime, account_id: str, serial: str, code: str, now: dt.datetime) -> str:
    """``ACCEPTED`` when ``code`` is a fresh TOTP of the enabled device ``serial`` (its
    counter is then stored, so it cannot be used again); ``REPLAYED`` when it is a code
    of the device near now that was already used; ``WRONG`` otherwise (STS calls this).

    A replayed code is refused like a wrong one, but is no guess: it is what a user's own
    concurrent calls with one code, or a retried call, send. So STS does not count it as
    a failure, and a script racing one code from a few threads does not lock its user
    out. An attacker gains nothing from it: a used code never works again, and only the
    three codes around now can be replayed."""
    state = runtime.view.account(account_id)
    device = state.mfa_devices.get(serial) if state is not None else None
    if device is None or not device["user"] or not device["enabled_at"]:
        return WRONG
    seed = _seed(runtime, device)
    if matching_counter(seed, code, now, after=device["last_counter"]) is None:
        return REPLAYED if matching_counter(seed, code, now, after=-1) is not None else WRONG
    with runtime.store.write(account_id) as tx:
        stored = tx.get(account_id, R.MFA_DEVICE, serial)
        rec = R.load(R.MFA_DEVICE, stored.data) if stored is not None else None
        if rec is None or not rec["user"]:
            return WRONG
        counter = matching_counter(_seed(runtime, rec), code, now, after=rec["last_counter"])
        if counter is None:  # a concurrent request used this code first
            return REPLAYED
        used: R.MfaDeviceRecord = {**rec, "last_counter": counter}
        tx.update(account_id, R.MFA_DEVICE, serial, used)
    runtime.view.refresh_committed([account_id])
    return ACCEPTED


# -- devices --------------------------------------------------------------------------
def _no_such_device(serial: str) -> NoSuchEntityException:
    return NoSuchEntityException(f"VirtualMFADevice with serial number {serial} doesn't exist.")


def _require_device(tx: Transaction, account: str, serial: str) -> R.MfaDeviceRecord:
    rec = tx.get(account, R.MFA_DEVICE, serial)
    if rec is None:
        raise _no_such_device(serial)
    return R.load(R.MFA_DEVICE, dict(rec.data))


def check_device_name(name: str, serial: str) -> None:
    """A device is named by its serial number in every later call, whose ``SerialNumber``
    member (``serialNumberType``) holds at most 256 characters; so the name may not make
    the serial longer: at path ``/`` that is AWS's 226-character limit on
    ``VirtualMFADeviceName`` (256 less ``arn:aws:iam::123456789012:mfa/``)."""
    if len(name) > MAX_DEVICE_NAME:
        raise ValidationError(
            f"1 validation error detected: Value '{name}' at 'virtualMFADeviceName' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_DEVICE_NAME}"
        )
    if len(serial) > MAX_SERIAL:
        raise ValidationError(
            f"1 validation error detected: Value '{serial}' at 'serialNumber' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_SERIAL}"
        )


@operation("iam", "CreateVirtualMFADevice")
def create_virtual_mfa_device(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """Everything that can fail is done before the one write: the name is checked, the
    seed sealed and the QR code rendered first, so a refused call leaves no device."""
    account, name = account_of(ctx), params["VirtualMFADeviceName"]
    path = params.get("Path") or "/"
    serial = f"arn:aws:iam::{account}:mfa{path}{name}"
    check_device_name(name, serial)
    tags = validate_request_tags(params.get("Tags") or [])
    ctx.authorize("iam:CreateVirtualMFADevice", serial, context=request_tag_context(tags))
    seed = pyotp.random_base32(SEED_LENGTH)
    qr_png = qr_code_png(otpauth_uri(name, account, seed))
    rec: R.MfaDeviceRecord = {
        "serial": serial,
        "name": name,
        "path": path,
        "seed_sealed": ctx.runtime.secret_box.seal(seed, context=f"mfa:{serial}"),
        "user": None,
        "enabled_at": None,
        "created": iso(ctx.now),
        "tags": tags,
        "last_counter": -1,
    }
    with ctx.write(account) as tx:
        devices = tx.list(account, R.MFA_DEVICE)
        ensure_quota(len(devices), quotas.VIRTUAL_MFA_DEVICES_PER_ACCOUNT, "VirtualMFADevicesPerAccount")
        if any(name_key(R.load(R.MFA_DEVICE, d.data)["name"]) == name_key(name) for d in devices):
            raise EntityAlreadyExistsException("MFADevice entity at the same path and name already exists.")
        tx.insert(account, R.MFA_DEVICE, serial, rec)
    device: dict[str, Any] = {
        "SerialNumber": serial,
        "Base32StringSeed": seed.encode("ascii"),
        "QRCodePNG": qr_png,
    }
    if tags:
        device["Tags"] = tags
    return {"VirtualMFADevice": device}


@operation("iam", "EnableMFADevice")
def enable_mfa_device(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, serial = account_of(ctx), params["SerialNumber"]
    target = resolve(ctx, USER, params["UserName"])
    authorize_target(ctx, "iam:EnableMFADevice", target)
    with _code_attempt(ctx, serial) as attempt, ctx.write(account) as tx:
        user = require_target(tx, account, target)
        device = _require_device(tx, account, serial)
        if device["user"]:
            raise EntityAlreadyExistsException("MFA Device is already in use.")
        if tx.count_by(account, R.MFA_DEVICE, "user", user["name"]) >= quotas.MFA_DEVICES_PER_USER:
            raise LimitExceededException(f"Cannot exceed quota for MFADevicesPerUser: {quotas.MFA_DEVICES_PER_USER}")
        counter = _checked_counter(ctx, attempt, device, params["AuthenticationCode1"], params["AuthenticationCode2"])
        device["user"], device["enabled_at"], device["last_counter"] = user["name"], iso(ctx.now), counter
        tx.update(account, R.MFA_DEVICE, serial, device)
    return {}


@operation("iam", "ResyncMFADevice")
def resync_mfa_device(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, serial = account_of(ctx), params["SerialNumber"]
    target = resolve(ctx, USER, params["UserName"])
    authorize_target(ctx, "iam:ResyncMFADevice", target)
    name = target.name
    owner_id = str(target.record["id"]) if target.record is not None else None
    with _code_attempt(ctx, serial, owner_id) as attempt, ctx.write(account) as tx:
        require_target(tx, account, target)  # the very user resolved (owner_id is its id)
        device = _owned_device(tx, account, name, serial)
        counter = _checked_counter(
            ctx, attempt, device, params["AuthenticationCode1"], params["AuthenticationCode2"], after=device["last_counter"]
        )
        device["last_counter"] = counter
        tx.update(account, R.MFA_DEVICE, serial, device)
    return {}


def _owned_device(tx: Transaction, account: str, user: str, serial: str) -> R.MfaDeviceRecord:
    rec = tx.get(account, R.MFA_DEVICE, serial)
    device = R.load(R.MFA_DEVICE, dict(rec.data)) if rec is not None else None
    if device is None or name_key(device["user"] or "") != name_key(user):
        raise NoSuchEntityException(f"MFA Device with serial number {serial} does not exist.")
    return device


@operation("iam", "DeactivateMFADevice")
def deactivate_mfa_device(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, serial = account_of(ctx), params["SerialNumber"]
    target = resolve(ctx, USER, caller_user_name(ctx, params))
    authorize_target(ctx, "iam:DeactivateMFADevice", target)
    name = target.name
    with ctx.write(account) as tx:
        require_target(tx, account, target)
        device = _owned_device(tx, account, name, serial)
        device["user"], device["enabled_at"] = None, None
        tx.update(account, R.MFA_DEVICE, serial, device)
    return {}


@operation("iam", "DeleteVirtualMFADevice")
def delete_virtual_mfa_device(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    account, serial = account_of(ctx), params["SerialNumber"]
    ctx.authorize("iam:DeleteVirtualMFADevice", serial)
    with ctx.write(account) as tx:
        device = _require_device(tx, account, serial)
        if device.get("user"):
            raise DeleteConflictException("MFA device is still in use.")
        tx.delete(account, R.MFA_DEVICE, serial)
    return {}


@operation("iam", "ListMFADevices", read_only=True)
def list_mfa_devices(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    target = resolve(ctx, USER, caller_user_name(ctx, params))
    authorize_target(ctx, "iam:ListMFADevices", target)
    user = require_resolved(target)
    name = target.name
    devices = [
        (d, enabled)
        for d in view_records(ctx, R.MFA_DEVICE)
        if name_key(d["user"] or "") == name_key(name) and (enabled := d["enabled_at"]) is not None
    ]
    page = paginate(devices, lambda d: d[0]["serial"], params.get("Marker"), params.get("MaxItems"))
    return page.output(
        "MFADevices",
        lambda d: {"UserName": user["name"], "SerialNumber": d[0]["serial"], "EnableDate": parse_time(d[1])},
    )


@operation("iam", "ListVirtualMFADevices", read_only=True)
def list_virtual_mfa_devices(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    ctx.authorize("iam:ListVirtualMFADevices", "*")
    status = params.get("AssignmentStatus") or "Any"
    devices = [d for d in view_records(ctx, R.MFA_DEVICE) if status == "Any" or (status == "Assigned") == bool(d["user"])]
    page = paginate(devices, lambda d: d["serial"], params.get("Marker"), params.get("MaxItems"))
    return page.output("VirtualMFADevices", lambda d: _virtual_shape(ctx, d))


def _virtual_shape(ctx: OperationContext, device: R.MfaDeviceRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"SerialNumber": device["serial"]}
    state = ctx.runtime.view.account(account_of(ctx))
    user = state.user(device["user"]) if device["user"] and state is not None else None
    enabled = device["enabled_at"]
    if user is not None and enabled is not None:
        out["User"] = user_shape(user, full=False)
        out["EnableDate"] = parse_time(enabled)
    if device["tags"]:
        out["Tags"] = list(device["tags"])
    return out


@operation("iam", "GetMFADevice", read_only=True)
def get_mfa_device(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    """The device ``SerialNumber`` enabled for ``UserName`` (the calling user when
    omitted), authorized on the user as ListMFADevices is. Virtual devices carry no FIDO
    certifications, so ``Certifications`` is never returned."""
    serial = params["SerialNumber"]
    target = resolve(ctx, USER, caller_user_name(ctx, params))
    authorize_target(ctx, "iam:GetMFADevice", target)
    user = require_resolved(target)
    state = ctx.runtime.view.account(account_of(ctx))
    device = state.mfa_devices.get(serial) if state is not None else None
    enabled = device["enabled_at"] if device is not None else None
    if device is None or not device["user"] or name_key(device["user"]) != name_key(user["name"]) or enabled is None:
        raise NoSuchEntityException(f"MFA Device with serial number {serial} does not exist.")
    return {"UserName": user["name"], "SerialNumber": device["serial"], "EnableDate": parse_time(enabled)}


# -- device tags ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Device:
    """An MFA device a request names by serial number, resolved before authorization."""

    serial: str
    record: R.MfaDeviceRecord | None


def _resolve_device(ctx: OperationContext, serial: str) -> _Device:
    state = ctx.runtime.view.account(account_of(ctx))
    return _Device(serial, state.mfa_devices.get(serial) if state is not None else None)


def _authorize_device(ctx: OperationContext, action: str, device: _Device, extra: Mapping[str, object] | None) -> None:
    """Authorize ``action`` on the device's stored serial number with its tags as
    ``aws:ResourceTag``/``iam:ResourceTag``."""
    rec = device.record
    arn = rec["serial"] if rec is not None else device.serial
    tags = rec["tags"] if rec is not None else []
    ctx.authorize(action, arn, context={**resource_tag_context(tags), **(extra or {})})


def _require_same_device(tx: Transaction, account: str, device: _Device) -> R.MfaDeviceRecord:
    rec = _require_device(tx, account, device.serial)
    authorized = device.record
    if authorized is None or rec["created"] != authorized["created"] or rec["tags"] != authorized["tags"]:
        raise ConcurrentModificationException(f"The MFA device {device.serial} changed while the request was processed. Please retry.")
    return rec


def _require_resolved_device(device: _Device) -> R.MfaDeviceRecord:
    if device.record is None:
        raise _no_such_device(device.serial)
    return device.record


TAGGED = TaggedResource(
    R.MFA_DEVICE,
    "MFA device",
    "MFADevice",
    "SerialNumber",
    _resolve_device,
    _authorize_device,
    _require_same_device,
    _require_resolved_device,
    ident=lambda rec: str(rec["serial"]),
    key=lambda rec: str(rec["serial"]),
)


@operation("iam", "TagMFADevice")
def tag_mfa_device(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return tag_resource(ctx, params, TAGGED)


@operation("iam", "UntagMFADevice")
def untag_mfa_device(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return untag_resource(ctx, params, TAGGED)


@operation("iam", "ListMFADeviceTags", read_only=True)
def list_mfa_device_tags(ctx: OperationContext, params: dict[str, Any]) -> dict[str, Any]:
    return list_resource_tags(ctx, params, TAGGED)
