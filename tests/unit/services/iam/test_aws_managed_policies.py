"""Every AWS managed policy through the IAM handlers: found by ARN (with its path, in any
ASCII case of path and name), listed and paged across the full set, counted per account,
attached and detached, and evaluated like a customer policy."""

from __future__ import annotations

import json
from typing import Any

import pytest
from iamhandlers import ACCOUNT, Call

from tessera.errors import AccessDenied, InvalidInputException, NoSuchEntityException
from tessera.policy import PolicyType
from tessera.services.runtime import Runtime

VIEW_ONLY = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"
LAMBDA_BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
IAM_READ = "arn:aws:iam::aws:policy/IAMReadOnlyAccess"


def pages(call: Call, operation: str, member: str, **params: Any) -> tuple[list[Any], int]:
    """Every item of a paginated listing, and the number of pages it took."""
    items: list[Any] = []
    count = 0
    marker: str | None = None
    while True:
        out = call(operation, **params, **({"Marker": marker} if marker else {}))
        count += 1
        items += out[member]
        if not out["IsTruncated"]:
            assert "Marker" not in out
            return items, count
        marker = out["Marker"]


def test_scope_aws_pages_through_exactly_the_shipped_set(call: Call, runtime: Runtime) -> None:
    shipped = [str(p["arn"]) for p in runtime.view.managed.all()]
    listed, count = pages(call, "ListPolicies", "Policies", Scope="AWS", MaxItems=300)
    assert [p["Arn"] for p in listed] == shipped
    assert count == -(-len(shipped) // 300)
    default_page = call("ListPolicies", Scope="AWS")
    assert len(default_page["Policies"]) == 100 and default_page["IsTruncated"]


def test_scope_all_merges_customer_policies_into_the_aws_order(call: Call, runtime: Runtime) -> None:
    document = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    for name in ("AAAFirst", "mmm-middle", "zzz-last"):
        call("CreatePolicy", PolicyName=name, PolicyDocument=document)
    listed, _ = pages(call, "ListPolicies", "Policies", MaxItems=97)
    names = [p["PolicyName"] for p in listed]
    assert len(names) == len(runtime.view.managed) + 3
    keys = [f"{p['PolicyName'].lower()}|{p['Arn']}" for p in listed]
    assert keys == sorted(keys)
    local, _ = pages(call, "ListPolicies", "Policies", Scope="Local", MaxItems=2)
    assert [p["PolicyName"] for p in local] == ["AAAFirst", "mmm-middle", "zzz-last"]


def test_path_prefix_selects_aws_policies_by_their_path(call: Call, runtime: Runtime) -> None:
    listed, _ = pages(call, "ListPolicies", "Policies", Scope="AWS", PathPrefix="/job-function/", MaxItems=4)
    expected = [p["arn"] for p in runtime.view.managed.all() if p["path"] == "/job-function/"]
    assert [p["Arn"] for p in listed] == expected and VIEW_ONLY in expected
    assert all(p["Path"] == "/job-function/" for p in listed)
    roles, _ = pages(call, "ListPolicies", "Policies", Scope="AWS", PathPrefix="/service-role/", MaxItems=1000)
    assert LAMBDA_BASIC in {p["Arn"] for p in roles}


def test_get_policy_and_versions_of_a_policy_with_a_path(call: Call) -> None:
    policy = call("GetPolicy", PolicyArn=VIEW_ONLY)["Policy"]
    assert (policy["PolicyName"], policy["Path"], policy["Arn"]) == ("ViewOnlyAccess", "/job-function/", VIEW_ONLY)
    assert policy["PolicyId"].startswith("ANPA") and policy["AttachmentCount"] == 0 and policy["IsAttachable"]
    default = call("GetPolicyVersion", PolicyArn=VIEW_ONLY, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    assert default["IsDefaultVersion"] and "Statement" in json.loads(default["Document"])
    versions, _ = pages(call, "ListPolicyVersions", "Versions", PolicyArn=VIEW_ONLY, MaxItems=10)
    ids = [v["VersionId"] for v in versions]
    assert ids[0] == policy["DefaultVersionId"] and "v1" in ids and len(ids) > 10
    assert [v["IsDefaultVersion"] for v in versions].count(True) == 1
    assert all("Document" not in v for v in versions)
    first = call("GetPolicyVersion", PolicyArn=VIEW_ONLY, VersionId="v1")["PolicyVersion"]
    assert not first["IsDefaultVersion"] and first["Document"] != default["Document"]
    with pytest.raises(NoSuchEntityException):
        call("GetPolicyVersion", PolicyArn=VIEW_ONLY, VersionId="v9999")


def test_arn_spelling_rules(call: Call) -> None:
    canonical = call("GetPolicy", PolicyArn="arn:aws:iam::aws:policy/JOB-FUNCTION/viewonlyaccess")["Policy"]
    assert canonical["Arn"] == VIEW_ONLY  # reported (and authorized) as AWS spells it
    with pytest.raises(NoSuchEntityException):
        call("GetPolicy", PolicyArn="arn:aws:iam::aws:policy/AWSLambdaBasicExecutionRole")  # without its path
    with pytest.raises(NoSuchEntityException):
        call("AttachRolePolicy", RoleName="nobody", PolicyArn="arn:aws:iam::aws:policy/service-role/NoSuchThing")
    with pytest.raises(InvalidInputException):
        call("GetPolicy", PolicyArn="arn:aws:iam::AWS:policy/AdministratorAccess")


def test_attachment_counts_follow_attach_and_detach(call: Call, runtime: Runtime) -> None:
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
        }
    )
    call("CreateRole", RoleName="fn", AssumeRolePolicyDocument=trust)
    call("CreateUser", UserName="u")
    call("CreateGroup", GroupName="g")

    def count(arn: str) -> tuple[int, int]:
        policy = call("GetPolicy", PolicyArn=arn)["Policy"]
        return policy["AttachmentCount"], policy["PermissionsBoundaryUsageCount"]

    call("AttachRolePolicy", RoleName="fn", PolicyArn="arn:aws:iam::aws:policy/service-role/awslambdabasicexecutionrole")
    call("AttachUserPolicy", UserName="u", PolicyArn=LAMBDA_BASIC)
    call("AttachGroupPolicy", GroupName="g", PolicyArn=LAMBDA_BASIC)
    call("PutUserPermissionsBoundary", UserName="u", PermissionsBoundary=VIEW_ONLY)
    assert count(LAMBDA_BASIC) == (3, 0) and count(VIEW_ONLY) == (0, 1)
    attached = call("ListAttachedRolePolicies", RoleName="fn")["AttachedPolicies"]
    assert attached == [{"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": LAMBDA_BASIC}]
    entities = call("ListEntitiesForPolicy", PolicyArn=LAMBDA_BASIC)
    assert [r["RoleName"] for r in entities["PolicyRoles"]] == ["fn"]
    assert [u["UserName"] for u in entities["PolicyUsers"]] == ["u"] and [g["GroupName"] for g in entities["PolicyGroups"]] == ["g"]
    boundary = call("ListEntitiesForPolicy", PolicyArn=VIEW_ONLY, PolicyUsageFilter="PermissionsBoundary")
    assert [u["UserName"] for u in boundary["PolicyUsers"]] == ["u"]

    only, _ = pages(call, "ListPolicies", "Policies", Scope="AWS", OnlyAttached=True)
    assert [(p["Arn"], p["AttachmentCount"]) for p in only] == [(LAMBDA_BASIC, 3), (VIEW_ONLY, 0)]
    bounds, _ = pages(call, "ListPolicies", "Policies", Scope="AWS", PolicyUsageFilter="PermissionsBoundary")
    assert [p["Arn"] for p in bounds] == [VIEW_ONLY]
    perms, _ = pages(call, "ListPolicies", "Policies", PolicyUsageFilter="PermissionsPolicy", MaxItems=1)
    assert [p["Arn"] for p in perms] == [LAMBDA_BASIC]

    call("DetachRolePolicy", RoleName="fn", PolicyArn=LAMBDA_BASIC)
    call("DetachGroupPolicy", GroupName="g", PolicyArn=LAMBDA_BASIC)
    call("DeleteUserPermissionsBoundary", UserName="u")
    assert count(LAMBDA_BASIC) == (1, 0) and count(VIEW_ONLY) == (0, 0)
    call("DetachUserPolicy", UserName="u", PolicyArn=LAMBDA_BASIC)
    assert count(LAMBDA_BASIC) == (0, 0)
    assert pages(call, "ListPolicies", "Policies", Scope="AWS", OnlyAttached=True)[0] == []


def test_account_authorization_details_lists_used_aws_policies_with_their_default_version(call: Call) -> None:
    call("CreateUser", UserName="u")
    call("AttachUserPolicy", UserName="u", PolicyArn=VIEW_ONLY)
    details = call("GetAccountAuthorizationDetails", Filter=["AWSManagedPolicy"])
    assert [p["Arn"] for p in details["Policies"]] == [VIEW_ONLY]
    policy = details["Policies"][0]
    assert policy["AttachmentCount"] == 1 and policy["Path"] == "/job-function/"
    (version,) = policy["PolicyVersionList"]
    assert version["VersionId"] == policy["DefaultVersionId"] and version["IsDefaultVersion"]
    assert version["Document"] == call("GetPolicyVersion", PolicyArn=VIEW_ONLY, VersionId=version["VersionId"])["PolicyVersion"]["Document"]


def test_an_attached_aws_policy_decides_like_a_customer_policy(call: Call, runtime: Runtime, user_with_policy: Any) -> None:
    caller = user_with_policy("viewer")
    call("CreateUser", UserName="other")
    with pytest.raises(AccessDenied):
        call("ListUsers", caller=caller)
    call("AttachUserPolicy", UserName="viewer", PolicyArn=VIEW_ONLY)
    assert {u["UserName"] for u in call("ListUsers", caller=caller)["Users"]} == {"viewer", "other"}
    with pytest.raises(AccessDenied):
        call("CreateUser", caller=caller, UserName="nope")
    assert runtime.view.account(ACCOUNT).user("nope") is None  # type: ignore[union-attr]
    call("AttachUserPolicy", UserName="viewer", PolicyArn=IAM_READ)
    assert call("GetUser", caller=caller, UserName="other")["User"]["UserName"] == "other"


def test_aws_policies_stay_read_only(call: Call) -> None:
    for operation, extra in (
        ("DeletePolicy", {}),
        ("CreatePolicyVersion", {"PolicyDocument": json.dumps({"Version": "2012-10-17", "Statement": []})}),
        ("SetDefaultPolicyVersion", {"VersionId": "v1"}),
        ("DeletePolicyVersion", {"VersionId": "v1"}),
        ("TagPolicy", {"Tags": [{"Key": "k", "Value": "v"}]}),
    ):
        with pytest.raises(InvalidInputException):
            call(operation, PolicyArn=VIEW_ONLY, **extra)
    assert call("ListPolicyTags", PolicyArn=VIEW_ONLY)["Tags"] == []


def test_documents_are_compiled_only_when_used(call: Call, runtime: Runtime, user_with_policy: Any) -> None:
    """Start-up compiles no AWS managed policy; attaching one and using it compiles that one."""
    view_only_text = runtime.view.managed.document(VIEW_ONLY)
    assert view_only_text is not None
    compiled_before = len(runtime.view.policies)
    assert compiled_before < 10  # the ~1,600 shipped documents are not among them
    caller = user_with_policy("lazy")
    call("AttachUserPolicy", UserName="lazy", PolicyArn=VIEW_ONLY)
    call("ListUsers", caller=caller)
    assert len(runtime.view.policies) - compiled_before <= 3
    account = runtime.view.account(ACCOUNT)
    assert account is not None
    (policy,) = runtime.view.identity_policies(account, "user", "lazy")
    assert policy is runtime.view.policies.get(view_only_text, PolicyType.IDENTITY, VIEW_ONLY)
