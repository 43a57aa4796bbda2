"""AssumeRole against a real runtime: trust evaluation, duration, session policies,
session tags, source identity, external id."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sts_world import T0, A, B, World, allow, deny, doc, trust

from tessera.errors import (
    AccessDenied,
    InvalidParameterValue,
    MalformedPolicyDocumentException,
    PackedPolicyTooLargeException,
    ValidationError,
)
from tessera.services.authorization import refuse_session_kind

ALICE_ARN = f"arn:aws:iam::{A}:user/alice"


@pytest.fixture
def world(tmp_path: Path) -> World:
    world = World(tmp_path)
    world.add_account(B)
    return world


def test_trust_naming_the_user_allows_without_identity_policy(world: World) -> None:
    alice = world.add_user("alice")
    role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})))
    result = world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="work")
    role_id = world.role_id("R")
    assert result["AssumedRoleUser"] == {
        "AssumedRoleId": f"{role_id}:work",
        "Arn": f"arn:aws:sts::{A}:assumed-role/R/work",
    }
    creds = result["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert len(creds["SecretAccessKey"]) == 40
    assert creds["Expiration"] == T0 + dt.timedelta(hours=1)
    assert "PackedPolicySize" not in result and "SourceIdentity" not in result


def test_session_caller_is_the_assumed_role_session(world: World) -> None:
    alice = world.add_user("alice")
    role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})), path="/team/")
    session = world.assume(alice, role, "work")
    assert (session.kind, session.arn, session.name) == ("assumed-role", f"arn:aws:sts::{A}:assumed-role/R/work", "R")
    assert session.user_id == f"{world.role_id('R')}:work"
    assert session.session is not None and session.session.role_arn == f"arn:aws:iam::{A}:role/team/R"


def test_trust_naming_the_account_needs_an_identity_allow(world: World) -> None:
    role = world.add_role("R", doc(trust({"AWS": f"arn:aws:iam::{A}:root"})))
    carol = world.add_user("carol")
    with pytest.raises(AccessDenied) as denied:
        world.call(carol, "AssumeRole", RoleArn=role, RoleSessionName="s")
    assert denied.value.message.startswith(
        f"User: arn:aws:iam::{A}:user/carol is not authorized to perform: sts:AssumeRole on resource: {role}"
    )
    carol = world.add_user("carol", policies={"p": doc(allow("sts:AssumeRole", role))})
    assert world.assume(carol, role).kind == "assumed-role"


def test_unknown_role_is_denied_exactly_like_an_untrusting_role(world: World) -> None:
    carol = world.add_user("carol", policies={"p": doc(allow("sts:AssumeRole"))})
    untrusting = world.add_role("Other", doc(trust({"AWS": f"arn:aws:iam::{B}:root"})))
    with pytest.raises(AccessDenied) as existing:
        world.call(carol, "AssumeRole", RoleArn=untrusting, RoleSessionName="s")
    missing = f"arn:aws:iam::{A}:role/Nope"
    with pytest.raises(AccessDenied) as unknown:
        world.call(carol, "AssumeRole", RoleArn=missing, RoleSessionName="s")
    assert unknown.value.message == existing.value.message.replace(untrusting, missing)


def test_role_arn_must_match_the_role_path_exactly(world: World) -> None:
    alice = world.add_user("alice")
    world.add_role("R", doc(trust({"AWS": ALICE_ARN})), path="/team/")
    with pytest.raises(AccessDenied):
        world.call(alice, "AssumeRole", RoleArn=f"arn:aws:iam::{A}:role/R", RoleSessionName="s")


@pytest.mark.parametrize(
    "role_arn",
    ["arn:aws:iam::111111111111:user/alice", "arn:aws:s3:::bucket/role/x", "not-an-arn-at-all-really"],
    ids=["user-arn", "other-service", "garbage"],
)
def test_malformed_role_arn_is_a_validation_error(world: World, role_arn: str) -> None:
    alice = world.add_user("alice")
    with pytest.raises(ValidationError):
        world.call(alice, "AssumeRole", RoleArn=role_arn, RoleSessionName="s")


def test_root_cannot_assume_roles(world: World) -> None:
    role = world.add_role("R", doc(trust({"AWS": f"arn:aws:iam::{A}:root"})))
    with pytest.raises(AccessDenied) as denied:
        world.call(world.root(), "AssumeRole", RoleArn=role, RoleSessionName="s")
    assert denied.value.message == "Roles may not be assumed by root accounts."


def test_roots_refusal_comes_before_anything_else_in_the_request(world: World) -> None:
    # the kind of caller is decided before the RoleArn is parsed or an MFA code looked at
    with pytest.raises(AccessDenied) as denied:
        world.call(
            world.root(),
            "AssumeRole",
            RoleArn="not-an-arn-at-all-really",
            RoleSessionName="s",
            SerialNumber=f"arn:aws:iam::{A}:mfa/x",
            TokenCode="123456",
        )
    assert denied.value.message == "Roles may not be assumed by root accounts."


def test_the_kind_of_caller_is_decided_once_per_service_per_request(world: World) -> None:
    role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})))
    alice = world.add_user("alice")
    ctx = world.context(alice, "AssumeRole")
    refuse_session_kind(ctx, "sts:AssumeRole", role)
    assert ctx.kind_cleared == {"sts"}
    refuse_session_kind(ctx, "sts:TagSession", role)
    assert ctx.kind_cleared == {"sts"}


def test_explicit_deny_in_identity_policy_beats_direct_trust(world: World) -> None:
    alice = world.add_user("alice", policies={"no": doc(deny("sts:*"))})
    role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})))
    with pytest.raises(AccessDenied) as denied:
        world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s")
    assert "explicit deny" in denied.value.decision.reason


class TestCrossAccount:
    def test_needs_trust_and_identity_allow(self, world: World) -> None:
        role = world.add_role("Audit", doc(trust({"AWS": A})), account=B)
        dave = world.add_user("dave")
        with pytest.raises(AccessDenied):
            world.call(dave, "AssumeRole", RoleArn=role, RoleSessionName="s")
        dave = world.add_user("dave", policies={"p": doc(allow("sts:AssumeRole", role))})
        session = world.assume(dave, role)
        assert session.account == B and session.arn == f"arn:aws:sts::{B}:assumed-role/Audit/s1"

    def test_direct_trust_of_the_user_does_not_waive_identity_policy(self, world: World) -> None:
        role = world.add_role("Audit", doc(trust({"AWS": f"arn:aws:iam::{A}:user/dave"})), account=B)
        dave = world.add_user("dave")
        with pytest.raises(AccessDenied):
            world.call(dave, "AssumeRole", RoleArn=role, RoleSessionName="s")

    def test_credentials_name_the_role_account(self, world: World) -> None:
        role = world.add_role("Audit", doc(trust({"AWS": A})), account=B)
        dave = world.add_user("dave", policies={"p": doc(allow("sts:AssumeRole"))})
        creds = world.call(dave, "AssumeRole", RoleArn=role, RoleSessionName="s")["Credentials"]
        info = world.call(world.root(B), "GetAccessKeyInfo", AccessKeyId=creds["AccessKeyId"])
        assert info == {"Account": B}


class TestDuration:
    @pytest.mark.parametrize(
        ("requested", "max_session", "expected"),
        [(None, 3600, 3600), (900, 3600, 900), (43200, 43200, 43200), (7200, 7200, 7200)],
        ids=["default", "minimum", "twelve-hours", "role-max"],
    )
    def test_allowed_durations(self, world: World, requested: int | None, max_session: int, expected: int) -> None:
        alice = world.add_user("alice")
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})), max_session=max_session)
        params = {} if requested is None else {"DurationSeconds": requested}
        creds = world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s", **params)["Credentials"]
        assert creds["Expiration"] == T0 + dt.timedelta(seconds=expected)

    def test_over_role_maximum_is_refused_with_aws_text(self, world: World) -> None:
        alice = world.add_user("alice")
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})), max_session=3600)
        with pytest.raises(ValidationError) as refused:
            world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s", DurationSeconds=3601)
        assert refused.value.message == "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."

    def test_untrusted_caller_learns_nothing_about_the_maximum(self, world: World) -> None:
        carol = world.add_user("carol")
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})), max_session=3600)
        with pytest.raises(AccessDenied):
            world.call(carol, "AssumeRole", RoleArn=role, RoleSessionName="s", DurationSeconds=7200)

    def test_role_chaining_is_capped_at_one_hour(self, world: World) -> None:
        alice = world.add_user("alice")
        first = world.add_role("First", doc(trust({"AWS": ALICE_ARN})), max_session=43200)
        second = world.add_role("Second", doc(trust({"AWS": first})), max_session=43200)
        session = world.assume(alice, first)
        with pytest.raises(ValidationError) as refused:
            world.call(session, "AssumeRole", RoleArn=second, RoleSessionName="s", DurationSeconds=3601)
        assert "1 hour session limit for roles assumed by role chaining" in refused.value.message
        chained = world.call(session, "AssumeRole", RoleArn=second, RoleSessionName="s", DurationSeconds=3600)
        assert chained["Credentials"]["Expiration"] == T0 + dt.timedelta(hours=1)


class TestSessionPolicies:
    def test_inline_policy_is_carried_and_sized(self, world: World) -> None:
        alice = world.add_user("alice")
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})), policies={"all": doc(allow("*"))})
        policy = doc(allow("iam:Get*"))
        result = world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s", Policy=policy)
        assert 0 < result["PackedPolicySize"] <= 100
        session = world.authenticate(result["Credentials"])
        assert session.session is not None and session.session.session_policies == (policy,)

    @pytest.mark.parametrize(
        "policy",
        [
            "{not json",
            doc({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}),
            doc({"Effect": "Allow", "Action": "s3:*"}),
        ],
        ids=["syntax", "principal", "no-resource"],
    )
    def test_malformed_inline_policy(self, world: World, policy: str) -> None:
        alice = world.add_user("alice")
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})))
        with pytest.raises(MalformedPolicyDocumentException):
            world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s", Policy=policy)

    def test_policy_arns_must_exist_in_the_role_account(self, world: World) -> None:
        alice = world.add_user("alice")
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})))
        mine = world.add_managed_policy("ReadOnly", doc(allow("iam:Get*")))
        other = world.add_managed_policy("Elsewhere", doc(allow("iam:Get*")), account=B)
        result = world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s", PolicyArns=[{"arn": mine}])
        assert world.authenticate(result["Credentials"]).session.session_policy_arns == (mine,)  # type: ignore[union-attr]
        for arn in (other, f"arn:aws:iam::{A}:policy/Missing"):
            with pytest.raises(MalformedPolicyDocumentException):
                world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s", PolicyArns=[{"arn": arn}])

    def test_more_than_ten_policy_arns_are_refused(self, world: World) -> None:
        alice = world.add_user("alice")
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})))
        arns = [{"arn": world.add_managed_policy(f"P{i}", doc(allow("iam:Get*")))} for i in range(11)]
        with pytest.raises(ValidationError):
            world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s", PolicyArns=arns)

    def test_plaintext_over_2048_characters_is_packed_policy_too_large(self, world: World) -> None:
        alice = world.add_user("alice")
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})))
        actions = [f"iam:GetSomethingNumber{i:04d}" for i in range(80)]
        with pytest.raises(PackedPolicyTooLargeException) as refused:
            world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s", Policy=doc(allow(actions)))
        assert refused.value.message.startswith("Packed policy consumes ")
        assert refused.value.message.endswith("% of allotted space, please use smaller policy.")


TAG_TRUST = ["sts:AssumeRole", "sts:TagSession"]


class TestSessionTags:
    def test_tags_need_tag_session_permission(self, world: World) -> None:
        alice = world.add_user("alice")
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})))
        with pytest.raises(AccessDenied) as denied:
            world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s", Tags=[{"Key": "team", "Value": "a"}])
        assert "sts:TagSession" in denied.value.message

    def test_trust_sees_request_tags(self, world: World) -> None:
        alice = world.add_user("alice")
        condition = {"StringEquals": {"aws:RequestTag/team": "blue"}}
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN}, TAG_TRUST, Condition=condition)))
        session = world.assume(alice, role, Tags=[{"Key": "team", "Value": "blue"}])
        assert session.session is not None and [(t.key, t.value) for t in session.session.tags] == [("team", "blue")]
        with pytest.raises(AccessDenied):
            world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s", Tags=[{"Key": "team", "Value": "red"}])

    @pytest.mark.parametrize(
        ("tags", "transitive"),
        [
            ([{"Key": "Team", "Value": "a"}, {"Key": "team", "Value": "b"}], []),
            ([{"Key": "aws:team", "Value": "a"}], []),
            ([{"Key": "team", "Value": "a"}], ["project"]),
        ],
        ids=["duplicate-keys-case-insensitive", "reserved-prefix", "transitive-key-not-passed"],
    )
    def test_invalid_tags(self, world: World, tags: list[dict[str, str]], transitive: list[str]) -> None:
        alice = world.add_user("alice")
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN}, TAG_TRUST)))
        with pytest.raises(InvalidParameterValue):
            world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s", Tags=tags, TransitiveTagKeys=transitive)

    def test_duplicate_key_message_is_aws_text(self, world: World) -> None:
        alice = world.add_user("alice")
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN}, TAG_TRUST)))
        tags = [{"Key": "Dept", "Value": "a"}, {"Key": "dept", "Value": "b"}]
        with pytest.raises(InvalidParameterValue) as refused:
            world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s", Tags=tags)
        assert refused.value.message == "Duplicate tag keys found. Please note that Tag keys are case insensitive."

    def test_transitive_tags_pass_down_the_chain_and_cannot_be_restated(self, world: World) -> None:
        alice = world.add_user("alice")
        first = world.add_role("First", doc(trust({"AWS": ALICE_ARN}, TAG_TRUST)))
        second = world.add_role(
            "Second",
            doc(trust({"AWS": first}, TAG_TRUST, Condition={"StringEquals": {"aws:PrincipalTag/project": "x"}})),
            tags=[("project", "role-value"), ("owner", "ops")],
        )
        tags = [{"Key": "Project", "Value": "x"}, {"Key": "temp", "Value": "t"}]
        session = world.assume(alice, first, Tags=tags, TransitiveTagKeys=["project"])
        assert session.session is not None and session.session.transitive_tag_keys == ("Project",)
        chained = world.assume(session, second, "next")
        assert chained.session is not None
        assert [(t.key, t.value) for t in chained.session.tags] == [("Project", "x")]
        assert chained.session.transitive_tag_keys == ("Project",)
        with pytest.raises(InvalidParameterValue):
            world.call(session, "AssumeRole", RoleArn=second, RoleSessionName="n", Tags=[{"Key": "PROJECT", "Value": "y"}])

    def test_inherited_transitive_tags_need_tag_session_on_the_next_role(self, world: World) -> None:
        alice = world.add_user("alice")
        first = world.add_role("First", doc(trust({"AWS": ALICE_ARN}, TAG_TRUST)))
        untagging = world.add_role("Untagging", doc(trust({"AWS": first})))
        plain = world.assume(alice, first)
        assert world.assume(plain, untagging, "n").kind == "assumed-role"  # no tags at all: no sts:TagSession
        non_transitive = world.assume(alice, first, Tags=[{"Key": "team", "Value": "blue"}])
        assert world.assume(non_transitive, untagging, "n").kind == "assumed-role"
        transitive = world.assume(alice, first, Tags=[{"Key": "team", "Value": "blue"}], TransitiveTagKeys=["team"])
        with pytest.raises(AccessDenied) as denied:
            world.call(transitive, "AssumeRole", RoleArn=untagging, RoleSessionName="n")
        assert "sts:TagSession" in denied.value.message
        tagging = world.add_role("Tagging", doc(trust({"AWS": first}, TAG_TRUST)))
        chained = world.assume(transitive, tagging, "n")
        assert chained.session is not None and [(t.key, t.value) for t in chained.session.tags] == [("team", "blue")]

    def test_tag_session_for_inherited_tags_sees_them_as_principal_tags_not_request_tags(self, world: World) -> None:
        alice = world.add_user("alice")
        first = world.add_role("First", doc(trust({"AWS": ALICE_ARN}, TAG_TRUST)))
        on_principal = {"StringEquals": {"aws:PrincipalTag/team": "blue"}}
        by_principal = world.add_role(
            "ByPrincipal", doc(trust({"AWS": first}), trust({"AWS": first}, "sts:TagSession", Condition=on_principal))
        )
        on_request = {"StringEquals": {"aws:RequestTag/team": "blue"}}
        by_request = world.add_role("ByRequest", doc(trust({"AWS": first}), trust({"AWS": first}, "sts:TagSession", Condition=on_request)))
        blue = world.assume(alice, first, Tags=[{"Key": "team", "Value": "blue"}], TransitiveTagKeys=["team"])
        red = world.assume(alice, first, Tags=[{"Key": "team", "Value": "red"}], TransitiveTagKeys=["team"])
        assert world.assume(blue, by_principal, "n").kind == "assumed-role"
        with pytest.raises(AccessDenied):
            world.call(red, "AssumeRole", RoleArn=by_principal, RoleSessionName="n")
        with pytest.raises(AccessDenied):
            world.call(blue, "AssumeRole", RoleArn=by_request, RoleSessionName="n")

    def test_inherited_transitive_tags_replace_role_tags_in_trust_evaluation(self, world: World) -> None:
        alice = world.add_user("alice")
        first = world.add_role("First", doc(trust({"AWS": ALICE_ARN}, TAG_TRUST)))
        condition = {"StringEquals": {"aws:ResourceTag/env": "prod"}}
        second = world.add_role("Second", doc(trust({"AWS": first}, TAG_TRUST, Condition=condition)), tags=[("env", "dev")])
        plain = world.assume(alice, first)
        with pytest.raises(AccessDenied):
            world.call(plain, "AssumeRole", RoleArn=second, RoleSessionName="n")
        tagged = world.assume(alice, first, Tags=[{"Key": "env", "Value": "prod"}], TransitiveTagKeys=["env"])
        assert world.assume(tagged, second, "n").kind == "assumed-role"


class TestSourceIdentity:
    def test_needs_set_source_identity(self, world: World) -> None:
        alice = world.add_user("alice")
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})))
        with pytest.raises(AccessDenied) as denied:
            world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s", SourceIdentity="alice")
        assert "sts:SetSourceIdentity" in denied.value.message

    def test_is_echoed_carried_and_immutable(self, world: World) -> None:
        alice = world.add_user("alice")
        allowed = ["sts:AssumeRole", "sts:SetSourceIdentity"]
        condition = {"StringEquals": {"sts:SourceIdentity": "alice"}}
        first = world.add_role("First", doc(trust({"AWS": ALICE_ARN}, allowed, Condition=condition)))
        second = world.add_role("Second", doc(trust({"AWS": first}, allowed)))
        result = world.call(alice, "AssumeRole", RoleArn=first, RoleSessionName="s", SourceIdentity="alice")
        assert result["SourceIdentity"] == "alice"
        session = world.authenticate(result["Credentials"])
        chained = world.call(session, "AssumeRole", RoleArn=second, RoleSessionName="n")
        assert chained["SourceIdentity"] == "alice"
        with pytest.raises(AccessDenied):
            world.call(session, "AssumeRole", RoleArn=second, RoleSessionName="n", SourceIdentity="mallory")
        with pytest.raises(AccessDenied):
            world.call(alice, "AssumeRole", RoleArn=first, RoleSessionName="s", SourceIdentity="bob")

    def test_inherited_identity_needs_permission_in_the_next_role(self, world: World) -> None:
        alice = world.add_user("alice")
        allowed = ["sts:AssumeRole", "sts:SetSourceIdentity"]
        first = world.add_role("First", doc(trust({"AWS": ALICE_ARN}, allowed)))
        second = world.add_role("Second", doc(trust({"AWS": first})))
        session = world.assume(alice, first, SourceIdentity="alice")
        with pytest.raises(AccessDenied):
            world.call(session, "AssumeRole", RoleArn=second, RoleSessionName="n")


class TestTrustContext:
    def test_external_id(self, world: World) -> None:
        alice = world.add_user("alice")
        condition = {"StringEquals": {"sts:ExternalId": "s3cr3t-id"}}
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN}, Condition=condition)))
        assert world.assume(alice, role, ExternalId="s3cr3t-id").kind == "assumed-role"
        for params in ({"ExternalId": "wrong-id"}, {}):
            with pytest.raises(AccessDenied):
                world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s", **params)

    def test_role_session_name_policy_variable(self, world: World) -> None:
        alice = world.add_user("alice")
        condition = {"StringEquals": {"sts:RoleSessionName": "${aws:username}"}}
        role = world.add_role("R", doc(trust({"AWS": f"arn:aws:iam::{A}:root"}, Condition=condition)))
        alice = world.add_user("alice", policies={"p": doc(allow("sts:AssumeRole"))})
        assert world.assume(alice, role, "alice").kind == "assumed-role"
        with pytest.raises(AccessDenied):
            world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="bob")

    def test_principal_tags_of_the_caller(self, world: World) -> None:
        condition = {"StringEquals": {"aws:PrincipalTag/dept": "eng"}}
        role = world.add_role("R", doc(trust({"AWS": A}, Condition=condition)))
        policy = {"p": doc(allow("sts:AssumeRole"))}
        eng = world.add_user("eng", policies=policy, tags=[("dept", "eng")])
        ops = world.add_user("ops", policies=policy, tags=[("dept", "ops")])
        assert world.assume(eng, role).kind == "assumed-role"
        with pytest.raises(AccessDenied):
            world.call(ops, "AssumeRole", RoleArn=role, RoleSessionName="s")

    def test_mfa_is_absent_for_long_term_keys(self, world: World) -> None:
        alice = world.add_user("alice")
        condition = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN}, Condition=condition)))
        with pytest.raises(AccessDenied):
            world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s")


class TestSessions:
    def test_session_permissions_come_from_the_role_capped_by_session_policy(self, world: World) -> None:
        alice = world.add_user("alice")
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})), policies={"p": doc(allow(["sts:GetAccessKeyInfo", "iam:Get*"]))})
        session = world.assume(alice, role, Policy=doc(allow("iam:GetUser")))
        with pytest.raises(AccessDenied) as denied:
            world.call(session, "GetAccessKeyInfo", AccessKeyId="AKIAROOTROOTROOT0001")
        assert denied.value.message.endswith("because no session policy allows the sts:GetAccessKeyInfo action")
        free = world.assume(alice, role)
        assert world.call(free, "GetAccessKeyInfo", AccessKeyId="AKIAROOTROOTROOT0001") == {"Account": A}

    def test_revocation_policy_denies_sessions_issued_before_it(self, world: World) -> None:
        from tessera.services.revocation import REVOKE_POLICY_NAME, revoke_policy

        alice = world.add_user("alice")
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})), policies={"p": doc(allow("sts:GetAccessKeyInfo"))})
        old = world.assume(alice, role)
        world.clock.advance(0.5)
        world.put_role_policy("R", REVOKE_POLICY_NAME, revoke_policy(world.clock.now()))
        world.clock.advance(0.5)
        new = world.assume(alice, role)
        with pytest.raises(AccessDenied) as denied:
            world.call(old, "GetAccessKeyInfo", AccessKeyId="AKIAROOTROOTROOT0001")
        assert "explicit deny" in denied.value.decision.reason
        assert world.call(new, "GetAccessKeyInfo", AccessKeyId="AKIAROOTROOTROOT0001") == {"Account": A}

    def test_credentials_are_distinct_per_call(self, world: World) -> None:
        alice = world.add_user("alice")
        role = world.add_role("R", doc(trust({"AWS": ALICE_ARN})))
        results = [world.call(alice, "AssumeRole", RoleArn=role, RoleSessionName="s")["Credentials"] for _ in range(20)]
        assert len({c["AccessKeyId"] for c in results}) == 20
        assert len({c["SecretAccessKey"] for c in results}) == 20
