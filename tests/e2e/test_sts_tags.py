"""Session tags, transitive tags and source identity end to end: the
permission each needs, AWS's limits on tags, how tags become ``aws:PrincipalTag`` of the
session (over the role's own tags), and what a role chain inherits and may not change.

The rules are the server's alone, so most tests share a SQLite server; one chain runs
on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from serverproc import Credentials, TesseraServer
from sts_scenario import UNVALIDATED, Scenario, allow, code_of, message_of, refusal, trust

TAGGING = ["sts:AssumeRole", "sts:TagSession"]


@pytest.fixture
def both(server: TesseraServer) -> Scenario:
    return Scenario(server)


@pytest.fixture
def sc(sqlite_server: TesseraServer) -> Scenario:
    return Scenario(sqlite_server)


def _tags(**pairs: str) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in pairs.items()]


def _when_tag(key: str, value: str, action: str = "iam:ListUsers") -> dict[str, Any]:
    """Allow ``action`` only to principals tagged ``key=value``."""
    return allow(action, Condition={"StringEquals": {f"aws:PrincipalTag/{key}": value}})


class TestTagPermissions:
    def test_trust_policy_can_constrain_the_tags_passed(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role(
            "R",
            trust({"AWS": alice_arn}),
            trust(
                {"AWS": alice_arn},
                "sts:TagSession",
                Condition={
                    "StringEquals": {"aws:RequestTag/team": "blue"},
                    "ForAllValues:StringEquals": {"aws:TagKeys": ["team"]},
                },
            ),
        )
        sc.assume(alice, role, Tags=_tags(team="blue"))
        sc.assume(alice, role)  # no tags: no sts:TagSession needed
        assert "sts:TagSession" in message_of(lambda: sc.assume(alice, role, Tags=_tags(team="red")))
        assert "sts:TagSession" in message_of(lambda: sc.assume(alice, role, Tags=_tags(team="blue", cost="1")))

    def test_transitive_keys_are_visible_to_the_trust_policy(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        only_team_transitive = {"ForAllValues:StringEquals": {"sts:TransitiveTagKeys": ["team"]}}
        tagging = trust({"AWS": alice_arn}, "sts:TagSession", Condition=only_team_transitive)
        role = sc.role("R", trust({"AWS": alice_arn}), tagging)
        sc.assume(alice, role, Tags=_tags(team="blue", cost="1"), TransitiveTagKeys=["team"])
        both_transitive = {"Tags": _tags(team="blue", cost="1"), "TransitiveTagKeys": ["team", "cost"]}
        assert code_of(lambda: sc.assume(alice, role, **both_transitive)) == "AccessDenied"


class TestTagLimits:
    @pytest.mark.parametrize(
        "tags",
        [
            [{"Key": f"k{i:02d}", "Value": f"v{i}"} for i in range(50)],
            [{"Key": "k" * 128, "Value": "v" * 256}],
            [{"Key": "empty", "Value": ""}],
            [{"Key": "Ünïcode key_.:/=+-@ 9", "Value": "välue with spaces_.:/=+-@"}],
        ],
        ids=["50-tags", "longest-key-and-value", "empty-value", "every-allowed-character"],
    )
    def test_tags_within_aws_limits_are_accepted(self, sc: Scenario, tags: list[dict[str, str]]) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}, TAGGING))
        response = sc.assume_response(alice, role, Tags=tags)
        assert 0 < response["PackedPolicySize"] <= 100

    @pytest.mark.parametrize(
        ("tags", "transitive", "code"),
        [
            ([{"Key": f"k{i:02d}", "Value": "v"} for i in range(51)], [], "ValidationError"),
            ([{"Key": "k" * 129, "Value": "v"}], [], "ValidationError"),
            ([{"Key": "k", "Value": "v" * 257}], [], "ValidationError"),
            ([{"Key": "", "Value": "v"}], [], "ValidationError"),
            ([{"Key": "bad*key", "Value": "v"}], [], "ValidationError"),
            ([{"Key": "k", "Value": "bad#value"}], [], "ValidationError"),
            ([{"Key": "aws:team", "Value": "v"}], [], "InvalidParameterValue"),
            ([{"Key": "Team", "Value": "a"}, {"Key": "TEAM", "Value": "b"}], [], "InvalidParameterValue"),
            ([{"Key": "team", "Value": "a"}], ["cost"], "InvalidParameterValue"),
            ([{"Key": "team", "Value": "a"}], ["team", "Team"], "InvalidParameterValue"),
        ],
        ids=[
            "51-tags",
            "key-129",
            "value-257",
            "empty-key",
            "key-character",
            "value-character",
            "aws-prefix",
            "duplicate-key-any-case",
            "transitive-key-not-passed",
            "duplicate-transitive-key",
        ],
    )
    def test_tags_beyond_aws_limits_are_refused(self, sc: Scenario, tags: list[dict[str, str]], transitive: list[str], code: str) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}, TAGGING))
        sts = sc.sts(alice, config=UNVALIDATED)
        params: dict[str, Any] = {"Tags": tags, **({"TransitiveTagKeys": transitive} if transitive else {})}
        error = refusal(lambda: sts.assume_role(RoleArn=role, RoleSessionName="s1", **params))
        assert error["Error"]["Code"] == code
        if code == "ValidationError":
            assert "'tags" in error["Error"]["Message"]

    def test_duplicate_key_message_is_aws_text(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}, TAGGING))
        duplicate = [{"Key": "Cost", "Value": "1"}, {"Key": "cost", "Value": "1"}]
        assert message_of(lambda: sc.assume(alice, role, Tags=duplicate)) == (
            "Duplicate tag keys found. Please note that Tag keys are case insensitive."
        )


class TestPrincipalTags:
    def test_session_tags_override_role_tags_case_insensitively(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}, TAGGING), policy=[_when_tag("team", "blue")], Tags=_tags(Team="red"))
        red = sc.client("iam", sc.assume(alice, role))
        assert code_of(red.list_users) == "AccessDenied"
        sc.client("iam", sc.assume(alice, role, Tags=_tags(TEAM="blue"))).list_users()

    def test_session_tags_are_principal_tags_in_the_next_trust_policy(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        first = sc.role("First", trust({"AWS": alice_arn}, TAGGING))
        second = sc.role("Second", trust({"AWS": first}, Condition={"StringEquals": {"aws:PrincipalTag/team": "blue"}}))
        sc.assume(sc.assume(alice, first, Tags=_tags(team="blue")), second)
        assert code_of(lambda: sc.assume(sc.assume(alice, first, Tags=_tags(team="red")), second)) == "AccessDenied"


class TestTransitiveTags:
    def test_transitive_tags_pass_down_the_chain_and_override_role_tags(self, both: Scenario) -> None:
        alice_arn, alice = both.user("alice")
        first = both.role("First", trust({"AWS": alice_arn}, TAGGING))
        checks = [_when_tag("team", "blue", "iam:ListUsers"), _when_tag("cost", "1", "iam:ListRoles")]
        second = both.role("Second", trust({"AWS": first}, TAGGING), policy=checks, Tags=_tags(team="red"))
        session = both.assume(alice, first, Tags=_tags(Team="blue", cost="1"), TransitiveTagKeys=["team"])
        chained = both.assume(session, second)
        iam = both.client("iam", chained)
        iam.list_users()  # inherited transitive Team=blue beats the role's team=red
        assert code_of(iam.list_roles) == "AccessDenied"  # cost was not transitive
        third = both.role("Third", trust({"AWS": second}, TAGGING), policy=[_when_tag("team", "blue")])
        both.client("iam", both.assume(chained, third)).list_users()  # and stays transitive

    def test_a_chain_carrying_transitive_tags_needs_tag_session_on_the_next_role(self, both: Scenario) -> None:
        alice_arn, alice = both.user("alice")
        first = both.role("First", trust({"AWS": alice_arn}, TAGGING))
        untagging = both.role("Untagging", trust({"AWS": first}), policy=[allow("iam:ListUsers")])
        tagging = both.role("Tagging", trust({"AWS": first}, TAGGING), policy=[_when_tag("team", "blue")])
        both.assume(both.assume(alice, first), untagging)  # a chain without tags needs no sts:TagSession
        both.assume(both.assume(alice, first, Tags=_tags(team="blue")), untagging)  # nor one with non-transitive tags
        carrying = both.assume(alice, first, Tags=_tags(team="blue"), TransitiveTagKeys=["team"])
        error = refusal(lambda: both.sts(carrying).assume_role(RoleArn=untagging, RoleSessionName="s1"))
        assert error["Error"]["Code"] == "AccessDenied"
        assert f"is not authorized to perform: sts:TagSession on resource: {untagging}" in error["Error"]["Message"]
        both.client("iam", both.assume(carrying, tagging)).list_users()  # allowed, and team=blue came along

    @pytest.mark.parametrize(("key", "value"), [("team", "red"), ("TEAM", "blue")], ids=["other-value", "same-value-other-case"])
    def test_an_inherited_transitive_tag_cannot_be_restated(self, sc: Scenario, key: str, value: str) -> None:
        alice_arn, alice = sc.user("alice")
        first = sc.role("First", trust({"AWS": alice_arn}, TAGGING))
        second = sc.role("Second", trust({"AWS": first}, TAGGING))
        session = sc.assume(alice, first, Tags=_tags(team="blue"), TransitiveTagKeys=["team"])
        assert code_of(lambda: sc.assume(session, second, Tags=[{"Key": key, "Value": value}])) == "InvalidParameterValue"
        sc.assume(session, second, Tags=_tags(project="x"))

    def test_non_transitive_tags_of_the_caller_may_be_restated(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        first = sc.role("First", trust({"AWS": alice_arn}, TAGGING))
        second = sc.role("Second", trust({"AWS": first}, TAGGING), policy=[_when_tag("team", "red")])
        session = sc.assume(alice, first, Tags=_tags(team="blue"))
        sc.client("iam", sc.assume(session, second, Tags=_tags(team="red"))).list_users()


class TestSourceIdentity:
    def test_is_carried_down_the_chain_and_needs_permission_at_every_role(self, both: Scenario) -> None:
        alice_arn, alice = both.user("alice")
        setting = ["sts:AssumeRole", "sts:SetSourceIdentity"]
        first = both.role("First", trust({"AWS": alice_arn}, setting))
        on_identity = [allow("iam:ListUsers", Condition={"StringEquals": {"aws:SourceIdentity": "alice-id"}})]
        second = both.role("Second", trust({"AWS": first}, setting), policy=on_identity)
        plain = both.role("Plain", trust({"AWS": first}))
        session = both.assume(alice, first, SourceIdentity="alice-id")
        response = both.assume_response(session, second)
        assert response["SourceIdentity"] == "alice-id"
        both.client("iam", Credentials.from_response(response["Credentials"])).list_users()
        denied = message_of(lambda: both.assume(session, plain))
        assert "sts:SetSourceIdentity" in denied

    def test_cannot_be_changed_but_may_be_repeated(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        setting = ["sts:AssumeRole", "sts:SetSourceIdentity"]
        first = sc.role("First", trust({"AWS": alice_arn}, setting))
        second = sc.role("Second", trust({"AWS": first}, setting))
        session = sc.assume(alice, first, SourceIdentity="alice-id")
        assert code_of(lambda: sc.assume(session, second, SourceIdentity="mallory")) == "AccessDenied"
        assert sc.assume_response(session, second, SourceIdentity="alice-id")["SourceIdentity"] == "alice-id"

    def test_trust_policy_can_require_the_user_name(self, sc: Scenario) -> None:
        alice_arn, alice = sc.user("alice")
        username = alice_arn.rsplit("/", 1)[1]
        role = sc.role(
            "R",
            trust({"AWS": alice_arn}),
            trust({"AWS": alice_arn}, "sts:SetSourceIdentity", Condition={"StringEquals": {"sts:SourceIdentity": "${aws:username}"}}),
        )
        assert sc.assume_response(alice, role, SourceIdentity=username)["SourceIdentity"] == username
        assert code_of(lambda: sc.assume(alice, role, SourceIdentity="someone-else")) == "AccessDenied"

    @pytest.mark.parametrize("value", ["aws:alice", "a", "has space"], ids=["aws-prefix", "too-short", "space"])
    def test_invalid_values_are_validation_errors(self, sc: Scenario, value: str) -> None:
        alice_arn, alice = sc.user("alice")
        role = sc.role("R", trust({"AWS": alice_arn}, ["sts:AssumeRole", "sts:SetSourceIdentity"]))
        sts = sc.sts(alice, config=UNVALIDATED)
        error = refusal(lambda: sts.assume_role(RoleArn=role, RoleSessionName="s1", SourceIdentity=value))
        assert error["Error"]["Code"] == "ValidationError"
        assert "'sourceIdentity'" in error["Error"]["Message"]
