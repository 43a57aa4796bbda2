"""AssumeRole and GetCallerIdentity end to end: a real ``tessera serve`` (SQLite and
PostgreSQL) driven by boto3, the allowed and the denied side of each rule, and many
threads assuming roles at once. Session lifetime and the CLI: test_sts_sessions.py."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyotp
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from policies import allow as _allow
from policies import trust as _trust
from serverproc import Credentials, TesseraServer


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def _message(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Message"])


def error_status(error: pytest.ExceptionInfo[ClientError]) -> int:
    return int(error.value.response["ResponseMetadata"]["HTTPStatusCode"])


class World:
    """Per-test names on a shared server, so tests do not collide."""

    counter = 0

    def __init__(self, server: TesseraServer) -> None:
        World.counter += 1
        self.server = server
        self.suffix = f"{World.counter}"
        self.iam = server.client("iam")
        self.account = server.account_id

    def user(self, name: str, policy: dict[str, Any] | None = None) -> tuple[str, Credentials]:
        name = f"{name}{self.suffix}"
        creds = self.server.make_user(name, {"Version": "2012-10-17", "Statement": [policy]} if policy else None)
        return f"arn:aws:iam::{self.account}:user/{name}", creds

    def role(self, name: str, trust: dict[str, Any], *, policy: dict[str, Any] | None = None, **kwargs: Any) -> str:
        name = f"{name}{self.suffix}"
        arn = str(self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=_doc(trust), **kwargs)["Role"]["Arn"])
        if policy is not None:
            self.iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=_doc(policy))
        return arn

    def sts(self, creds: Credentials) -> Any:
        return self.server.client("sts", creds)

    def assume(self, creds: Credentials, role_arn: str, session: str = "s1", **params: Any) -> Credentials:
        response = self.sts(creds).assume_role(RoleArn=role_arn, RoleSessionName=session, **params)
        return Credentials.from_response(response["Credentials"])


@pytest.fixture
def world(server: TesseraServer) -> World:
    return World(server)


class TestGetCallerIdentity:
    def test_every_principal_type(self, world: World) -> None:
        account = world.account
        assert world.sts(world.server.root).get_caller_identity()["Arn"] == f"arn:aws:iam::{account}:root"
        alice_arn, alice = world.user("alice", _allow(["sts:GetFederationToken"]))
        assert world.sts(alice).get_caller_identity()["Arn"] == alice_arn
        role = world.role("R", _trust({"AWS": alice_arn}), Path="/svc/")
        identity = world.sts(world.assume(alice, role, "work")).get_caller_identity()
        assert identity["Arn"] == f"arn:aws:sts::{account}:assumed-role/R{world.suffix}/work"
        assert identity["UserId"].startswith("AROA") and identity["UserId"].endswith(":work")
        token = Credentials.from_response(world.sts(alice).get_session_token()["Credentials"])
        assert world.sts(token).get_caller_identity()["Arn"] == alice_arn
        fed = world.sts(alice).get_federation_token(Name="Fed")
        fed_identity = world.sts(Credentials.from_response(fed["Credentials"])).get_caller_identity()
        assert fed_identity == {**fed_identity, "Arn": f"arn:aws:sts::{account}:federated-user/Fed", "UserId": f"{account}:Fed"}

    def test_explicit_deny_has_no_effect(self, world: World) -> None:
        _, carol = world.user("carol", {"Effect": "Deny", "Action": "sts:GetCallerIdentity", "Resource": "*"})
        assert world.sts(carol).get_caller_identity()["Account"] == world.account


class TestAssumeRole:
    def test_trusted_user_is_allowed_and_untrusted_is_denied(self, world: World) -> None:
        alice_arn, alice = world.user("alice")
        _, mallory = world.user("mallory", _allow("sts:AssumeRole"))
        role = world.role("R", _trust({"AWS": alice_arn}))
        response = world.sts(alice).assume_role(RoleArn=role, RoleSessionName="ok")
        assert response["AssumedRoleUser"]["Arn"].endswith(f":assumed-role/R{world.suffix}/ok")
        assert response["Credentials"]["AccessKeyId"].startswith("ASIA")
        with pytest.raises(ClientError) as denied:
            world.sts(mallory).assume_role(RoleArn=role, RoleSessionName="no")
        assert _code(denied) == "AccessDenied"
        assert error_status(denied) == 403

    def test_unknown_role_looks_like_an_untrusting_role(self, world: World) -> None:
        _, carol = world.user("carol", _allow("sts:AssumeRole"))
        other = world.role("Other", _trust({"AWS": "arn:aws:iam::999999999999:root"}))
        missing = f"arn:aws:iam::{world.account}:role/Missing{world.suffix}"
        with pytest.raises(ClientError) as existing:
            world.sts(carol).assume_role(RoleArn=other, RoleSessionName="s1")
        with pytest.raises(ClientError) as unknown:
            world.sts(carol).assume_role(RoleArn=missing, RoleSessionName="s1")
        assert _code(unknown) == _code(existing) == "AccessDenied"
        assert _message(unknown) == _message(existing).replace(other, missing)

    def test_root_cannot_assume(self, world: World) -> None:
        role = world.role("R", _trust({"AWS": world.account}))
        with pytest.raises(ClientError) as denied:
            world.sts(world.server.root).assume_role(RoleArn=role, RoleSessionName="s1")
        assert _message(denied) == "Roles may not be assumed by root accounts."

    def test_external_id(self, world: World) -> None:
        alice_arn, alice = world.user("alice")
        role = world.role("R", _trust({"AWS": alice_arn}, Condition={"StringEquals": {"sts:ExternalId": "xid-123"}}))
        world.assume(alice, role, ExternalId="xid-123")
        with pytest.raises(ClientError) as denied:
            world.assume(alice, role, ExternalId="xid-999")
        assert _code(denied) == "AccessDenied"

    def test_duration_limits(self, world: World) -> None:
        alice_arn, alice = world.user("alice")
        first = world.role("First", _trust({"AWS": alice_arn}), MaxSessionDuration=7200)
        second = world.role("Second", _trust({"AWS": first}), MaxSessionDuration=43200)
        with pytest.raises(ClientError) as too_long:
            world.assume(alice, first, DurationSeconds=7201)
        assert _code(too_long) == "ValidationError"
        assert _message(too_long) == "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        session = world.assume(alice, first, DurationSeconds=7200)
        with pytest.raises(ClientError) as chained:
            world.assume(session, second, DurationSeconds=3601)
        assert "role chaining" in _message(chained)
        world.assume(session, second, DurationSeconds=3600)
        unvalidated = world.server.client("sts", alice, config=Config(parameter_validation=False, retries={"max_attempts": 1}))
        with pytest.raises(ClientError) as below_min:
            unvalidated.assume_role(RoleArn=first, RoleSessionName="s1", DurationSeconds=899)
        assert _code(below_min) == "ValidationError"
        assert "Member must have value greater than or equal to 900" in _message(below_min)

    def test_session_policy_narrows_the_role(self, world: World) -> None:
        alice_arn, alice = world.user("alice")
        role = world.role("R", _trust({"AWS": alice_arn}), policy=_allow("iam:*"))
        narrow = world.assume(alice, role, Policy=_doc(_allow("iam:GetUser")))
        iam = world.server.client("iam", narrow)
        with pytest.raises(ClientError) as denied:
            iam.list_users()
        assert "no session policy allows" in _message(denied)
        wide = world.server.client("iam", world.assume(alice, role))
        assert isinstance(wide.list_users()["Users"], list)

    def test_session_tags_need_tag_session_and_become_principal_tags(self, world: World) -> None:
        alice_arn, alice = world.user("alice")
        plain = world.role("Plain", _trust({"AWS": alice_arn}))
        with pytest.raises(ClientError) as denied:
            world.assume(alice, plain, Tags=[{"Key": "team", "Value": "blue"}])
        assert "sts:TagSession" in _message(denied)
        only_blue = {
            "Effect": "Allow",
            "Action": "iam:ListUsers",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}},
        }
        tagged = world.role("Tagged", _trust({"AWS": alice_arn}, ["sts:AssumeRole", "sts:TagSession"]), policy=only_blue)
        blue = world.server.client("iam", world.assume(alice, tagged, Tags=[{"Key": "team", "Value": "blue"}]))
        blue.list_users()
        red = world.server.client("iam", world.assume(alice, tagged, Tags=[{"Key": "team", "Value": "red"}]))
        with pytest.raises(ClientError):
            red.list_users()
        with pytest.raises(ClientError) as duplicate:
            world.assume(alice, tagged, Tags=[{"Key": "Team", "Value": "a"}, {"Key": "team", "Value": "b"}])
        assert "Tag keys are case insensitive" in _message(duplicate)

    def test_source_identity(self, world: World) -> None:
        alice_arn, alice = world.user("alice")
        role = world.role("R", _trust({"AWS": alice_arn}, ["sts:AssumeRole", "sts:SetSourceIdentity"]))
        response = world.sts(alice).assume_role(RoleArn=role, RoleSessionName="s1", SourceIdentity="alice")
        assert response["SourceIdentity"] == "alice"
        plain = world.role("Plain", _trust({"AWS": alice_arn}))
        with pytest.raises(ClientError) as denied:
            world.assume(alice, plain, SourceIdentity="alice")
        assert "sts:SetSourceIdentity" in _message(denied)

    def test_mfa(self, world: World) -> None:
        alice_arn, alice = world.user("alice")
        user = alice_arn.rsplit("/", 1)[1]
        device = world.iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{user}-mfa")["VirtualMFADevice"]
        seed = device["Base32StringSeed"]
        totp = pyotp.TOTP(seed.decode() if isinstance(seed, bytes) else seed)
        serial = device["SerialNumber"]
        now = int(time.time())
        world.iam.enable_mfa_device(
            UserName=user, SerialNumber=serial, AuthenticationCode1=totp.at(now - 60), AuthenticationCode2=totp.at(now - 30)
        )
        role = world.role("R", _trust({"AWS": alice_arn}, Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}))
        with pytest.raises(ClientError) as without:
            world.assume(alice, role)
        assert _code(without) == "AccessDenied"
        code = totp.at(now)
        session = world.assume(alice, role, SerialNumber=serial, TokenCode=code)
        assert world.sts(session).get_caller_identity()["Arn"].endswith(f"/R{world.suffix}/s1")
        with pytest.raises(ClientError) as reused:
            world.assume(alice, role, SerialNumber=serial, TokenCode=code)
        assert "MultiFactorAuthentication failed" in _message(reused)

    def test_many_threads_at_once(self, world: World) -> None:
        alice_arn, alice = world.user("alice")
        role = world.role("R", _trust({"AWS": alice_arn}))

        def assume(i: int) -> Credentials:
            client = world.sts(alice)
            return Credentials.from_response(client.assume_role(RoleArn=role, RoleSessionName=f"t{i}")["Credentials"])

        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(assume, range(64)))
        assert len({c.access_key_id for c in results}) == 64
        assert len({c.secret_access_key for c in results}) == 64
        assert world.sts(results[-1]).get_caller_identity()["Arn"].endswith("/t63")
