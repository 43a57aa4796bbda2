"""Requests are authorized against the entity they resolve to, never the text they sent.

IAM finds names regardless of ASCII case, so a request may spell a user, role, group or
policy differently from how it is stored; the decision (resource and condition keys such
as ``iam:PolicyARN`` and ``iam:PermissionsBoundary``) must still be made on the stored
ARN, and ARNs IAM would refuse (``arn:AWS:``, other services, non-ASCII look-alikes)
must be refused before anything is looked up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import spellings
from iamhandlers import ACCOUNT, Call, user_arn
from policies import policy as doc
from spellings import case_variants

from tessera.auth.caller import Caller
from tessera.errors import (
    AccessDenied,
    InvalidInputException,
    NoSuchEntityException,
    TesseraError,
    ValidationError,
)
from tessera.services.runtime import Runtime

BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/PermissionsBoundary"
KEEP = f"arn:aws:iam::{ACCOUNT}:policy/Keep"
KELVIN = "\u212a"  # KELVIN SIGN: str.lower() maps it to "k"
LONG_S = "\u017f"  # LATIN SMALL LETTER LONG S: casefolds to "s"


ALLOW_IAM = {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}
ANYTHING = doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})


def refused_spellings(arn: str) -> list[str]:
    return spellings.refused_spellings(arn, ACCOUNT)


@pytest.fixture
def attacker(call: Call, user_with_policy: Callable[[str, str | None], Caller]) -> Caller:
    """A user allowed all of IAM except changing the PermissionsBoundary policy."""
    call("CreatePolicy", PolicyName="PermissionsBoundary", PolicyDocument=ANYTHING)
    call("CreatePolicy", PolicyName="Keep", PolicyDocument=ANYTHING)
    deny = {"Effect": "Deny", "Action": "iam:*", "Resource": [BOUNDARY, KEEP]}
    return user_with_policy("mallory", doc(ALLOW_IAM, deny))


# -- the published attack: rewriting one's own permissions boundary ------------------------
@pytest.mark.parametrize("variant", case_variants(BOUNDARY))
def test_boundary_rewrite_in_another_case_is_denied_on_the_canonical_arn(call: Call, attacker: Caller, variant: str) -> None:
    with pytest.raises(AccessDenied, match=f"on resource: {BOUNDARY}"):
        call("CreatePolicyVersion", caller=attacker, PolicyArn=variant, PolicyDocument=doc(ALLOW_IAM), SetAsDefault=True)
    assert len(call("ListPolicyVersions", PolicyArn=BOUNDARY)["Versions"]) == 1


@pytest.mark.parametrize("variant", refused_spellings(BOUNDARY))
def test_boundary_rewrite_with_a_spelling_iam_refuses_is_invalid_input(call: Call, attacker: Caller, variant: str) -> None:
    with pytest.raises(InvalidInputException, match="is not valid"):
        call("CreatePolicyVersion", caller=attacker, PolicyArn=variant, PolicyDocument=doc(ALLOW_IAM), SetAsDefault=True)
    assert len(call("ListPolicyVersions", PolicyArn=BOUNDARY)["Versions"]) == 1


@pytest.mark.parametrize("variant", [KEEP.replace("Keep", f"{KELVIN}eep"), BOUNDARY.replace("ss", LONG_S * 2)])
def test_unicode_look_alikes_fail_validation(call: Call, attacker: Caller, variant: str) -> None:
    with pytest.raises(ValidationError, match="at 'policyArn' failed to satisfy constraint: Member must satisfy regular expression"):
        call("CreatePolicyVersion", caller=attacker, PolicyArn=variant, PolicyDocument=doc(ALLOW_IAM), SetAsDefault=True)
    assert len(call("ListPolicyVersions", PolicyArn=KEEP)["Versions"]) == 1


# -- every policy operation decides on the stored ARN ------------------------------------
POLICY_OPERATIONS: list[tuple[str, dict[str, Any]]] = [
    ("GetPolicy", {}),
    ("DeletePolicy", {}),
    ("CreatePolicyVersion", {"PolicyDocument": doc(ALLOW_IAM), "SetAsDefault": True}),
    ("GetPolicyVersion", {"VersionId": "v1"}),
    ("ListPolicyVersions", {}),
    ("SetDefaultPolicyVersion", {"VersionId": "v1"}),
    ("DeletePolicyVersion", {"VersionId": "v1"}),
    ("TagPolicy", {"Tags": [{"Key": "k", "Value": "v"}]}),
    ("UntagPolicy", {"TagKeys": ["k"]}),
    ("ListPolicyTags", {}),
    ("ListEntitiesForPolicy", {}),
]


@pytest.mark.parametrize(("operation", "params"), POLICY_OPERATIONS, ids=[op for op, _ in POLICY_OPERATIONS])
@pytest.mark.parametrize("variant", range(3))
def test_policy_operations_are_authorized_on_the_stored_arn(
    call: Call, attacker: Caller, operation: str, params: dict[str, Any], variant: int
) -> None:
    with pytest.raises(AccessDenied, match=f"iam:{operation} on resource: {BOUNDARY}"):
        call(operation, caller=attacker, PolicyArn=case_variants(BOUNDARY)[variant], **params)


# -- condition keys carry the canonical ARN -----------------------------------------------
def _target_user(call: Call) -> None:
    call("CreateUser", UserName="victim")
    call("AttachUserPolicy", UserName="victim", PolicyArn=BOUNDARY)


@pytest.mark.parametrize("variant", case_variants(BOUNDARY))
def test_detach_deny_on_policy_arn_condition_holds_for_any_spelling(
    call: Call, user_with_policy: Callable[[str, str | None], Caller], variant: str
) -> None:
    call("CreatePolicy", PolicyName="PermissionsBoundary", PolicyDocument=ANYTHING)
    _target_user(call)
    deny = {"Effect": "Deny", "Action": "iam:DetachUserPolicy", "Resource": "*", "Condition": {"ArnEquals": {"iam:PolicyARN": BOUNDARY}}}
    mallory = user_with_policy("mallory", doc(ALLOW_IAM, deny))
    with pytest.raises(AccessDenied, match="iam:DetachUserPolicy"):
        call("DetachUserPolicy", caller=mallory, UserName="victim", PolicyArn=variant)
    attached = call("ListAttachedUserPolicies", UserName="victim")["AttachedPolicies"]
    assert [a["PolicyArn"] for a in attached] == [BOUNDARY]


@pytest.mark.parametrize("variant", case_variants(BOUNDARY))
def test_detach_with_another_spelling_detaches_the_stored_attachment(call: Call, variant: str) -> None:
    call("CreatePolicy", PolicyName="PermissionsBoundary", PolicyDocument=ANYTHING)
    _target_user(call)
    call("DetachUserPolicy", UserName="victim", PolicyArn=variant)
    assert call("ListAttachedUserPolicies", UserName="victim")["AttachedPolicies"] == []


@pytest.mark.parametrize("operation", ["AttachUserPolicy", "PutUserPermissionsBoundary", "CreateUser"])
@pytest.mark.parametrize("variant", case_variants(KEEP))
def test_policy_arn_condition_keys_are_canonical(
    call: Call, user_with_policy: Callable[[str, str | None], Caller], operation: str, variant: str
) -> None:
    call("CreatePolicy", PolicyName="Keep", PolicyDocument=ANYTHING)
    call("CreateUser", UserName="victim")
    condition = (
        {"ArnEquals": {"iam:PolicyARN": KEEP}} if operation == "AttachUserPolicy" else {"ArnEquals": {"iam:PermissionsBoundary": KEEP}}
    )
    deny = {"Effect": "Deny", "Action": f"iam:{operation}", "Resource": "*", "Condition": condition}
    mallory = user_with_policy("mallory", doc(ALLOW_IAM, deny))
    params: dict[str, Any]
    if operation == "AttachUserPolicy":
        params = {"UserName": "victim", "PolicyArn": variant}
    elif operation == "PutUserPermissionsBoundary":
        params = {"UserName": "victim", "PermissionsBoundary": variant}
    else:
        params = {"UserName": "newcomer", "PermissionsBoundary": variant}
    with pytest.raises(AccessDenied):
        call(operation, caller=mallory, **params)
    victim = call("GetUser", UserName="victim")["User"]
    assert "PermissionsBoundary" not in victim
    assert call("ListAttachedUserPolicies", UserName="victim")["AttachedPolicies"] == []
    with pytest.raises(NoSuchEntityException):
        call("GetUser", UserName="newcomer")


def test_boundary_condition_allows_the_canonical_policy_in_any_spelling(
    call: Call, user_with_policy: Callable[[str, str | None], Caller]
) -> None:
    """The other direction: an Allow conditioned on the stored ARN matches a request
    that spells it differently (the decision is on the policy, not on the text)."""
    call("CreatePolicy", PolicyName="Keep", PolicyDocument=ANYTHING)
    allow = {"Effect": "Allow", "Action": "iam:CreateUser", "Resource": "*", "Condition": {"ArnEquals": {"iam:PermissionsBoundary": KEEP}}}
    admin = user_with_policy("admin", doc(allow))
    user = call("CreateUser", caller=admin, UserName="newcomer", PermissionsBoundary=KEEP.lower())["User"]
    assert user["PermissionsBoundary"]["PermissionsBoundaryArn"] == KEEP


# -- entity names ------------------------------------------------------------------------
ENTITY_OPERATIONS: list[tuple[str, dict[str, Any]]] = [
    ("GetUser", {}),
    ("UpdateUser", {"NewPath": "/moved/"}),
    ("DeleteUser", {}),
    ("TagUser", {"Tags": [{"Key": "k", "Value": "v"}]}),
    ("UntagUser", {"TagKeys": ["k"]}),
    ("ListUserTags", {}),
    ("PutUserPolicy", {"PolicyName": "p", "PolicyDocument": ANYTHING}),
    ("GetUserPolicy", {"PolicyName": "p"}),
    ("DeleteUserPolicy", {"PolicyName": "p"}),
    ("ListUserPolicies", {}),
    ("AttachUserPolicy", {"PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
    ("DetachUserPolicy", {"PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
    ("ListAttachedUserPolicies", {}),
    ("PutUserPermissionsBoundary", {"PermissionsBoundary": "arn:aws:iam::aws:policy/AdministratorAccess"}),
    ("DeleteUserPermissionsBoundary", {}),
    ("CreateAccessKey", {}),
    ("ListAccessKeys", {}),
    ("ListGroupsForUser", {}),
    ("ListMFADevices", {}),
]


@pytest.mark.parametrize(("operation", "params"), ENTITY_OPERATIONS, ids=[op for op, _ in ENTITY_OPERATIONS])
@pytest.mark.parametrize("spelling", ["admin", "ADMIN", "aDmIn"])
def test_user_operations_are_authorized_on_the_stored_arn(
    call: Call, user_with_policy: Callable[[str, str | None], Caller], operation: str, params: dict[str, Any], spelling: str
) -> None:
    call("CreateUser", UserName="Admin", Path="/ops/")
    deny = {"Effect": "Deny", "Action": "iam:*", "Resource": user_arn("Admin", "/ops/")}
    mallory = user_with_policy("mallory", doc(ALLOW_IAM, deny))
    with pytest.raises(AccessDenied, match=f"on resource: {user_arn('Admin', '/ops/')}"):
        call(operation, caller=mallory, UserName=spelling, **params)


@pytest.mark.parametrize("operation", ["GetUser", "DeleteUser", "CreateAccessKey"])
def test_names_with_unicode_look_alikes_do_not_reach_ascii_users(call: Call, runtime: Runtime, operation: str) -> None:
    """A name no user can hold (the model's pattern is ASCII) finds no user, even where
    ``str.lower`` would fold it onto one (KELVIN SIGN → k)."""
    call("CreateUser", UserName="kim")
    with pytest.raises(NoSuchEntityException):
        call(operation, UserName=f"{KELVIN}im")
    assert runtime.view.account(ACCOUNT).user(f"{KELVIN}im") is None  # type: ignore[union-attr]


def test_refused_spellings_never_reach_a_handler_body(call: Call) -> None:
    call("CreatePolicy", PolicyName="PermissionsBoundary", PolicyDocument=ANYTHING)
    for variant in refused_spellings(BOUNDARY):
        for operation, params in POLICY_OPERATIONS:
            with pytest.raises(TesseraError) as error:
                call(operation, PolicyArn=variant, **params)
            assert isinstance(error.value, InvalidInputException), (operation, variant)
    assert call("GetPolicy", PolicyArn=BOUNDARY)["Policy"]["DefaultVersionId"] == "v1"
