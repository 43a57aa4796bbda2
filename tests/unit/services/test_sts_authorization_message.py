"""Encoded authorization-failure messages and DecodeAuthorizationMessage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sts_world import ROOT_KEY, A, B, World, allow, doc, trust

from tessera.auth.caller import Caller
from tessera.errors import AccessDenied, Denial, DeniedPrincipal, InvalidAuthorizationMessageException
from tessera.services.sts import AUTHORIZATION_MESSAGE_HEADER, authorization_message_headers

DECODER = {"d": doc(allow("sts:DecodeAuthorizationMessage"))}


@pytest.fixture
def world(tmp_path: Path) -> World:
    world = World(tmp_path)
    world.add_account(B)
    return world


def _denial(world: World, account: str = A) -> tuple[AccessDenied, str]:
    carol = world.add_user("carol", account=account, policies={"no": doc({"Sid": "NoKeys", **_deny()})})
    with pytest.raises(AccessDenied) as denied:
        world.call(carol, "GetAccessKeyInfo", AccessKeyId=ROOT_KEY)
    ((name, value),) = authorization_message_headers(world.context(carol, "GetAccessKeyInfo"), denied.value)
    assert name.decode() == AUTHORIZATION_MESSAGE_HEADER
    return denied.value, value.decode()


def _deny() -> dict[str, object]:
    return {"Effect": "Deny", "Action": "sts:GetAccessKeyInfo", "Resource": "*"}


def test_decodes_into_the_decision_context(world: World) -> None:
    _, encoded = _denial(world)
    auditor = world.add_user("auditor", policies=DECODER)
    decoded = json.loads(world.call(auditor, "DecodeAuthorizationMessage", EncodedMessage=encoded)["DecodedMessage"])
    assert decoded["allowed"] is False and decoded["explicitDeny"] is True
    assert [s["statementId"] for s in decoded["matchedStatements"]["items"]] == ["NoKeys"]
    context = decoded["context"]
    assert context["principal"]["arn"] == f"arn:aws:iam::{A}:user/carol"
    assert (context["action"], context["resource"]) == ("sts:GetAccessKeyInfo", "*")
    keys = {item["key"]: item["values"]["items"] for item in context["conditions"]["items"]}
    assert keys["aws:username"] == [{"value": "carol"}]
    assert keys["aws:SourceIp"] == [{"value": "203.0.113.5"}]


def test_the_refusal_carries_its_decision_as_typed_fields(world: World) -> None:
    denied, _ = _denial(world)
    denial = denied.decision
    assert isinstance(denial, Denial)
    assert (denial.action, denial.resource, denial.explicit_deny, denial.same_account) == ("sts:GetAccessKeyInfo", "*", True, True)
    assert denial.principal == DeniedPrincipal(id=denial.principal.id, name="carol", arn=f"arn:aws:iam::{A}:user/carol", account=A)
    assert denial.reason == "an explicit deny in an identity-based policy"
    assert [(s.sid, s.effect, s.owner) for s in denial.statements] == [("NoKeys", "Deny", False)]
    assert denial.context["aws:username"] == "carol"


def test_decoding_needs_permission(world: World) -> None:
    _, encoded = _denial(world)
    nobody = world.add_user("nobody")
    with pytest.raises(AccessDenied):
        world.call(nobody, "DecodeAuthorizationMessage", EncodedMessage=encoded)


def test_another_account_cannot_decode(world: World) -> None:
    _, encoded = _denial(world)
    with pytest.raises(InvalidAuthorizationMessageException):
        world.call(world.root(B), "DecodeAuthorizationMessage", EncodedMessage=encoded)


@pytest.mark.parametrize(
    "mangle",
    [lambda m: m[:-4] + ("AAAA" if not m.endswith("AAAA") else "BBBB"), lambda m: "x" + m, lambda m: "!!!"],
    ids=["tampered", "shifted", "garbage"],
)
def test_altered_messages_are_invalid(world: World, mangle: object) -> None:
    _, encoded = _denial(world)
    with pytest.raises(InvalidAuthorizationMessageException):
        world.call(world.root(), "DecodeAuthorizationMessage", EncodedMessage=mangle(encoded))  # type: ignore[operator]


def test_trust_policy_details_of_an_assume_role_denial_are_not_disclosed(world: World) -> None:
    carol = world.add_user("carol", policies={"p": doc(allow("sts:AssumeRole")), **DECODER})
    role = world.add_role("R", doc({"Sid": "Secret", **trust({"AWS": A}), "Effect": "Deny"}), tags=[("env", "prod")])
    with pytest.raises(AccessDenied) as denied:
        world.call(carol, "AssumeRole", RoleArn=role, RoleSessionName="s")
    ((_, value),) = authorization_message_headers(world.context(carol, "AssumeRole"), denied.value)
    decoded = world.call(carol, "DecodeAuthorizationMessage", EncodedMessage=value.decode())["DecodedMessage"]
    assert "Secret" not in decoded and "ResourceTag" not in decoded


def test_refusals_not_decided_by_policy_carry_no_message(world: World) -> None:
    role = world.add_role("R", doc(trust({"AWS": A})))
    with pytest.raises(AccessDenied) as denied:
        world.call(world.root(), "AssumeRole", RoleArn=role, RoleSessionName="s")
    assert authorization_message_headers(world.context(world.root(), "AssumeRole"), denied.value) == []


class _Orgs:
    """Organizations as authorization sees it: account → (organization id, OU paths)."""

    def __init__(self, members: dict[str, tuple[str, list[str]]]) -> None:
        self.members = members

    def scps_for(self, account_id: str) -> None:
        return None

    def principal_org(self, account_id: str) -> tuple[str, list[str]] | None:
        return self.members.get(account_id)


B_ORG = ("o-targetorg01", ["o-targetorg01/r-ab12/ou-ab12-secret01/"])


def _decoded_cross_account_denial(world: World, role_arn: str) -> dict[str, object]:
    rec = world.runtime.view.account(A).user("carol")  # type: ignore[union-attr]
    if rec is None:
        carol = world.add_user("carol", policies={"p": doc(allow("sts:AssumeRole")), **DECODER})
    else:
        carol = Caller("user", A, rec["arn"], rec["id"], "carol", "AKIA" + rec["id"][4:20])
    with pytest.raises(AccessDenied) as denied:
        world.call(carol, "AssumeRole", RoleArn=role_arn, RoleSessionName="s")
    ((_, value),) = authorization_message_headers(world.context(carol, "AssumeRole"), denied.value)
    decoded = world.call(carol, "DecodeAuthorizationMessage", EncodedMessage=value.decode())["DecodedMessage"]
    return dict(json.loads(decoded))


def _conditions(decoded: dict[str, object]) -> dict[str, object]:
    context = decoded["context"]
    assert isinstance(context, dict)
    return {item["key"]: item["values"]["items"] for item in context["conditions"]["items"]}


def test_a_cross_account_denial_shows_nothing_of_the_target_organization(world: World) -> None:
    world.runtime.org = _Orgs({B: B_ORG})
    role = world.add_role("Target", doc(trust({"AWS": B})), account=B)
    decoded = _decoded_cross_account_denial(world, role)
    text = json.dumps(decoded)
    assert "o-targetorg01" not in text and "ou-ab12-secret01" not in text
    assert _conditions(decoded)["aws:ResourceAccount"] == [{"value": B}]


def test_the_target_organization_id_is_shown_when_it_is_the_callers_own(world: World) -> None:
    world.runtime.org = _Orgs({A: ("o-targetorg01", ["o-targetorg01/r-ab12/ou-ab12-mine0001/"]), B: B_ORG})
    role = world.add_role("Target", doc(trust({"AWS": B})), account=B)
    conditions = _conditions(_decoded_cross_account_denial(world, role))
    assert conditions["aws:ResourceOrgID"] == conditions["aws:PrincipalOrgID"] == [{"value": "o-targetorg01"}]
    assert "aws:ResourceOrgPaths" not in conditions  # the other account's place in it is not the caller's
    assert conditions["aws:PrincipalOrgPaths"] == [{"value": "o-targetorg01/r-ab12/ou-ab12-mine0001/"}]


def test_a_trust_policy_deny_in_another_account_reads_like_a_role_that_does_not_exist(world: World) -> None:
    world.runtime.org = _Orgs({B: B_ORG})
    denying = world.add_role("Denying", doc({**trust({"AWS": A}), "Effect": "Deny"}), account=B, tags=[("env", "prod")])
    missing = f"arn:aws:iam::{B}:role/Missing"
    first = _decoded_cross_account_denial(world, denying)
    second = _decoded_cross_account_denial(world, missing)
    assert first["explicitDeny"] is False
    assert json.dumps(first).replace("Denying", "Missing") == json.dumps(second)


def test_the_callers_own_resources_keep_their_organization_context(world: World) -> None:
    world.runtime.org = _Orgs({A: B_ORG})
    carol = world.add_user("carol", policies={"no": doc(_deny()), **DECODER})
    with pytest.raises(AccessDenied) as denied:
        world.call(carol, "GetAccessKeyInfo", AccessKeyId=ROOT_KEY)
    ((_, value),) = authorization_message_headers(world.context(carol, "GetAccessKeyInfo"), denied.value)
    decoded = json.loads(world.call(carol, "DecodeAuthorizationMessage", EncodedMessage=value.decode())["DecodedMessage"])
    conditions = _conditions(decoded)
    assert conditions["aws:ResourceOrgPaths"] == [{"value": B_ORG[1][0]}]
    assert decoded["explicitDeny"] is True


def test_the_callers_own_policies_over_the_owners_keys_are_no_oracle(world: World) -> None:
    """The caller's own Deny conditioned on the target role's tag or organization: whether
    it matched would spell the other account's values one guess at a time."""
    world.runtime.org = _Orgs({B: B_ORG})
    probes = {
        "tag": {"StringLike": {"aws:ResourceTag/env": "prod*"}},
        "org": {"StringLike": {"aws:ResourceOrgID": "o-target*"}},
    }
    statements = [
        {"Sid": f"Probe{name}", "Effect": "Deny", "Action": "sts:AssumeRole", "Resource": "*", "Condition": cond}
        for name, cond in probes.items()
    ]
    world.add_user("carol", policies={"p": doc(allow("sts:AssumeRole"), *statements), **DECODER})
    tagged = world.add_role("Tagged", doc(trust({"AWS": B})), account=B, tags=[("env", "prod-eu")])
    untagged = world.add_role("Untagged", doc(trust({"AWS": B})), account=B, tags=[("env", "dev")])
    missing = f"arn:aws:iam::{B}:role/Missing"
    documents = [_decoded_cross_account_denial(world, arn) for arn in (tagged, untagged, missing)]
    assert all(d["explicitDeny"] is False and d["matchedStatements"] == {"items": []} for d in documents)
    texts = [json.dumps(d).replace(name, "X") for d, name in zip(documents, ("Tagged", "Untagged", "Missing"), strict=False)]
    assert texts[0] == texts[1] == texts[2]
