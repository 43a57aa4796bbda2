"""AssumeRole answers a caller the role's account does not trust the same way whatever
exists in that account: the role itself, its tags, or the managed policies named in
PolicyArns."""

from __future__ import annotations

from pathlib import Path

import pytest
from sts_world import A, B, World, allow, doc, trust

from tessera.auth.caller import Caller
from tessera.errors import TesseraError


@pytest.fixture
def world(tmp_path: Path) -> World:
    world = World(tmp_path)
    world.add_account(B)
    return world


def _refusal(world: World, role_arn: str, **params: object) -> tuple[str, str]:
    carol = world.runtime.view.account(A).user("carol")  # type: ignore[union-attr]
    if carol is None:
        caller = world.add_user("carol", policies={"p": doc(allow("sts:AssumeRole"))})
    else:
        caller = Caller("user", A, carol["arn"], carol["id"], "carol", "AKIA" + carol["id"][4:20])
    with pytest.raises(TesseraError) as refused:
        world.call(caller, "AssumeRole", RoleArn=role_arn, RoleSessionName="s", **params)
    return refused.value.code, refused.value.message


@pytest.mark.parametrize("role_exists", [True, False], ids=["existing-role", "missing-role"])
def test_policy_arns_of_the_role_account_are_not_probed_before_authorization(world: World, role_exists: bool) -> None:
    existing = world.add_managed_policy("Exists", doc(allow("s3:*")), account=B)
    role = world.add_role("R", doc(trust({"AWS": B})), account=B) if role_exists else f"arn:aws:iam::{B}:role/R"
    missing = f"arn:aws:iam::{B}:policy/DoesNotExist"
    with_existing = _refusal(world, role, PolicyArns=[{"arn": existing}])
    with_missing = _refusal(world, role, PolicyArns=[{"arn": missing}])
    code, message = with_existing
    assert code == "AccessDenied" and message.endswith(f"on resource: {role}")
    assert with_missing == with_existing


def test_a_trusted_caller_still_learns_that_a_policy_arn_does_not_exist(world: World) -> None:
    role = world.add_role("R", doc(trust({"AWS": A})), account=B)
    code, message = _refusal(world, role, PolicyArns=[{"arn": f"arn:aws:iam::{B}:policy/DoesNotExist"}])
    assert code == "MalformedPolicyDocument" and "does not exist" in message


def test_existing_and_missing_roles_are_refused_alike(world: World) -> None:
    existing = world.add_role("R", doc(trust({"AWS": B})), account=B, tags=[("env", "prod")])
    missing = f"arn:aws:iam::{B}:role/Missing"
    first, second = _refusal(world, existing), _refusal(world, missing)
    assert first[0] == second[0] == "AccessDenied"
    assert first[1].replace(existing, "ROLE") == second[1].replace(missing, "ROLE")
