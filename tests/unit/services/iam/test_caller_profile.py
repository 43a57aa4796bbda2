"""``authorization.CallerProfile``: what authorization derives from a caller once per
account state is never older than the state a request reads. Every write to the account
installs a new state, and the new state has no profiles: a changed tag, policy or
boundary decides the very next request."""

from __future__ import annotations

import datetime as dt
import gc
import json
import weakref
from collections.abc import Callable

import pytest
from iamhandlers import ACCOUNT, Call, user_arn

from tessera.auth.caller import Caller, SessionClaims
from tessera.errors import AccessDenied
from tessera.services import authorization
from tessera.services.credentials import credential_resolver
from tessera.services.request import OperationContext
from tessera.services.request_info import RequestInfo
from tessera.services.runtime import Runtime
from tessera.services.sts.identity import session_caller

BLUE_ONLY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}}
        ],
    }
)
NOTHING = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}]})


@pytest.fixture
def alice(call: Call, user_with_policy: Callable[[str, str | None], Caller]) -> Caller:
    caller = user_with_policy("alice", BLUE_ONLY)
    call("TagUser", UserName="alice", Tags=[{"Key": "team", "Value": "blue"}])
    return caller


def test_a_profile_is_kept_until_the_account_is_written(runtime: Runtime, call: Call, alice: Caller) -> None:
    first = authorization.caller_profile(runtime, alice)
    assert authorization.caller_profile(runtime, alice) is first
    assert first.tags == {"team": "blue"}
    call("TagUser", UserName="alice", Tags=[{"Key": "team", "Value": "red"}])
    second = authorization.caller_profile(runtime, alice)
    assert second is not first
    assert second.tags == {"team": "red"}


def test_a_changed_tag_decides_the_next_request(runtime: Runtime, call: Call, alice: Caller) -> None:
    assert call("GetUser", caller=alice, UserName="alice")["User"]["UserName"] == "alice"
    call("TagUser", UserName="alice", Tags=[{"Key": "team", "Value": "red"}])
    with pytest.raises(AccessDenied):
        call("GetUser", caller=alice, UserName="alice")
    call("TagUser", UserName="alice", Tags=[{"Key": "team", "Value": "blue"}])
    assert call("GetUser", caller=alice, UserName="alice")["User"]["Arn"] == user_arn("alice")


def test_a_changed_policy_or_boundary_decides_the_next_request(runtime: Runtime, call: Call, alice: Caller) -> None:
    call("GetUser", caller=alice, UserName="alice")
    call("PutUserPolicy", UserName="alice", PolicyName="inline", PolicyDocument=NOTHING)
    with pytest.raises(AccessDenied):
        call("GetUser", caller=alice, UserName="alice")
    call("PutUserPolicy", UserName="alice", PolicyName="inline", PolicyDocument=BLUE_ONLY)
    call("GetUser", caller=alice, UserName="alice")
    boundary = call("CreatePolicy", PolicyName="list-only", PolicyDocument=NOTHING)["Policy"]["Arn"]
    call("PutUserPermissionsBoundary", UserName="alice", PermissionsBoundary=boundary)
    with pytest.raises(AccessDenied):
        call("GetUser", caller=alice, UserName="alice")


def test_the_context_and_policies_are_those_derived_afresh(runtime: Runtime, call: Call, alice: Caller) -> None:
    """A profile's parts equal what a profile built now from the account's state holds."""
    call("GetUser", caller=alice, UserName="alice")
    kept = authorization.caller_profile(runtime, alice)
    fresh = authorization.CallerProfile(runtime, alice, runtime.view.account(ACCOUNT))
    assert (kept.head, kept.tail, kept.session_tail, kept.tags) == (fresh.head, fresh.tail, fresh.session_tail, fresh.tags)
    assert (kept.identity, kept.boundary, kept.session) == (fresh.identity, fresh.boundary, fresh.session)
    assert kept.principal == fresh.principal


def _session(runtime: Runtime, call: Call, index: int, *, policy: str | None) -> Caller:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}
    role = runtime.view.account(ACCOUNT).role("holder")  # type: ignore[union-attr]
    if role is None:
        call("CreateRole", RoleName="holder", AssumeRolePolicyDocument=json.dumps(trust))
        role = runtime.view.account(ACCOUNT).role("holder")  # type: ignore[union-attr]
    assert role is not None
    now = runtime.clock.now()
    claims = SessionClaims(
        kind="assumed-role",
        access_key_id=f"ASIA{index:016d}",
        secret_access_key="s" * 40,
        account=ACCOUNT,
        issued_at=now,
        expires_at=now + dt.timedelta(hours=1),
        session_name=f"s{index}",
        role_arn=role["arn"],
        role_id=role["id"],
        role_name="holder",
        session_policies=() if policy is None else (policy,),
    )
    return session_caller(claims)


def test_a_session_with_an_inline_session_policy_keeps_no_profile(runtime: Runtime, call: Call) -> None:
    """Its compiled session policy stays bounded by the policy cache's bytes alone: a
    flood of sessions, each with its own policy, keeps nothing per session here."""
    plain = _session(runtime, call, 1, policy=None)
    narrowed = _session(runtime, call, 2, policy=NOTHING)
    assert authorization.caller_profile(runtime, plain) is authorization.caller_profile(runtime, plain)
    profile = authorization.caller_profile(runtime, narrowed)
    assert profile.session and authorization.caller_profile(runtime, narrowed) is not profile
    kept = runtime.view.account(ACCOUNT).caller_profiles  # type: ignore[union-attr]
    assert plain in kept and narrowed not in kept


def test_profiles_of_one_state_are_bounded(runtime: Runtime, call: Call) -> None:
    callers = [_session(runtime, call, i, policy=None) for i in range(authorization.MAX_CALLER_PROFILES)]
    for caller in callers:
        authorization.caller_profile(runtime, caller)
    assert len(runtime.view.account(ACCOUNT).caller_profiles) <= authorization.MAX_CALLER_PROFILES  # type: ignore[union-attr]


def test_a_replaced_state_is_not_kept_alive_by_the_credential_resolver(runtime: Runtime, call: Call) -> None:
    call("CreateUser", UserName="keyed")
    key = call("CreateAccessKey", UserName="keyed")["AccessKey"]["AccessKeyId"]
    resolver = credential_resolver(runtime)
    resolver.resolve(key, None)
    replaced = weakref.ref(runtime.view.account(ACCOUNT))  # type: ignore[arg-type]
    call("TagUser", UserName="keyed", Tags=[{"Key": "t", "Value": "v"}])
    gc.collect()
    assert replaced() is None
    assert resolver.resolve(key, None).caller.name == "keyed"  # and the answer follows the new state


@pytest.mark.parametrize("kind", ["user", "session"])
def test_the_base_context_is_the_profile_and_the_request_keys_in_order(runtime: Runtime, call: Call, alice: Caller, kind: str) -> None:
    """``base_context`` sets the request's keys in place: the same keys, values and order
    as the profile's head, ``_request_keys`` and the profile's tail merged."""
    caller = alice if kind == "user" else _session(runtime, call, 7, policy=None)
    info = RequestInfo("req-1", runtime.clock.now(), "::ffff:10.0.0.1", "agent " * 300, "eu-west-1", secure_transport=True)
    ctx = OperationContext(runtime, caller, info)
    profile = authorization.caller_profile(runtime, caller)
    expected: dict[str, object] = {**profile.head, **authorization._request_keys(info), **profile.tail}
    if profile.mfa_auth_time is not None:
        expected["aws:MultiFactorAuthAge"] = max(0, int((info.received_at - profile.mfa_auth_time).total_seconds()))
    expected.update(profile.session_tail)
    assert list(authorization.base_context(ctx).items()) == list(expected.items())
