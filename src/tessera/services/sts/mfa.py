"""MFA for AssumeRole and GetSessionToken: the device must be enabled for the calling
IAM user and the code must be a valid, unused TOTP
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_configure-api-require.html).

Failed attempts are limited per calling principal and per device
(``tessera.services.throttle``): once either is locked out every attempt is refused
with ``Throttling`` before the code is looked at. A serial that is not the caller's
device counts against the caller only, so nobody can lock out another user's device.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from tessera.auth.caller import Caller
from tessera.errors import AccessDenied
from tessera.services.iam.mfa import ACCEPTED, WRONG, check_mfa_code
from tessera.services.runtime import Runtime
from tessera.services.throttle import device_key, mfa_attempt, principal_id, principal_key
from tessera.services.view import name_key

UNKNOWN_DEVICE = (
    "MultiFactorAuthentication failed, unable to validate MFA code. "
    "Please verify your MFA serial number is valid and associated with this user."
)
WRONG_CODE = "MultiFactorAuthentication failed with invalid MFA one time pass code."


def mfa_requested(params: Mapping[str, Any]) -> bool:
    """MFA counts only when both SerialNumber and TokenCode are given; either alone is
    ignored, so the request proceeds without MFA and policies that require it deny."""
    return bool(params.get("SerialNumber") and params.get("TokenCode"))


def authenticate_mfa(runtime: Runtime, caller: Caller, serial: str, code: str, now: dt.datetime) -> None:
    """Raise AccessDenied unless ``code`` is valid for an MFA device of the calling user.

    Role sessions and federated users own no MFA device, and the root user's device is
    not manageable through Tessera's IAM API, so only IAM users (with long-term or
    GetSessionToken credentials) can authenticate with MFA.

    Raise ``Throttling`` instead, whatever the code, while the caller or the device is
    locked out; every wrong code or unknown device counts towards that, a code of the
    device that was already used (a concurrent call with the same code won) does not."""
    owned = caller.kind == "user" and _device_of(runtime, caller, serial)
    keys = [principal_key(caller)]
    if owned:
        keys.append(device_key(serial))
    with mfa_attempt(runtime.limiters, keys, now) as attempt:
        if not owned:
            attempt.fail()
            raise AccessDenied(UNKNOWN_DEVICE)
        outcome = check_mfa_code(runtime, caller.account, serial, code, now)
        if outcome != ACCEPTED:
            if outcome == WRONG:  # a replayed code is refused alike but is no guess
                attempt.fail()
            raise AccessDenied(WRONG_CODE)


def _device_of(runtime: Runtime, caller: Caller, serial: str) -> bool:
    """Whether ``serial`` is an enabled device of the calling user — the user found by
    its unique id, so a name the caller's credentials remember (a renamed user, or a
    user deleted and recreated under the same name) does not make another's device its own."""
    account = runtime.view.account(caller.account)
    if account is None:
        return False
    device = account.mfa_devices.get(serial)
    user = account.users_by_id.get(principal_id(caller))
    if device is None or user is None:
        return False
    return name_key(device["user"] or "") == name_key(user["name"]) and bool(device["enabled_at"])
