"""GetCallerIdentity for every principal type, GetAccessKeyInfo, GetSessionToken,
GetFederationToken, and the rules tied to the kind of credentials."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sts_world import ROOT_KEY, T0, A, B, World, allow, doc, trust

from tessera.auth.tokens import new_access_key_id
from tessera.errors import AccessDenied, ExpiredToken, InvalidParameterValue
from tessera.services.authorization import session_kind_refusal
from tessera.services.request import lookup

ALICE_ARN = f"arn:aws:iam::{A}:user/alice"


@pytest.fixture
def world(tmp_path: Path) -> World:
    world = World(tmp_path)
    world.add_account(B)
    return world


class TestGetCallerIdentity:
    def test_root(self, world: World) -> None:
        assert world.call(world.root(), "GetCallerIdentity") == {
            "UserId": A,
            "Account": A,
            "Arn": f"arn:aws:iam::{A}:root",
        }

    def test_user_with_path(self, world: World) -> None:
        bob = world.add_user("Bob", path="/div/")
        assert world.call(bob, "GetCallerIdentity") == {
            "UserId": bob.user_id,
            "Account": A,
            "Arn": f"arn:aws:iam::{A}:user/div/Bob",
        }

    def test_role_session_drops_the_role_path(self, world: World) -> None:
        alice = world.add_user("alice")
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})), path="/svc/")
        session = world.assume(alice, role, "my-session")
        assert world.call(session, "GetCallerIdentity") == {
            "UserId": f"{world.role_id('R')}:my-session",
            "Account": A,
            "Arn": f"arn:aws:sts::{A}:assumed-role/R/my-session",
        }

    def test_session_token_credentials_act_as_the_user(self, world: World) -> None:
        alice = world.add_user("alice")
        session = world.authenticate(world.call(alice, "GetSessionToken")["Credentials"])
        assert world.call(session, "GetCallerIdentity") == world.call(alice, "GetCallerIdentity")

    def test_session_token_credentials_of_root_act_as_root(self, world: World) -> None:
        session = world.authenticate(world.call(world.root(), "GetSessionToken")["Credentials"])
        assert session.kind == "root"
        assert world.call(session, "GetCallerIdentity")["Arn"] == f"arn:aws:iam::{A}:root"

    def test_federated_user(self, world: World) -> None:
        alice = world.add_user("alice", policies={"p": doc(allow("sts:GetFederationToken"))})
        result = world.call(alice, "GetFederationToken", Name="Bob")
        assert result["FederatedUser"] == {
            "FederatedUserId": f"{A}:Bob",
            "Arn": f"arn:aws:sts::{A}:federated-user/Bob",
        }
        session = world.authenticate(result["Credentials"])
        assert world.call(session, "GetCallerIdentity") == {
            "UserId": f"{A}:Bob",
            "Account": A,
            "Arn": f"arn:aws:sts::{A}:federated-user/Bob",
        }

    def test_is_never_authorized(self, world: World) -> None:
        spec = lookup("sts", "GetCallerIdentity")
        assert spec is not None and not spec.authorize and spec.inline


class TestGetAccessKeyInfo:
    def test_long_term_key(self, world: World) -> None:
        assert world.call(world.root(), "GetAccessKeyInfo", AccessKeyId=ROOT_KEY) == {"Account": A}

    def test_key_id_in_aws_layout_of_a_known_account(self, world: World) -> None:
        key_id = new_access_key_id("ASIA", account=B)
        assert world.call(world.root(), "GetAccessKeyInfo", AccessKeyId=key_id) == {"Account": B}

    def test_key_id_of_an_account_this_server_does_not_hold_is_answered_alike(self, world: World) -> None:
        """Whether the encoded account exists must not change the answer (else the call
        probes which accounts exist)."""
        unknown = new_access_key_id("ASIA", account="333333333333")
        known = new_access_key_id("AKIA", account=B)
        assert world.call(world.root(), "GetAccessKeyInfo", AccessKeyId=unknown) == {"Account": "333333333333"}
        assert world.call(world.root(), "GetAccessKeyInfo", AccessKeyId=known) == {"Account": B}

    @pytest.mark.parametrize(
        "key_id",
        ["ASIA0000000000000000", "AKIA1", "ASIA7777777777777777"],
        ids=["not-base32", "short", "more-than-12-digits"],
    )
    def test_unknown_key_ids(self, world: World, key_id: str) -> None:
        with pytest.raises(InvalidParameterValue):
            world.call(world.root(), "GetAccessKeyInfo", AccessKeyId=key_id)

    def test_needs_permission(self, world: World) -> None:
        carol = world.add_user("carol")
        with pytest.raises(AccessDenied):
            world.call(carol, "GetAccessKeyInfo", AccessKeyId=ROOT_KEY)


class TestGetSessionToken:
    @pytest.mark.parametrize(
        ("root", "requested", "expected"),
        [(False, None, 43200), (False, 129600, 129600), (False, 900, 900), (True, None, 3600), (True, 7200, 3600)],
        ids=["user-default", "user-max", "user-min", "root-default", "root-clamped"],
    )
    def test_durations(self, world: World, root: bool, requested: int | None, expected: int) -> None:
        caller = world.root() if root else world.add_user("alice")
        params = {} if requested is None else {"DurationSeconds": requested}
        creds = world.call(caller, "GetSessionToken", **params)["Credentials"]
        assert creds["Expiration"] == T0 + dt.timedelta(seconds=expected)

    def test_refused_with_session_credentials(self, world: World) -> None:
        alice = world.add_user("alice")
        session = world.authenticate(world.call(alice, "GetSessionToken")["Credentials"])
        with pytest.raises(AccessDenied) as denied:
            world.call(session, "GetSessionToken")
        assert denied.value.message == "Cannot call GetSessionToken with session credentials"

    def test_session_token_cannot_call_other_sts_apis_but_can_assume(self, world: World) -> None:
        alice = world.add_user("alice", policies={"p": doc(allow("sts:*"))})
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})))
        session = world.authenticate(world.call(alice, "GetSessionToken")["Credentials"])
        with pytest.raises(AccessDenied):
            world.call(session, "GetAccessKeyInfo", AccessKeyId=ROOT_KEY)
        assert world.call(alice, "GetAccessKeyInfo", AccessKeyId=ROOT_KEY) == {"Account": A}
        chained = world.call(session, "AssumeRole", RoleArn=role, RoleSessionName="s", DurationSeconds=3600)
        assert chained["AssumedRoleUser"]["Arn"].endswith(":assumed-role/R/s")

    def test_expires(self, world: World) -> None:
        alice = world.add_user("alice")
        creds = world.call(alice, "GetSessionToken", DurationSeconds=900)["Credentials"]
        world.clock.advance(899)
        world.authenticate(creds)
        world.clock.advance(1)
        with pytest.raises(ExpiredToken):
            world.authenticate(creds)


class TestGetFederationToken:
    def test_needs_permission(self, world: World) -> None:
        carol = world.add_user("carol")
        with pytest.raises(AccessDenied) as denied:
            world.call(carol, "GetFederationToken", Name="Bob")
        assert f"sts:GetFederationToken on resource: arn:aws:sts::{A}:federated-user/Bob" in denied.value.message

    def test_without_a_session_policy_the_session_has_no_permissions(self, world: World) -> None:
        alice = world.add_user("alice", policies={"p": doc(allow(["sts:GetFederationToken", "sts:GetAccessKeyInfo"]))})
        bare = world.authenticate(world.call(alice, "GetFederationToken", Name="Bob")["Credentials"])
        with pytest.raises(AccessDenied):
            world.call(bare, "GetAccessKeyInfo", AccessKeyId=ROOT_KEY)

    def test_federated_users_call_no_sts_api_but_get_caller_identity(self, world: World) -> None:
        alice = world.add_user("alice", policies={"p": doc(allow("sts:*"))})
        result = world.call(alice, "GetFederationToken", Name="Bob", Policy=doc(allow("sts:*")))
        assert 0 < result["PackedPolicySize"] <= 100
        session = world.authenticate(result["Credentials"])
        with pytest.raises(AccessDenied):
            world.call(session, "GetAccessKeyInfo", AccessKeyId=ROOT_KEY)
        role = world.add_role("R", doc(trust({"AWS": A})))
        with pytest.raises(AccessDenied):
            world.call(session, "AssumeRole", RoleArn=role, RoleSessionName="s")

    def test_tags_need_tag_session_and_cannot_be_transitive(self, world: World) -> None:
        alice = world.add_user("alice", policies={"p": doc(allow("sts:GetFederationToken"))})
        with pytest.raises(AccessDenied):
            world.call(alice, "GetFederationToken", Name="Bob", Tags=[{"Key": "k", "Value": "v"}])
        alice = world.add_user("alice", policies={"p": doc(allow(["sts:GetFederationToken", "sts:TagSession"]))})
        result = world.call(alice, "GetFederationToken", Name="Bob", Tags=[{"Key": "k", "Value": "v"}])
        session = world.authenticate(result["Credentials"])
        assert session.session is not None and session.session.transitive_tag_keys == ()

    def test_refused_for_role_sessions(self, world: World) -> None:
        alice = world.add_user("alice")
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})), policies={"p": doc(allow("sts:*"))})
        session = world.assume(alice, role)
        with pytest.raises(AccessDenied):
            world.call(session, "GetFederationToken", Name="Bob")


def test_session_kind_rules_for_iam(world: World) -> None:
    alice = world.add_user("alice", policies={"p": doc(allow("*"))})
    no_mfa = world.authenticate(world.call(alice, "GetSessionToken")["Credentials"])
    refusal = session_kind_refusal(no_mfa, "ListUsers", "iam:ListUsers", "*")
    assert refusal is not None and refusal.code == "AccessDenied"
    fed = world.authenticate(world.call(alice, "GetFederationToken", Name="F", Policy=doc(allow("*")))["Credentials"])
    assert session_kind_refusal(fed, "ListUsers", "iam:ListUsers", "*") is not None
    assert session_kind_refusal(alice, "ListUsers", "iam:ListUsers", "*") is None
