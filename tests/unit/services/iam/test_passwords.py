"""Login profiles, ChangePassword, the account password policy, account aliases and the
credential report, at the handler level over a real SQLite store."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable

import pytest
from iamhandlers import ACCOUNT, NOW, Call, root_caller, user_arn, user_caller

from tessera.audit.events import HIDDEN, redact_request
from tessera.auth.caller import Caller
from tessera.clock import FixedClock
from tessera.errors import (
    AccessDenied,
    CredentialReportExpiredException,
    CredentialReportNotPresentException,
    DeleteConflictException,
    EntityAlreadyExistsException,
    InvalidUserTypeException,
    LimitExceededException,
    NoSuchEntityException,
    PasswordPolicyViolationException,
)
from tessera.service_models import Operation, resolve_operation
from tessera.services import records as R
from tessera.services.iam.credential_report import COLUMNS
from tessera.services.iam.passwords import password_matches
from tessera.services.request import lookup
from tessera.services.runtime import Runtime
from tessera.services.throttle import MFA_MAX_FAILURES

GOOD = "Correct-Horse-9"
OTHER = "Battery-Staple-7"
MakeUser = Callable[[str, str | None], Caller]


def _operation(name: str) -> Operation:
    resolved = resolve_operation("iam", name)
    assert resolved is not None
    return resolved


def _policy(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _profile(runtime: Runtime, name: str) -> dict[str, object] | None:
    state = runtime.view.account(ACCOUNT)
    assert state is not None
    rec = state.login_profiles.get(name.lower())
    return dict(rec) if rec is not None else None


# -- login profiles -----------------------------------------------------------------------
def test_login_profile_lifecycle_stores_only_an_argon2_hash(call: Call, runtime: Runtime) -> None:
    call("CreateUser", UserName="alice")
    with pytest.raises(NoSuchEntityException, match=r"Login Profile for User alice cannot be found\."):
        call("GetLoginProfile", UserName="alice")
    out = call("CreateLoginProfile", UserName="Alice", Password=GOOD, PasswordResetRequired=True)
    assert out == {"LoginProfile": {"UserName": "alice", "CreateDate": NOW, "PasswordResetRequired": True}}
    stored = _profile(runtime, "alice")
    assert stored is not None
    assert str(stored["hash"]).startswith("$argon2id$v=19$m=19456,t=2,p=1$") and GOOD not in json.dumps(stored)
    assert password_matches(str(stored["hash"]), GOOD) and not password_matches(str(stored["hash"]), OTHER)
    assert call("GetLoginProfile", UserName="alice")["LoginProfile"]["PasswordResetRequired"] is True
    with pytest.raises(EntityAlreadyExistsException):
        call("CreateLoginProfile", UserName="alice", Password=OTHER)
    call("UpdateLoginProfile", UserName="alice", Password=OTHER, PasswordResetRequired=False)
    updated = _profile(runtime, "alice")
    assert updated is not None and password_matches(str(updated["hash"]), OTHER)
    assert updated["previous"] == [stored["hash"]] and updated["reset_required"] is False
    call("DeleteLoginProfile", UserName="alice")
    assert _profile(runtime, "alice") is None
    with pytest.raises(NoSuchEntityException):
        call("DeleteLoginProfile", UserName="alice")


def test_login_profile_of_a_missing_user_is_no_such_entity(call: Call, runtime: Runtime) -> None:
    with pytest.raises(NoSuchEntityException, match="user with name ghost"):
        call("CreateLoginProfile", UserName="ghost", Password=GOOD)
    with pytest.raises(NoSuchEntityException):
        call("GetLoginProfile", UserName="ghost")
    with pytest.raises(NoSuchEntityException):
        call("UpdateLoginProfile", UserName="ghost", Password=GOOD)


def test_default_policy_applies_while_none_is_set(call: Call, runtime: Runtime) -> None:
    call("CreateUser", UserName="bob")
    with pytest.raises(PasswordPolicyViolationException, match="minimum length of 8"):
        call("CreateLoginProfile", UserName="bob", Password="Ab1!")
    with pytest.raises(PasswordPolicyViolationException, match="three of the following"):
        call("CreateLoginProfile", UserName="bob", Password="alllowercase1")
    assert _profile(runtime, "bob") is None


def test_login_profile_calls_are_authorized_on_the_stored_user(call: Call, runtime: Runtime, user_with_policy: MakeUser) -> None:
    call("CreateUser", UserName="target", Path="/staff/")
    admin = user_with_policy("admin", _policy({"Effect": "Allow", "Action": "iam:CreateLoginProfile", "Resource": user_arn("other")}))
    with pytest.raises(AccessDenied):
        call("CreateLoginProfile", caller=admin, UserName="TARGET", Password=GOOD)
    assert _profile(runtime, "target") is None
    allowed = user_with_policy(
        "admin2", _policy({"Effect": "Allow", "Action": "iam:*LoginProfile", "Resource": user_arn("target", "/staff/")})
    )
    call("CreateLoginProfile", caller=allowed, UserName="TARGET", Password=GOOD)
    assert call("GetLoginProfile", caller=allowed, UserName="target")["LoginProfile"]["UserName"] == "target"


def test_delete_user_refuses_while_a_login_profile_exists_and_rename_carries_it(call: Call, runtime: Runtime) -> None:
    call("CreateUser", UserName="carol")
    call("CreateLoginProfile", UserName="carol", Password=GOOD)
    with pytest.raises(DeleteConflictException, match="login profile"):
        call("DeleteUser", UserName="carol")
    call("UpdateUser", UserName="carol", NewUserName="caroline")
    assert _profile(runtime, "carol") is None
    assert call("GetLoginProfile", UserName="caroline")["LoginProfile"]["UserName"] == "caroline"
    call("UpdateUser", UserName="caroline", NewUserName="Caroline")  # a change of case alone
    assert call("GetLoginProfile", UserName="caroline")["LoginProfile"]["UserName"] == "Caroline"
    moved = _profile(runtime, "caroline")
    assert moved is not None and moved["user"] == "Caroline"
    call("DeleteLoginProfile", UserName="caroline")
    call("DeleteUser", UserName="caroline")


def test_hashing_operations_run_in_the_worker_pool() -> None:
    """argon2 takes tens of milliseconds: never on the event loop."""
    for name in ("CreateLoginProfile", "UpdateLoginProfile", "ChangePassword"):
        spec = lookup("iam", name)
        assert spec is not None and not spec.runs_inline({"Password": GOOD, "OldPassword": GOOD, "NewPassword": OTHER})


def test_password_never_reaches_the_audit_parameters() -> None:
    for operation, params in (
        ("CreateLoginProfile", {"UserName": "u", "Password": GOOD}),
        ("UpdateLoginProfile", {"UserName": "u", "Password": GOOD}),
        ("ChangePassword", {"OldPassword": GOOD, "NewPassword": OTHER}),
    ):
        recorded = json.dumps(redact_request(_operation(operation), params))
        assert GOOD not in recorded and OTHER not in recorded and HIDDEN in recorded


# -- ChangePassword ------------------------------------------------------------------------
def _self_service(name: str) -> str:
    return _policy({"Effect": "Allow", "Action": "iam:ChangePassword", "Resource": user_arn(name)})


def test_change_password_needs_the_old_password_and_clears_reset(call: Call, runtime: Runtime, user_with_policy: MakeUser) -> None:
    dave = user_with_policy("dave", _self_service("dave"))
    call("CreateLoginProfile", UserName="dave", Password=GOOD, PasswordResetRequired=True)
    before = _profile(runtime, "dave")
    with pytest.raises(AccessDenied, match="old password is incorrect"):
        call("ChangePassword", caller=dave, OldPassword="Wrong-Guess-1", NewPassword=OTHER)
    assert _profile(runtime, "dave") == before
    call("ChangePassword", caller=dave, OldPassword=GOOD, NewPassword=OTHER)
    after = _profile(runtime, "dave")
    assert after is not None and password_matches(str(after["hash"]), OTHER) and after["reset_required"] is False


def test_change_password_is_denied_without_permission(call: Call, runtime: Runtime, user_with_policy: MakeUser) -> None:
    erin = user_with_policy("erin", None)
    call("CreateLoginProfile", UserName="erin", Password=GOOD)
    before = _profile(runtime, "erin")
    with pytest.raises(AccessDenied, match="iam:ChangePassword"):
        call("ChangePassword", caller=erin, OldPassword=GOOD, NewPassword=OTHER)
    assert _profile(runtime, "erin") == before


def test_allow_users_to_change_password_grants_it_but_not_past_an_explicit_deny(
    call: Call, runtime: Runtime, user_with_policy: MakeUser
) -> None:
    call("UpdateAccountPasswordPolicy", AllowUsersToChangePassword=True, MinimumPasswordLength=8)
    frank = user_with_policy("frank", None)
    call("CreateLoginProfile", UserName="frank", Password=GOOD)
    call("ChangePassword", caller=frank, OldPassword=GOOD, NewPassword=OTHER)
    assert call("GetAccountPasswordPolicy", caller=frank)["PasswordPolicy"]["AllowUsersToChangePassword"] is True
    grace = user_with_policy("grace", _policy({"Effect": "Deny", "Action": "iam:ChangePassword", "Resource": "*"}))
    call("CreateLoginProfile", UserName="grace", Password=GOOD)
    with pytest.raises(AccessDenied, match="explicit deny"):
        call("ChangePassword", caller=grace, OldPassword=GOOD, NewPassword=OTHER)
    call("CreatePolicy", PolicyName="only-s3", PolicyDocument=_policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}))
    bounded = user_with_policy("bounded", None)
    call("PutUserPermissionsBoundary", UserName="bounded", PermissionsBoundary=f"arn:aws:iam::{ACCOUNT}:policy/only-s3")
    call("CreateLoginProfile", UserName="bounded", Password=GOOD)
    with pytest.raises(AccessDenied, match="iam:ChangePassword"):  # the boundary still bounds the grant
        call("ChangePassword", caller=bounded, OldPassword=GOOD, NewPassword=OTHER)
    call("PutUserPermissionsBoundary", UserName="bounded", PermissionsBoundary="arn:aws:iam::aws:policy/IAMFullAccess")
    call("ChangePassword", caller=user_caller(runtime, "bounded"), OldPassword=GOOD, NewPassword=OTHER)


def test_root_cannot_change_password(call: Call) -> None:
    with pytest.raises(InvalidUserTypeException):
        call("ChangePassword", OldPassword=GOOD, NewPassword=OTHER)


def test_wrong_old_passwords_lock_the_user_out_before_checking(
    call: Call, runtime: Runtime, clock: FixedClock, user_with_policy: MakeUser
) -> None:
    hank = user_with_policy("hank", _self_service("hank"))
    call("CreateLoginProfile", UserName="hank", Password=GOOD)
    for attempt in range(MFA_MAX_FAILURES):
        with pytest.raises(AccessDenied):
            call("ChangePassword", caller=hank, OldPassword=f"Wrong-Guess-{attempt}", NewPassword=OTHER)
    with pytest.raises(LimitExceededException):
        call("ChangePassword", caller=hank, OldPassword=GOOD, NewPassword=OTHER)
    profile = _profile(runtime, "hank")
    assert profile is not None and password_matches(str(profile["hash"]), GOOD)
    clock.advance(2 * 3600)
    call("ChangePassword", caller=hank, OldPassword=GOOD, NewPassword=OTHER)


def test_reuse_prevention_refuses_recent_passwords(call: Call, user_with_policy: MakeUser) -> None:
    call("UpdateAccountPasswordPolicy", PasswordReusePrevention=2, MinimumPasswordLength=8)
    ivy = user_with_policy("ivy", _self_service("ivy"))
    call("CreateLoginProfile", UserName="ivy", Password=GOOD)
    with pytest.raises(PasswordPolicyViolationException, match="last 2 passwords"):
        call("ChangePassword", caller=ivy, OldPassword=GOOD, NewPassword=GOOD)
    call("ChangePassword", caller=ivy, OldPassword=GOOD, NewPassword=OTHER)
    with pytest.raises(PasswordPolicyViolationException):
        call("ChangePassword", caller=ivy, OldPassword=OTHER, NewPassword=GOOD)
    call("ChangePassword", caller=ivy, OldPassword=OTHER, NewPassword="Third-Pass-3")
    call("ChangePassword", caller=ivy, OldPassword="Third-Pass-3", NewPassword=GOOD)


# -- the password policy --------------------------------------------------------------------
def test_password_policy_defaults_every_field_and_is_enforced(call: Call, user_with_policy: MakeUser) -> None:
    with pytest.raises(NoSuchEntityException, match=f"The Password Policy with domain name {ACCOUNT} cannot be found."):
        call("GetAccountPasswordPolicy")
    call("UpdateAccountPasswordPolicy")
    assert call("GetAccountPasswordPolicy")["PasswordPolicy"] == {
        "MinimumPasswordLength": 6,
        "RequireSymbols": False,
        "RequireNumbers": False,
        "RequireUppercaseCharacters": False,
        "RequireLowercaseCharacters": False,
        "AllowUsersToChangePassword": False,
        "ExpirePasswords": False,
    }
    call(
        "UpdateAccountPasswordPolicy",
        MinimumPasswordLength=12,
        RequireSymbols=True,
        RequireNumbers=True,
        RequireUppercaseCharacters=True,
        RequireLowercaseCharacters=True,
        MaxPasswordAge=90,
        PasswordReusePrevention=5,
        HardExpiry=True,
    )
    policy = call("GetAccountPasswordPolicy")["PasswordPolicy"]
    assert policy["ExpirePasswords"] is True and policy["MaxPasswordAge"] == 90
    assert policy["PasswordReusePrevention"] == 5 and policy["HardExpiry"] is True
    call("CreateUser", UserName="jack")
    with pytest.raises(PasswordPolicyViolationException) as caught:
        call("CreateLoginProfile", UserName="jack", Password="short")
    message = str(caught.value)
    assert "minimum length of 12" in message and "uppercase" in message and "number" in message and "symbol" in message
    call("CreateLoginProfile", UserName="jack", Password="Long-Enough-12")
    denied = user_with_policy("nobody", None)
    with pytest.raises(AccessDenied):
        call("UpdateAccountPasswordPolicy", caller=denied)
    with pytest.raises(AccessDenied):
        call("GetAccountPasswordPolicy", caller=denied)
    call("DeleteAccountPasswordPolicy")
    with pytest.raises(NoSuchEntityException):
        call("DeleteAccountPasswordPolicy")


# -- aliases -------------------------------------------------------------------------------
def _root_of(account: str) -> Caller:
    base = root_caller()
    return Caller("root", account, f"arn:aws:iam::{account}:root", account, "", base.access_key_id)


def test_account_alias_is_one_per_account_and_unique_across_accounts(call: Call, user_with_policy: MakeUser) -> None:
    assert call("ListAccountAliases") == {"AccountAliases": [], "IsTruncated": False}
    call("CreateAccountAlias", AccountAlias="example-corp")
    call("CreateAccountAlias", AccountAlias="example-corp")
    assert call("ListAccountAliases")["AccountAliases"] == ["example-corp"]
    call("CreateAccountAlias", AccountAlias="example-two")
    assert call("ListAccountAliases")["AccountAliases"] == ["example-two"]
    other = _root_of("444455556666")
    with pytest.raises(EntityAlreadyExistsException):
        call("CreateAccountAlias", caller=other, AccountAlias="example-two")
    call("CreateAccountAlias", caller=other, AccountAlias="example-corp")
    with pytest.raises(NoSuchEntityException):
        call("DeleteAccountAlias", caller=other, AccountAlias="example-two")
    denied = user_with_policy("noalias", None)
    with pytest.raises(AccessDenied):
        call("DeleteAccountAlias", caller=denied, AccountAlias="example-two")
    call("DeleteAccountAlias", AccountAlias="example-two")
    assert call("ListAccountAliases")["AccountAliases"] == []
    assert call("ListAccountAliases", caller=other)["AccountAliases"] == ["example-corp"]


# -- credential report -----------------------------------------------------------------------
def _rows(call: Call) -> list[dict[str, str]]:
    out = call("GetCredentialReport")
    assert out["ReportFormat"] == "text/csv" and out["GeneratedTime"] == NOW
    reader = csv.DictReader(io.StringIO(out["Content"].decode("utf-8")))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)


def test_credential_report_columns_and_values(call: Call, runtime: Runtime, clock: FixedClock) -> None:
    with pytest.raises(CredentialReportNotPresentException):
        call("GetCredentialReport")
    call("UpdateAccountPasswordPolicy", MaxPasswordAge=30)
    call("CreateUser", UserName="zed")
    call("CreateUser", UserName="amy")
    call("CreateLoginProfile", UserName="amy", Password=GOOD)
    key = call("CreateAccessKey", UserName="amy")["AccessKey"]
    call("UpdateAccessKey", UserName="amy", AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with runtime.store.write(ACCOUNT) as tx:
        tx.insert(
            ACCOUNT,
            R.SIGNING_CERTIFICATE,
            "CERTID1",
            {"id": "CERTID1", "user": "amy", "body": "PEM", "status": "Active", "uploaded": "2026-01-01T00:00:00Z"},
        )
    assert call("GenerateCredentialReport") == {
        "State": "STARTED",
        "Description": "No report exists. Starting a new report generation task",
    }
    assert call("GenerateCredentialReport") == {"State": "COMPLETE"}
    rows = _rows(call)
    assert [r["user"] for r in rows] == ["<root_account>", "amy", "zed"]
    root, amy, zed = rows
    assert root["arn"] == f"arn:aws:iam::{ACCOUNT}:root" and root["password_enabled"] == "not_supported"
    assert root["password_last_changed"] == "not_supported" and root["cert_1_active"] == "false"
    assert amy["arn"] == user_arn("amy") and amy["user_creation_time"] == "2026-01-02T03:04:05+00:00"
    assert amy["password_enabled"] == "true" and amy["password_last_used"] == "no_information"
    assert amy["password_last_changed"] == "2026-01-02T03:04:05+00:00"
    assert amy["password_next_rotation"] == "2026-02-01T03:04:05+00:00"
    assert amy["access_key_1_active"] == "false" and amy["access_key_1_last_rotated"] == "2026-01-02T03:04:05+00:00"
    assert amy["access_key_1_last_used_date"] == "N/A" and amy["access_key_2_active"] == "false"
    assert amy["cert_1_active"] == "true" and amy["cert_1_last_rotated"] == "2026-01-01T00:00:00+00:00"
    assert amy["cert_2_last_rotated"] == "N/A" and amy["mfa_active"] == "false"
    assert zed["password_enabled"] == "false" and zed["password_last_used"] == "N/A"
    assert zed["password_next_rotation"] == "N/A" and zed["access_key_1_last_rotated"] == "N/A"
    clock.advance(4 * 3600)
    with pytest.raises(CredentialReportExpiredException):
        call("GetCredentialReport")
    assert call("GenerateCredentialReport")["State"] == "STARTED"


def test_credential_report_is_authorized_on_star(call: Call, user_with_policy: MakeUser) -> None:
    reader = user_with_policy(
        "auditor", _policy({"Effect": "Allow", "Action": ["iam:GenerateCredentialReport", "iam:GetCredentialReport"], "Resource": "*"})
    )
    denied = user_with_policy("nosy", _policy({"Effect": "Allow", "Action": "iam:GetCredentialReport", "Resource": "*"}))
    with pytest.raises(AccessDenied):
        call("GenerateCredentialReport", caller=denied)
    with pytest.raises(CredentialReportNotPresentException):
        call("GetCredentialReport", caller=denied)
    assert call("GenerateCredentialReport", caller=reader)["State"] == "STARTED"
    assert b"auditor" in call("GetCredentialReport", caller=denied)["Content"]


def test_password_last_used_shows_only_when_set(call: Call, runtime: Runtime) -> None:
    call("CreateUser", UserName="kim")
    call("CreateLoginProfile", UserName="kim", Password=GOOD)
    assert "PasswordLastUsed" not in call("GetUser", UserName="kim")["User"]
    with runtime.store.write(ACCOUNT) as tx:
        rec = tx.get(ACCOUNT, R.LOGIN_PROFILE, "kim")
        assert rec is not None
        tx.update(ACCOUNT, R.LOGIN_PROFILE, "kim", {**rec.data, "last_used": "2026-01-01T10:00:00Z"})
    runtime.view.refresh([ACCOUNT])
    used = dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)
    assert call("GetUser", UserName="kim")["User"]["PasswordLastUsed"] == used
    assert call("ListUsers")["Users"][0]["PasswordLastUsed"] == used
