"""``authorization.CallerProfile``: what authorization derives from a caller once per
account state is never older than the state a request reads. Every write to the account
installs a new state, and the new state has no profiles: a changed tag, policy or
boundary decides the very next request."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from iamhandlers import ACCOUNT, Call, user_arn

from tessera.auth.caller import Caller
from tessera.errors import AccessDenied
from tessera.services import authorization
from tessera.services.runtime import Runtime

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
