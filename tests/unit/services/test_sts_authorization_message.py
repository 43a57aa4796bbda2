"""Encoded authorization-failure messages and DecodeAuthorizationMessage (sts.md §5.5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sts_world import A, B, ROOT_KEY, World, allow, doc, trust

from tessera.errors import AccessDenied, InvalidAuthorizationMessageException
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


def test_decoding_needs_permission(world: World) -> None:
    _, encoded = _denial(world)
    nobody = world.add_user("nobody")
    with pytest.raises(AccessDenied):
        world.call(nobody, "DecodeAuthorizationMessage", EncodedMessage=encoded)


def test_another_account_cannot_decode(world: World) -> None:
    _, encoded = _denial(world)
    with pytest.raises(InvalidAuthorizationMessageException):
        world.call(world.root(B), "DecodeAuthorizationMessage", EncodedMessage=encoded)


@pytest.mark.parametrize("mangle", [lambda m: m[:-4] + "AAAA", lambda m: "x" + m, lambda m: "!!!"], ids=["tampered", "shifted", "garbage"])
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
