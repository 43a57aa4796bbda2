"""The pieces canonical resolution is built from: one name key, strict IAM ARN parsing,
and a write that checks it changes the entity that was authorized."""

from __future__ import annotations

import pytest
from conftest import ACCOUNT, Call, user_arn, user_caller
from test_canonical_resolution import BOUNDARY, KELVIN, LONG_S, refused_spellings

from tessera.arn import ArnError, parse_iam_arn
from tessera.clock import FixedClock
from tessera.errors import ConcurrentModificationException
from tessera.services.context import OperationContext, RequestInfo
from tessera.services.iam.entities import USER, require_target, resolve
from tessera.services.runtime import Runtime
from tessera.services.state import name_key


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


@pytest.mark.parametrize("text", [*refused_spellings(BOUNDARY), f"arn:aws:iam::{ACCOUNT}:policy/", f"arn:aws:iam::{ACCOUNT}:policy//x",
                                  "arn:aws:iam::aws:policy/AdministratorAccess", f"arn:aws:sts::{ACCOUNT}:policy/x",
                                  f"arn:aws:iam::{ACCOUNT}:policy/\u00e9"])
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
    with pytest.raises(ConcurrentModificationException):
        with runtime.store.write(ACCOUNT) as tx:
            require_target(tx, ACCOUNT, target)
