"""The pieces canonical resolution is built from: one name key, strict IAM ARN parsing,
and a write that checks it changes the entity that was authorized."""

from __future__ import annotations

import pytest
from iamhandlers import ACCOUNT, Call, user_arn, user_caller
from test_canonical_resolution import BOUNDARY, KELVIN, LONG_S, refused_spellings

from tessera.arn import ArnError, parse_iam_arn
from tessera.clock import FixedClock
from tessera.errors import ConcurrentModificationException
from tessera.services.iam.entities import USER, require_target, resolve
from tessera.services.request import OperationContext, RequestInfo
from tessera.services.runtime import Runtime
from tessera.services.view import name_key


# -- the one key function -------------------------------------------------------------
def test_name_key_folds_ascii_letters_only() -> None:
    assert name_key("PermissionsBoundary") == "permissionsboundary"
    assert name_key(f"{KELVIN}eep") == f"{KELVIN}eep"  # str.lower() would give "keep"
    assert name_key(f"Permi{LONG_S}{LONG_S}ionsBoundary") != name_key("PermissionsBoundary")
    assert name_key("\u00c9") == "\u00c9"


# -- strict ARN parsing ---------------------------------------------------------------
def test_parse_iam_arn_accepts_what_iam_accepts() -> None:
    arn, kind, path, name = parse_iam_arn(f"arn:aws:iam::{ACCOUNT}:policy/a/b/Name", ("policy",))
    assert (arn.account, kind, path, name) == (ACCOUNT, "policy", "/a/b/", "Name")
    assert parse_iam_arn("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess", ("policy",), aws_account=True)[3] == "ViewOnlyAccess"


@pytest.mark.parametrize(
    "text",
    [
        *refused_spellings(BOUNDARY),
        f"arn:aws:iam::{ACCOUNT}:policy/",
        f"arn:aws:iam::{ACCOUNT}:policy//x",
        f"arn:aws:iam::{ACCOUNT}:policy/a//x",
        f"arn:aws:iam::{ACCOUNT}:policy/a/",
        f"arn:aws:iam::{ACCOUNT}:policy",
        f"arn:aws:iam::{ACCOUNT}",
        f"xrn:aws:iam::{ACCOUNT}:policy/x",
        f"arn:aws:iam:us-east-1:{ACCOUNT}:policy/x",
        f"arn:aws:iam::{ACCOUNT}:user/x",
        "arn:aws:iam::aws:policy/AdministratorAccess",
        f"arn:aws:sts::{ACCOUNT}:policy/x",
        f"arn:aws:iam::{ACCOUNT}:policy/\u00e9",
    ],
)
def test_parse_iam_arn_refuses_what_iam_refuses(text: str) -> None:
    with pytest.raises(ArnError) as error:
        parse_iam_arn(text, ("policy",))
    assert not error.value.pattern


@pytest.mark.parametrize("char", [KELVIN, LONG_S, "\u0130", "\uff41"])
def test_characters_outside_arn_type_fail_the_model_pattern(char: str) -> None:
    with pytest.raises(ArnError) as error:
        parse_iam_arn(f"arn:aws:iam::{ACCOUNT}:policy/{char}eep", ("policy",))
    assert error.value.pattern


# -- the write checks it writes what was authorized ---------------------------------------
def test_write_refuses_an_entity_changed_since_authorization(call: Call, runtime: Runtime, clock: FixedClock) -> None:
    call("CreateUser", UserName="bob")
    info = RequestInfo("req-1", clock.now(), "127.0.0.1", "pytest", "us-east-1")
    ctx = OperationContext(runtime, user_caller(runtime, "bob"), info)
    target = resolve(ctx, USER, "BOB")
    assert (target.name, target.arn) == ("bob", user_arn("bob"))
    call("UpdateUser", UserName="bob", NewPath="/elsewhere/")  # between authorization and write
    with pytest.raises(ConcurrentModificationException), runtime.store.write(ACCOUNT) as tx:
        require_target(tx, ACCOUNT, target)


def test_write_refuses_an_entity_created_since_an_absent_target_was_authorized(call: Call, runtime: Runtime, clock: FixedClock) -> None:
    call("CreateUser", UserName="alice")
    info = RequestInfo("req-2", clock.now(), "127.0.0.1", "pytest", "us-east-1")
    ctx = OperationContext(runtime, user_caller(runtime, "alice"), info)
    target = resolve(ctx, USER, "bob")  # absent: authorized on the path-/ ARN, without bob's tags
    assert not target.exists
    call("CreateUser", UserName="bob", Tags=[{"Key": "protected", "Value": "true"}])  # created meanwhile
    with pytest.raises(ConcurrentModificationException), runtime.store.write(ACCOUNT) as tx:
        require_target(tx, ACCOUNT, target)


@pytest.mark.parametrize(
    "change",
    [
        lambda call: call("TagUser", UserName="bob", Tags=[{"Key": "protected", "Value": "true"}]),
        lambda call: call("PutUserPermissionsBoundary", UserName="bob", PermissionsBoundary="arn:aws:iam::aws:policy/ReadOnlyAccess"),
    ],
    ids=["tags", "boundary"],
)
def test_write_refuses_an_entity_whose_condition_keys_changed_since_authorization(
    call: Call, runtime: Runtime, clock: FixedClock, change: object
) -> None:
    call("CreateUser", UserName="bob")
    info = RequestInfo("req-3", clock.now(), "127.0.0.1", "pytest", "us-east-1")
    ctx = OperationContext(runtime, user_caller(runtime, "bob"), info)
    target = resolve(ctx, USER, "bob")
    change(call)  # type: ignore[operator]
    with pytest.raises(ConcurrentModificationException), runtime.store.write(ACCOUNT) as tx:
        require_target(tx, ACCOUNT, target)


def test_write_accepts_the_entity_that_was_authorized(call: Call, runtime: Runtime, clock: FixedClock) -> None:
    call("CreateUser", UserName="bob", Tags=[{"Key": "team", "Value": "a"}])
    info = RequestInfo("req-4", clock.now(), "127.0.0.1", "pytest", "us-east-1")
    ctx = OperationContext(runtime, user_caller(runtime, "bob"), info)
    target = resolve(ctx, USER, "bob")
    with runtime.store.write(ACCOUNT) as tx:
        assert require_target(tx, ACCOUNT, target)["name"] == "bob"
