"""The credential report's rows: every record of the account read once (grouped by
owner, last uses fetched in one query), root's own certificates, and columns in the
order the keys and certificates were made."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from iamhandlers import ACCOUNT, Call

from tessera.auth.caller import Caller
from tessera.clock import FixedClock
from tessera.services import records as R
from tessera.services.runtime import Runtime


def _rows(call: Call) -> dict[str, dict[str, str]]:
    call("GenerateCredentialReport")
    text = call("GetCredentialReport")["Content"].decode("utf-8")
    return {row["user"]: row for row in csv.DictReader(io.StringIO(text))}


def _cert(runtime: Runtime, cert_id: str, user: str, uploaded: str, **extra: Any) -> None:
    with runtime.store.write(ACCOUNT) as tx:
        tx.insert(
            ACCOUNT,
            R.SIGNING_CERTIFICATE,
            cert_id,
            {"id": cert_id, "user": user, "body": "PEM", "status": "Active", "uploaded": uploaded} | extra,
        )


def test_last_uses_come_from_one_query_with_this_nodes_unwritten_notes(
    call: Call, runtime: Runtime, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    call("CreateUser", UserName="amy")
    call("CreateUser", UserName="bob")
    amy = call("CreateAccessKey", UserName="amy")["AccessKey"]["AccessKeyId"]
    bob = call("CreateAccessKey", UserName="bob")["AccessKey"]["AccessKeyId"]
    usage = runtime.usage
    assert usage is not None
    usage.note(Caller("user", ACCOUNT, "arn", "AIDA", "amy", amy), "iam", "eu-west-1", clock.now())
    usage.flush()
    clock.advance(60)
    usage.note(Caller("user", ACCOUNT, "arn", "AIDB", "bob", bob), "sts", "us-east-2", clock.now())

    def one_key_at_a_time(*args: object) -> None:
        raise AssertionError("the report reads last uses per key")

    monkeypatch.setattr(runtime.store, "get_usage", one_key_at_a_time)
    rows = _rows(call)
    assert (rows["amy"]["access_key_1_last_used_region"], rows["amy"]["access_key_1_last_used_service"]) == ("eu-west-1", "iam")
    assert (rows["bob"]["access_key_1_last_used_region"], rows["bob"]["access_key_1_last_used_service"]) == ("us-east-2", "sts")
    assert rows["bob"]["access_key_1_last_used_date"] == "2026-01-02T03:05:05+00:00"


def test_records_are_matched_to_users_by_name_key(call: Call, runtime: Runtime) -> None:
    call("CreateUser", UserName="Amy")
    call("CreateUser", UserName="kay")
    _cert(runtime, "CERTAMY", "AMY", "2026-01-01T00:00:00Z")
    _cert(runtime, "CERTKELVIN", "\u212aay", "2026-01-01T00:00:00Z")  # KELVIN SIGN: not "kay"
    rows = _rows(call)
    assert rows["Amy"]["cert_1_active"] == "true"
    assert rows["kay"]["cert_1_active"] == "false"


def test_root_row_shows_roots_own_signing_certificates(call: Call, runtime: Runtime) -> None:
    call("CreateUser", UserName="amy")
    _cert(runtime, "CERTROOT1", "", "2026-01-01T00:00:00Z")
    _cert(runtime, "CERTROOT2", "", "2026-01-01T10:00:00Z", status="Inactive")
    rows = _rows(call)
    root = rows["<root_account>"]
    assert (root["cert_1_active"], root["cert_1_last_rotated"]) == ("true", "2026-01-01T00:00:00+00:00")
    assert (root["cert_2_active"], root["cert_2_last_rotated"]) == ("false", "2026-01-01T10:00:00+00:00")
    assert rows["amy"]["cert_1_active"] == "false"


def test_credentials_made_in_the_same_second_keep_their_creation_order(call: Call) -> None:
    """The clock is fixed: every key, certificate and SSH key here is made in one second."""
    call("CreateUser", UserName="amy")
    made = [call("CreateAccessKey", UserName="amy")["AccessKey"]["AccessKeyId"] for _ in range(2)]
    call("UpdateAccessKey", UserName="amy", AccessKeyId=made[1], Status="Inactive")
    listed = [k["AccessKeyId"] for k in call("ListAccessKeys", UserName="amy")["AccessKeyMetadata"]]
    assert listed == made
    first = call("ListAccessKeys", UserName="amy", MaxItems=1)
    assert [k["AccessKeyId"] for k in first["AccessKeyMetadata"]] == made[:1]
    rest = call("ListAccessKeys", UserName="amy", Marker=first["Marker"])
    assert [k["AccessKeyId"] for k in rest["AccessKeyMetadata"]] == made[1:]
    root_made = call("CreateAccessKey")["AccessKey"]["AccessKeyId"]  # after the bootstrap key, in its second
    assert [k["AccessKeyId"] for k in call("ListAccessKeys")["AccessKeyMetadata"]] == ["AKIAROOTUNITTEST0001", root_made]
    rows = _rows(call)
    assert (rows["amy"]["access_key_1_active"], rows["amy"]["access_key_2_active"]) == ("true", "false")
    creds = [
        call("CreateServiceSpecificCredential", UserName="amy", ServiceName="codecommit.amazonaws.com")["ServiceSpecificCredential"][
            "ServiceSpecificCredentialId"
        ]
        for _ in range(2)
    ]
    listed_creds = call("ListServiceSpecificCredentials", UserName="amy")["ServiceSpecificCredentials"]
    assert [c["ServiceSpecificCredentialId"] for c in listed_creds] == creds


def test_records_without_a_sequence_sort_before_newer_ones_of_the_same_second(call: Call, runtime: Runtime) -> None:
    call("CreateUser", UserName="amy")
    with runtime.store.write(ACCOUNT) as tx:  # a key stored before "seq" existed, at the clock's second
        tx.insert(
            ACCOUNT,
            R.ACCESS_KEY,
            "AKIAZZZZZZZZZZZZZZZZ",
            {"id": "AKIAZZZZZZZZZZZZZZZZ", "user": "amy", "status": "Inactive", "created": "2026-01-02T03:04:05Z"},
        )
    newer = call("CreateAccessKey", UserName="amy")["AccessKey"]["AccessKeyId"]
    listed = [k["AccessKeyId"] for k in call("ListAccessKeys", UserName="amy")["AccessKeyMetadata"]]
    assert listed == ["AKIAZZZZZZZZZZZZZZZZ", newer]
    row = _rows(call)["amy"]
    assert (row["access_key_1_active"], row["access_key_2_active"]) == ("false", "true")
