"""The rules of STS end to end, each from its allowed and its denied side: who may
assume a role, what a role session may do, the parameters of AssumeRole (duration,
session name, session policies, external id, MFA), GetSessionToken,
GetFederationToken, GetAccessKeyInfo, DecodeAuthorizationMessage, expiry on a second
node with a later clock, clock skew, and concurrency.

Rules whose answer cannot depend on the store run on ``sqlite_server``; a
representative subset runs on both backends (``server``). Session tags and source
identity: test_sts_tags.py; the AWS CLI: test_sts_cli.py; restarts, revocation and
profiles: test_sts_sessions.py."""

from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import botocore.auth
import pytest
from botocore.exceptions import ClientError
from serverproc import Credentials, TesseraServer
from sts_scenario import UNVALIDATED, Scenario, allow, code_of, deny, doc, message_of, reason_of, refusal, trust

AUTHORIZATION_MESSAGE = "x-amzn-authorization-message"


@pytest.fixture
def both(server: TesseraServer) -> Scenario:
    """A scenario on each backend."""
    return Scenario(server)


@pytest.fixture
def sc(sqlite_server: TesseraServer) -> Scenario:
    """A scenario on SQLite only, for rules the store has no say in."""
    return Scenario(sqlite_server)


def _lifetime(credentials: dict[str, Any]) -> float:
    """Seconds from now until ``Expiration`` (a few seconds less than the duration)."""
    return float((credentials["Expiration"] - dt.datetime.now(dt.UTC)).total_seconds())


def _shift_client_clock(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() + dt.timedelta(seconds=seconds))


class TestWhoMayAssume:
    def test_trust_naming_the_account_needs_an_identity_allow(self, both: Scenario) -> None:
        role = both.role("R", trust({"AWS": both.account}))
        without_arn, without = both.user("without")
        _, allowed = both.user("with", allow("sts:AssumeRole", role))
        denied = message_of(lambda: both.assume(without, role))
        assert denied == f"User: {without_arn} is not authorized to perform: sts:AssumeRole on resource: {role}"
        assert reason_of(both.server, lambda: both.assume(without, role)) == ("no identity-based policy allows the sts:AssumeRole action")
        assert both.sts(both.assume(allowed, role)).get_caller_identity()["Arn"].endswith(f"/{both.name('R')}/s1")

    def test_trust_naming_the_user_needs_no_identity_policy_but_an_explicit_deny_wins(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        bob_arn, bob = sc.user("bob", deny("sts:AssumeRole", "*"))
        role = sc.role("R", trust({"AWS": [alice_arn, bob_arn]}))
        sc.assume(alice, role)
        denied = message_of(lambda: sc.assume(bob, role))
        # STS names no policy in the message (as AWS): it ends at the role ARN
        assert denied == f"User: {bob_arn} is not authorized to perform: sts:AssumeRole on resource: {role}"
        assert reason_of(sc.server, lambda: sc.assume(bob, role)) == "an explicit deny in an identity-based policy"

    def test_permissions_boundary_limits_assume_role_granted_by_identity_policy(self, sc: Scenario) -> None:
        role = sc.role("R", trust({"AWS": sc.account}))
        boundary = sc.managed_policy("boundary", allow("iam:*"))
        wide = sc.managed_policy("wide", allow(["iam:*", "sts:AssumeRole"]))
        user_arn, user = sc.user("bounded", allow("sts:AssumeRole", role))
        name = user_arn.rsplit("/", 1)[1]
        sc.iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=boundary)
        assert "permissions boundary" in reason_of(sc.server, lambda: sc.assume(user, role))
        sc.iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=wide)
        sc.assume(user, role)

    def test_permissions_boundary_does_not_limit_a_trust_naming_the_user(self, sc: Scenario) -> None:
        """A same-account resource policy naming the IAM user grants past its boundary."""
        user_arn, user = sc.user("direct")
        role = sc.role("R", trust({"AWS": user_arn}))
        boundary = sc.managed_policy("boundary", allow("iam:GetUser"))
        sc.iam.put_user_permissions_boundary(UserName=user_arn.rsplit("/", 1)[1], PermissionsBoundary=boundary)
        sc.assume(user, role)

    def test_session_policy_of_a_role_session_limits_chaining(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        first = sc.role("First", trust({"AWS": alice_arn}))
        second = sc.role("Second", trust({"AWS": first}))
        sc.assume(sc.assume(alice, first), second)
        narrowed = sc.assume(alice, first, Policy=doc(allow("iam:GetUser")))
        denied = message_of(lambda: sc.assume(narrowed, second))
        assert reason_of(sc.server, lambda: sc.assume(narrowed, second)) == ("no session policy allows the sts:AssumeRole action")
        assert denied.startswith(f"User: arn:aws:sts::{sc.account}:assumed-role/{sc.name('First')}/s1 ")

    @pytest.mark.parametrize(
        ("external_id", "allowed"),
        [(None, False), ("XID-123", False), ("xid-123", True)],
        ids=["missing", "differs-in-case", "exact"],
    )
    def test_external_id_condition(self, sc: Scenario, external_id: str | None, allowed: bool) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}, Condition={"StringEquals": {"sts:ExternalId": "xid-123"}}))
        params = {} if external_id is None else {"ExternalId": external_id}
        if allowed:
            sc.assume(alice, role, **params)
        else:
            assert code_of(lambda: sc.assume(alice, role, **params)) == "AccessDenied"


class TestDuration:
    def test_default_is_one_hour_and_the_role_maximum_is_reachable(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}), MaxSessionDuration=43200)
        assert 3590 < _lifetime(sc.assume_response(alice, role)["Credentials"]) <= 3600
        assert 43190 < _lifetime(sc.assume_response(alice, role, DurationSeconds=43200)["Credentials"]) <= 43200

    @pytest.mark.parametrize("duration", [899, 43201], ids=["below-900", "above-43200"])
    def test_out_of_model_range_is_a_server_side_validation_error(self, sc: Scenario, duration: int) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}), MaxSessionDuration=43200)
        unvalidated = sc.sts(alice, config=UNVALIDATED)
        error = refusal(lambda: unvalidated.assume_role(RoleArn=role, RoleSessionName="s1", DurationSeconds=duration))
        assert error["Error"]["Code"] == "ValidationError"
        assert "'durationSeconds'" in error["Error"]["Message"]

    def test_get_session_token_credentials_are_not_role_chaining(self, sc: Scenario) -> None:
        """Only a role session assuming a role is capped at one hour."""
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}), MaxSessionDuration=7200)
        token = Credentials.from_response(sc.sts(alice).get_session_token(DurationSeconds=900)["Credentials"])
        assert _lifetime(sc.assume_response(token, role, DurationSeconds=7200)["Credentials"]) > 7100
        session = sc.assume(alice, role)
        myself = sc.role("Next", trust({"AWS": role}), MaxSessionDuration=7200)
        assert "1 hour session limit" in message_of(lambda: sc.assume(session, myself, DurationSeconds=3601))

    def test_untrusted_caller_does_not_learn_the_role_maximum(self, sc: Scenario) -> None:
        _, mallory = sc.user("mallory", allow("sts:AssumeRole"))
        role = sc.role("R", trust({"AWS": "arn:aws:iam::999999999999:root"}))
        assert code_of(lambda: sc.assume(mallory, role, DurationSeconds=43200)) == "AccessDenied"


class TestRoleSessionName:
    @pytest.mark.parametrize(
        ("name", "constraint"),
        [
            ("a", "length greater than or equal to 2"),
            ("x" * 65, "length less than or equal to 64"),
            ("with space", "regular expression pattern"),
            ("slash/ed", "regular expression pattern"),
            ("colon:ed", "regular expression pattern"),
        ],
        ids=["too-short", "too-long", "space", "slash", "colon"],
    )
    def test_invalid_name_is_a_validation_error(self, sc: Scenario, name: str, constraint: str) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}))
        unvalidated = sc.sts(alice, config=UNVALIDATED)
        error = refusal(lambda: unvalidated.assume_role(RoleArn=role, RoleSessionName=name))
        assert error["Error"]["Code"] == "ValidationError"
        assert "at 'roleSessionName' failed to satisfy constraint: Member must" in error["Error"]["Message"]
        assert constraint in error["Error"]["Message"]

    def test_every_allowed_character_at_the_maximum_length(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}))
        name = ("Az09_+=,.@-" * 6)[:64]
        response = sc.assume_response(alice, role, session=name)
        assert response["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{sc.account}:assumed-role/{sc.name('R')}/{name}"
        assert response["AssumedRoleUser"]["AssumedRoleId"].endswith(f":{name}")


class TestSessionPolicies:
    def test_managed_session_policy_narrows_the_session(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}), policy=[allow("iam:*")])
        only_roles = sc.managed_policy("only-roles", allow("iam:ListRoles"))
        response = sc.assume_response(alice, role, PolicyArns=[{"arn": only_roles}])
        assert 0 < response["PackedPolicySize"] <= 100
        iam = sc.client("iam", Credentials.from_response(response["Credentials"]))
        iam.list_roles()
        assert "no session policy allows the iam:ListUsers action" in message_of(iam.list_users)

    def test_session_policy_cannot_widen_the_role(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}), policy=[allow("iam:ListRoles")])
        iam = sc.client("iam", sc.assume(alice, role, Policy=doc(allow("iam:*"))))
        iam.list_roles()
        assert "no identity-based policy allows the iam:ListUsers action" in message_of(iam.list_users)

    def test_session_is_role_policies_and_boundary_and_session_policy(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}), policy=[allow(["iam:ListUsers", "iam:ListRoles", "iam:ListGroups"])])
        boundary = sc.managed_policy("boundary", allow(["iam:ListUsers", "iam:ListRoles", "iam:ListPolicies"]))
        sc.iam.put_role_permissions_boundary(RoleName=sc.name("R"), PermissionsBoundary=boundary)
        session = sc.assume(alice, role, Policy=doc(allow(["iam:ListUsers", "iam:ListGroups", "iam:ListPolicies"])))
        iam = sc.client("iam", session)
        iam.list_users()  # in all three
        refused = {call: code_of(getattr(iam, call)) for call in ("list_roles", "list_groups", "list_policies")}
        assert refused == dict.fromkeys(refused, "AccessDenied")

    def test_packed_policy_size_is_reported_only_when_something_is_packed(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}))
        assert "PackedPolicySize" not in sc.assume_response(alice, role)
        small = sc.assume_response(alice, role, Policy=doc(allow("iam:GetUser")))["PackedPolicySize"]
        larger = sc.assume_response(alice, role, Policy=doc(*(allow(f"iam:Get{i}x") for i in range(12))))
        assert 0 < small < larger["PackedPolicySize"] <= 100

    def test_oversized_session_policy_is_packed_policy_too_large(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}))
        big = doc(*(allow(f"iam:GetSomethingNumber{i:03d}") for i in range(90)))
        error = refusal(lambda: sc.assume(alice, role, Policy=big))
        assert error["Error"]["Code"] == "PackedPolicyTooLarge"
        assert error["Error"]["Message"].startswith("Packed policy consumes ")
        assert error["Error"]["Message"].endswith("% of allotted space, please use smaller policy.")

    def test_session_policy_with_a_principal_is_malformed(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}))
        bad = doc({**allow("iam:GetUser"), "Principal": {"AWS": alice_arn}})
        assert code_of(lambda: sc.assume(alice, role, Policy=bad)) == "MalformedPolicyDocument"


class TestSessionContext:
    def test_role_policy_conditions_on_userid_and_principal_arn(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        role_name = sc.name("R")
        role = f"arn:aws:iam::{sc.account}:role/{role_name}"
        session_arn = f"arn:aws:sts::{sc.account}:assumed-role/{role_name}/alpha"
        sc.role(
            "R",
            trust({"AWS": alice_arn}),
            policy=[
                allow("iam:ListUsers", Condition={"StringLike": {"aws:userid": "AROA*:alpha"}}),
                allow("iam:ListRoles", Condition={"StringEquals": {"aws:PrincipalArn": role}}),
                allow("iam:ListGroups", Condition={"StringEquals": {"aws:PrincipalArn": session_arn}}),
            ],
        )
        alpha = sc.client("iam", sc.assume(alice, role, "alpha"))
        beta = sc.client("iam", sc.assume(alice, role, "beta"))
        alpha.list_users()
        assert code_of(beta.list_users) == "AccessDenied"
        alpha.list_roles()
        beta.list_roles()
        assert code_of(alpha.list_groups) == "AccessDenied"  # aws:PrincipalArn is the role, not the session

    def test_role_tags_are_principal_tags_of_the_session(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        blue = [allow("iam:ListUsers", Condition={"StringEquals": {"aws:PrincipalTag/team": "blue"}})]
        tagged = sc.role("Tagged", trust({"AWS": alice_arn}), policy=blue, Tags=[{"Key": "Team", "Value": "blue"}])
        untagged = sc.role("Untagged", trust({"AWS": alice_arn}), policy=blue)
        sc.client("iam", sc.assume(alice, tagged)).list_users()
        assert code_of(sc.client("iam", sc.assume(alice, untagged)).list_users) == "AccessDenied"


class TestRoleChangesReachExistingSessions:
    def test_edit_delete_policy_and_delete_role(self, both: Scenario) -> None:
        alice_arn, alice = both.user("alice")
        role = both.role("R", trust({"AWS": alice_arn}), policy=[allow("iam:ListUsers")])
        name = both.name("R")
        iam = both.client("iam", both.assume(alice, role))
        iam.list_users()
        assert code_of(iam.list_roles) == "AccessDenied"
        both.iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=doc(allow("iam:ListRoles")))
        iam.list_roles()
        assert code_of(iam.list_users) == "AccessDenied"
        both.iam.delete_role_policy(RoleName=name, PolicyName="p")
        assert code_of(iam.list_roles) == "AccessDenied"
        both.iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=doc(allow("iam:ListRoles")))
        iam.list_roles()
        both.iam.delete_role_policy(RoleName=name, PolicyName="p")
        both.iam.delete_role(RoleName=name)
        assert code_of(iam.list_roles) == "AccessDenied"

    def test_a_role_recreated_under_the_same_name_does_not_revive_old_sessions(self, sc: Scenario) -> None:
        """Sessions belong to the role's unique id, not to its name."""
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}), policy=[allow("iam:ListRoles")])
        next_role = sc.role("Next", trust({"AWS": role}))
        old_session = sc.assume(alice, role)
        old = sc.client("iam", old_session)
        old.list_roles()
        sc.iam.delete_role_policy(RoleName=sc.name("R"), PolicyName="p")
        sc.iam.delete_role(RoleName=sc.name("R"))
        sc.role("R", trust({"AWS": alice_arn}), policy=[allow("iam:ListRoles")], Tags=[{"Key": "k", "Value": "v"}])
        new_session = sc.assume(alice, role)
        sc.client("iam", new_session).list_roles()
        # Next's trust policy was bound to the old R's unique id when it was saved: the new
        # R is another principal (tests/e2e/test_trust_binding.py), as on AWS
        assert code_of(lambda: sc.assume(new_session, next_role)) == "AccessDenied"
        assert code_of(old.list_roles) == "AccessDenied"
        assert code_of(lambda: sc.assume(old_session, next_role)) == "AccessDenied"

    def test_a_user_recreated_under_the_same_name_does_not_revive_session_token_credentials(self, sc: Scenario) -> None:
        user_arn, alice = sc.user("alice", allow("sts:GetFederationToken"))
        name = user_arn.rsplit("/", 1)[1]
        token = Credentials.from_response(sc.sts(alice).get_session_token()["Credentials"])
        sc.iam.delete_access_key(UserName=name, AccessKeyId=alice.access_key_id)
        sc.iam.delete_user_policy(UserName=name, PolicyName="inline")
        sc.iam.delete_user(UserName=name)
        sc.iam.create_user(UserName=name)
        sc.iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=doc(allow("sts:*")))
        role = sc.role("R", trust({"AWS": sc.account}))
        assert code_of(lambda: sc.assume(token, role)) == "AccessDenied"


class TestMfa:
    def test_wrong_code_and_foreign_device_are_refused(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        bob_arn, _ = sc.user("bob")
        role = sc.role("R", trust({"AWS": alice_arn}))
        serial, totp = sc.mfa_device(alice_arn)
        bobs_serial, bobs_totp = sc.mfa_device(bob_arn)
        wrong = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
        error = refusal(lambda: sc.assume(alice, role, SerialNumber=serial, TokenCode=wrong))
        assert (error["Error"]["Code"], error["Error"]["Message"]) == (
            "AccessDenied",
            "MultiFactorAuthentication failed with invalid MFA one time pass code.",
        )
        foreign = message_of(lambda: sc.assume(alice, role, SerialNumber=bobs_serial, TokenCode=bobs_totp.now()))
        assert foreign.startswith("MultiFactorAuthentication failed, unable to validate MFA code.")

    def test_get_session_token_with_mfa_unlocks_iam_and_carries_mfa_into_assume_role(self, both: Scenario) -> None:
        alice_arn, alice = both.user("alice", allow("iam:ListUsers"))
        serial, totp = both.mfa_device(alice_arn)
        role = both.role("R", trust({"AWS": alice_arn}, Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}))
        plain = Credentials.from_response(both.sts(alice).get_session_token()["Credentials"])
        assert code_of(both.client("iam", plain).list_users) == "AccessDenied"
        assert code_of(lambda: both.assume(plain, role)) == "AccessDenied"
        code = totp.now()
        mfa = both.sts(alice).get_session_token(SerialNumber=serial, TokenCode=code, DurationSeconds=900)
        with_mfa = Credentials.from_response(mfa["Credentials"])
        both.client("iam", with_mfa).list_users()
        both.sts(both.assume(with_mfa, role)).get_caller_identity()
        reused = message_of(lambda: both.sts(alice).get_session_token(SerialNumber=serial, TokenCode=code))
        assert reused == "MultiFactorAuthentication failed with invalid MFA one time pass code."


class TestGetSessionToken:
    @pytest.mark.parametrize(
        ("root", "requested", "expected"),
        [(False, None, 43200), (False, 900, 900), (False, 129600, 129600), (True, None, 3600), (True, 7200, 3600)],
        ids=["user-default", "user-min", "user-max", "root-default", "root-clamped"],
    )
    def test_durations(self, sc: Scenario, root: bool, requested: int | None, expected: int) -> None:
        creds = sc.server.root if root else sc.user("alice")[1]
        params = {} if requested is None else {"DurationSeconds": requested}
        assert expected - 10 < _lifetime(sc.sts(creds).get_session_token(**params)["Credentials"]) <= expected

    def test_above_the_user_maximum_is_a_validation_error(self, sc: Scenario) -> None:
        _, alice = sc.user("alice")
        error = refusal(lambda: sc.sts(alice, config=UNVALIDATED).get_session_token(DurationSeconds=129601))
        assert error["Error"]["Code"] == "ValidationError"

    def test_only_assume_role_and_get_caller_identity_among_sts_calls(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice", allow("sts:*"))
        role = sc.role("R", trust({"AWS": alice_arn}))
        token = Credentials.from_response(sc.sts(alice).get_session_token()["Credentials"])
        sts = sc.sts(token)
        assert sts.get_caller_identity()["Arn"] == alice_arn
        sc.assume(token, role)
        refused = {
            "GetAccessKeyInfo": code_of(lambda: sts.get_access_key_info(AccessKeyId=alice.access_key_id)),
            "DecodeAuthorizationMessage": code_of(lambda: sts.decode_authorization_message(EncodedMessage="x")),
            "GetFederationToken": code_of(lambda: sts.get_federation_token(Name="fed")),
            "GetSessionToken": code_of(sts.get_session_token),
        }
        assert refused == dict.fromkeys(refused, "AccessDenied")
        assert message_of(sts.get_session_token) == "Cannot call GetSessionToken with session credentials"


class TestGetFederationToken:
    def test_federated_user_is_bounded_by_the_passed_policy(self, both: Scenario) -> None:
        _, alice = both.user("alice", allow(["sts:GetFederationToken", "iam:ListUsers", "iam:ListRoles"]))
        policy = doc(allow(["iam:ListRoles", "iam:ListGroups"]))
        response = both.sts(alice).get_federation_token(Name="fed-user", Policy=policy)
        assert response["FederatedUser"] == {
            "FederatedUserId": f"{both.account}:fed-user",
            "Arn": f"arn:aws:sts::{both.account}:federated-user/fed-user",
        }
        assert response["PackedPolicySize"] > 0
        fed = Credentials.from_response(response["Credentials"])
        assert both.sts(fed).get_caller_identity()["Arn"] == response["FederatedUser"]["Arn"]
        iam = both.client("iam", fed)
        # no IAM call at all, whatever the policies say
        assert code_of(iam.list_roles) == code_of(iam.list_users) == code_of(iam.list_groups) == "AccessDenied"

    def test_without_a_policy_the_session_has_no_permissions(self, sc: Scenario) -> None:
        _alice_arn, alice = sc.user("alice", allow(["sts:GetFederationToken", "sts:AssumeRole"]))
        role = sc.role("R", trust({"AWS": sc.account}))
        fed = Credentials.from_response(sc.sts(alice).get_federation_token(Name="nopolicy")["Credentials"])
        assert code_of(lambda: sc.assume(fed, role)) == "AccessDenied"
        assert code_of(lambda: sc.sts(fed).get_access_key_info(AccessKeyId=alice.access_key_id)) == "AccessDenied"

    def test_needs_permission(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        denied = message_of(lambda: sc.sts(alice).get_federation_token(Name="fed"))
        assert denied.startswith(
            f"User: {alice_arn} is not authorized to perform: sts:GetFederationToken on resource: "
            f"arn:aws:sts::{sc.account}:federated-user/fed"
        )


class TestGetAccessKeyInfo:
    def test_long_term_and_temporary_keys_name_their_account(self, both: Scenario) -> None:
        alice_arn, alice = both.user("alice", allow("sts:GetAccessKeyInfo"))
        role = both.role("R", trust({"AWS": alice_arn}))
        temporary = both.assume(alice, role)
        sts = both.sts(alice)
        assert sts.get_access_key_info(AccessKeyId=alice.access_key_id)["Account"] == both.account
        assert sts.get_access_key_info(AccessKeyId=temporary.access_key_id)["Account"] == both.account
        assert sts.get_access_key_info(AccessKeyId=both.server.root.access_key_id)["Account"] == both.account

    def test_needs_permission(self, sc: Scenario) -> None:
        _, alice = sc.user("alice")
        assert code_of(lambda: sc.sts(alice).get_access_key_info(AccessKeyId=alice.access_key_id)) == "AccessDenied"


class TestDecodeAuthorizationMessage:
    def test_denial_carries_a_message_only_a_permitted_principal_can_decode(self, both: Scenario) -> None:
        alice_arn, alice = both.user("alice")
        _, auditor = both.user("auditor", allow("sts:DecodeAuthorizationMessage"))
        error = refusal(both.client("iam", alice).list_users)
        encoded = error["ResponseMetadata"]["HTTPHeaders"][AUTHORIZATION_MESSAGE]
        assert "iam:ListUsers" not in encoded and alice_arn not in encoded
        assert code_of(lambda: both.sts(alice).decode_authorization_message(EncodedMessage=encoded)) == "AccessDenied"
        decoded = json.loads(both.sts(auditor).decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"])
        assert decoded["allowed"] is False and decoded["explicitDeny"] is False
        assert decoded["context"]["action"] == "iam:ListUsers"
        assert decoded["context"]["principal"]["arn"] == alice_arn
        tampered = encoded[:-4] + ("AAAA" if not encoded.endswith("AAAA") else "BBBB")
        invalid = refusal(lambda: both.sts(auditor).decode_authorization_message(EncodedMessage=tampered))
        assert invalid["Error"]["Code"] == "InvalidAuthorizationMessageException"

    def test_explicit_deny_is_decoded_with_its_statement(self, sc: Scenario) -> None:
        _, carol = sc.user("carol", {**deny("iam:ListUsers"), "Sid": "NoUsers"})
        encoded = refusal(sc.client("iam", carol).list_users)["ResponseMetadata"]["HTTPHeaders"][AUTHORIZATION_MESSAGE]
        decoded = json.loads(sc.sts(sc.server.root).decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"])
        assert decoded["explicitDeny"] is True
        assert [item["statementId"] for item in decoded["matchedStatements"]["items"]] == ["NoUsers"]

    def test_unknown_and_untrusting_roles_decode_alike(self, sc: Scenario) -> None:
        """The decoded message must not tell a missing role from one that does not trust you."""
        _, carol = sc.user("carol", allow("sts:AssumeRole"))
        untrusting = sc.role("Other", trust({"AWS": "arn:aws:iam::999999999999:root"}), Tags=[{"Key": "k", "Value": "v"}])
        missing = f"arn:aws:iam::{sc.account}:role/{sc.name('Missing')}"

        def decoded(role: str) -> dict[str, Any]:
            error = refusal(lambda: sc.assume(carol, role))
            encoded = error["ResponseMetadata"]["HTTPHeaders"][AUTHORIZATION_MESSAGE]
            answer = sc.sts(sc.server.root).decode_authorization_message(EncodedMessage=encoded)
            document = json.loads(answer["DecodedMessage"])
            volatile = {"aws:CurrentTime", "aws:EpochTime"}
            items = document["context"]["conditions"]["items"]
            document["context"]["conditions"]["items"] = [i for i in items if i["key"] not in volatile]
            return document

        assert json.dumps(decoded(missing)) == json.dumps(decoded(untrusting)).replace(untrusting, missing)

    def test_validation_errors_carry_no_message(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}))
        error = refusal(lambda: sc.sts(alice, config=UNVALIDATED).assume_role(RoleArn=role, RoleSessionName="a"))
        assert AUTHORIZATION_MESSAGE not in error["ResponseMetadata"]["HTTPHeaders"]


class TestTime:
    @pytest.mark.parametrize(
        ("offset", "start"),
        [(-1200, "Signature expired: "), (1200, "Signature not yet current: ")],
        ids=["client-20-minutes-behind", "client-20-minutes-ahead"],
    )
    def test_clock_skew_beyond_15_minutes(self, sc: Scenario, monkeypatch: pytest.MonkeyPatch, offset: int, start: str) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}))
        session = sc.assume(alice, role)
        _shift_client_clock(monkeypatch, offset)
        for creds in (alice, session):
            error = refusal(sc.sts(creds).get_caller_identity)
            assert error["Error"]["Code"] == "SignatureDoesNotMatch"
            assert error["Error"]["Message"].startswith(start)

    def test_sessions_expire_on_a_second_node_whose_clock_is_later(self, both: Scenario, monkeypatch: pytest.MonkeyPatch) -> None:
        """A node sharing the data (same data dir and database) honours sessions minted
        elsewhere until their Expiration and answers ExpiredToken after it."""
        alice_arn, alice = both.user("alice", allow("iam:ListUsers"))
        role = both.role("R", trust({"AWS": alice_arn}), policy=[allow("iam:ListUsers")])
        short = both.assume(alice, role, DurationSeconds=900)
        hour = both.assume(alice, role)
        token = Credentials.from_response(both.sts(alice).get_session_token(DurationSeconds=900)["Credentials"])
        first = both.server
        later = TesseraServer(
            data_dir=first.data_dir,
            database_url=first.database_url,
            env_extra={"TESSERA_CLOCK_OFFSET_SECONDS": "1000"},
        ).start()
        try:
            _shift_client_clock(monkeypatch, 1000)
            assert code_of(later.client("sts", short).get_caller_identity) == "ExpiredToken"
            assert code_of(later.client("sts", token).get_caller_identity) == "ExpiredToken"
            later.client("iam", hour).list_users()
            later.client("iam", alice).list_users()
            monkeypatch.undo()
            first.client("iam", short).list_users()
        finally:
            later.stop()


class TestConcurrency:
    def test_32_threads_assuming_roles_at_once_get_distinct_working_credentials(self, both: Scenario) -> None:
        alice_arn, alice = both.user("alice")
        roles = [both.role(f"R{i}", trust({"AWS": alice_arn})) for i in range(4)]

        def assume(i: int) -> dict[str, Any]:
            return both.assume_response(alice, roles[i % 4], f"t{i}")

        with ThreadPoolExecutor(max_workers=32) as pool:
            responses = list(pool.map(assume, range(32)))
        creds = [Credentials.from_response(r["Credentials"]) for r in responses]
        assert len({c.access_key_id for c in creds}) == 32
        assert len({c.session_token for c in creds}) == 32
        assert len({c.secret_access_key for c in creds}) == 32
        with ThreadPoolExecutor(max_workers=8) as pool:
            arns = list(pool.map(lambda c: both.sts(c).get_caller_identity()["Arn"], creds))
        assert arns == [r["AssumedRoleUser"]["Arn"] for r in responses]

    def test_one_mfa_code_raced_by_16_threads_is_accepted_once(self, both: Scenario) -> None:
        alice_arn, alice = both.user("alice")
        role = both.role("R", trust({"AWS": alice_arn}))
        serial, totp = both.mfa_device(alice_arn)
        code = totp.now()

        def attempt(i: int) -> str:
            try:
                both.assume(alice, role, f"m{i}", SerialNumber=serial, TokenCode=code)
            except ClientError as error:
                return str(error.response["Error"]["Code"])
            return "ok"

        with ThreadPoolExecutor(max_workers=16) as pool:
            outcomes = sorted(pool.map(attempt, range(16)))
        # at most one succeeds; the rest fail, or are throttled once the failures (and
        # attempts in flight) reach the per-user limit
        assert outcomes.count("ok") <= 1
        assert set(outcomes) - {"ok"} <= {"AccessDenied", "Throttling"} and "AccessDenied" in outcomes
