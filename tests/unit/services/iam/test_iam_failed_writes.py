"""A refused IAM write changes nothing: everything that can fail runs before the one
transaction that writes, and the transaction itself is all or nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from iamhandlers import ACCOUNT, Call

from tessera.errors import (
    EntityAlreadyExistsException,
    InvalidInputException,
    NoSuchEntityException,
    ValidationError,
)
from tessera.services.iam import mfa
from tessera.services.runtime import Runtime

ANYTHING = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
MFA_PREFIX = f"arn:aws:iam::{ACCOUNT}:mfa/"


def stored(runtime: Runtime) -> dict[tuple[str, str], Any]:
    """Every record of the account, as the store holds it."""
    return {(r.kind, r.key): r.data for r in runtime.store.snapshot(ACCOUNT).records}


@pytest.mark.parametrize("length", [227, 3000])
def test_overlong_virtual_mfa_device_name_is_a_validation_error_and_writes_nothing(call: Call, runtime: Runtime, length: int) -> None:
    before = stored(runtime)
    with pytest.raises(ValidationError, match=r"at 'virtualMFADeviceName' .* less than or equal to 226"):
        call("CreateVirtualMFADevice", VirtualMFADeviceName="d" * length)
    assert stored(runtime) == before
    assert call("ListVirtualMFADevices")["VirtualMFADevices"] == []


def test_device_name_and_path_must_leave_a_usable_serial_number(call: Call, runtime: Runtime) -> None:
    before = stored(runtime)
    with pytest.raises(ValidationError, match=r"at 'serialNumber' .* less than or equal to 256"):
        call("CreateVirtualMFADevice", VirtualMFADeviceName="d" * 225, Path="/team/")
    assert stored(runtime) == before
    device = call("CreateVirtualMFADevice", VirtualMFADeviceName="d" * 226)["VirtualMFADevice"]
    assert device["SerialNumber"] == MFA_PREFIX + "d" * 226
    assert device["QRCodePNG"].startswith(b"\x89PNG")


def test_a_device_whose_qr_code_cannot_be_made_is_not_written(call: Call, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The QR code is rendered before the write: if rendering fails, no device exists."""

    def broken(text: str) -> bytes:
        raise InvalidInputException("cannot render")

    monkeypatch.setattr(mfa, "qr_code_png", broken)
    before = stored(runtime)
    with pytest.raises(InvalidInputException):
        call("CreateVirtualMFADevice", VirtualMFADeviceName="dev")
    assert stored(runtime) == before


def test_create_with_a_missing_or_malformed_boundary_writes_nothing(call: Call, runtime: Runtime) -> None:
    before = stored(runtime)
    with pytest.raises(NoSuchEntityException):
        call("CreateUser", UserName="u", PermissionsBoundary=f"arn:aws:iam::{ACCOUNT}:policy/missing")
    with pytest.raises(InvalidInputException):
        call("CreateUser", UserName="u", PermissionsBoundary=f"arn:AWS:iam::{ACCOUNT}:policy/missing")
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}],
        }
    )
    with pytest.raises(NoSuchEntityException):
        call("CreateRole", RoleName="r", AssumeRolePolicyDocument=trust, PermissionsBoundary=f"arn:aws:iam::{ACCOUNT}:policy/missing")
    assert stored(runtime) == before


def test_a_rename_onto_a_taken_name_writes_nothing(call: Call, runtime: Runtime) -> None:
    call("CreateUser", UserName="alice")
    call("CreateUser", UserName="bob")
    call("CreateAccessKey", UserName="alice")
    before = stored(runtime)
    with pytest.raises(EntityAlreadyExistsException):
        call("UpdateUser", UserName="alice", NewUserName="BOB")
    assert stored(runtime) == before
