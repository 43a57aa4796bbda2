"""What each reader of ARNs accepts and refuses, pinned before they shared ``tessera.arn``.

Every case here is the behaviour the reader had when it split ARNs by hand; the shared
parser must keep all of them (including the lenient ones: a reader that never checked
the ``arn`` prefix still does not)."""

from __future__ import annotations

import argparse

import pytest
from iamhandlers import ACCOUNT, NOW, Call, root_caller

from tessera.cli.policy import _request
from tessera.cli.sts import _role_name
from tessera.errors import InvalidInputException, ValidationError
from tessera.services.iam.roles import _principal_exists
from tessera.services.iam.simulate import _account_of_arn, _caller_principal
from tessera.services.request import OperationContext, RequestInfo
from tessera.services.runtime import Runtime
from tessera.services.sts.assume_role import _parse_role_arn
from tessera.services.trust import _current_id

OTHER = "999999999999"
TRUST = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'


@pytest.fixture
def ids(call: Call) -> dict[str, str]:
    alice = call("CreateUser", UserName="alice")["User"]["UserId"]
    bob = call("CreateUser", UserName="bob", Path="/team/")["User"]["UserId"]
    r1 = call("CreateRole", RoleName="r1", AssumeRolePolicyDocument=TRUST)["Role"]["RoleId"]
    call("CreateGroup", GroupName="g")
    return {"alice": alice, "bob": bob, "r1": r1}


# -- services/trust.py: the unique id of the user or role an ARN names now ------------------
@pytest.mark.parametrize(
    ("arn", "who"),
    [
        (f"arn:aws:iam::{ACCOUNT}:user/alice", "alice"),
        (f"arn:aws:iam::{ACCOUNT}:user/team/bob", "bob"),
        (f"arn:aws:iam::{ACCOUNT}:role/r1", "r1"),
        (f"arn:aws:iam::{ACCOUNT}:user/bob", None),  # path differs from the stored one
        (f"arn:aws:iam::{ACCOUNT}:user/x/alice", None),
        (f"arn:aws:iam::{ACCOUNT}:user/ALICE", None),
        (f"arn:aws:iam::{ACCOUNT}:role/alice", None),
        (f"arn:aws:iam::{ACCOUNT}:group/g", None),
        (f"arn:aws:iam::{ACCOUNT}:user", None),
        (f"arn:aws:iam::{ACCOUNT}:user/", None),
        (f"arn:aws:iam::{ACCOUNT}:root", None),
        (f"arn:aws:iam::{OTHER}:user/alice", None),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/r1/s", None),
        (f"xrn:aws:iam::{ACCOUNT}:user/alice", None),
        (f"arn:aws:iam::{ACCOUNT}", None),
        ("alice", None),
        ("", None),
    ],
)
def test_trust_current_id(runtime: Runtime, ids: dict[str, str], arn: str, who: str | None) -> None:
    assert _current_id(runtime.view, arn) == (ids[who] if who else None)


# -- services/iam/roles.py: a trust policy may name only users and roles that exist --------
@pytest.mark.parametrize(
    ("arn", "exists"),
    [
        (f"arn:aws:iam::{ACCOUNT}:user/alice", True),
        (f"arn:aws:iam::{ACCOUNT}:user/team/bob", True),
        (f"arn:aws:iam::{ACCOUNT}:role/r1", True),
        (f"arn:aws:iam::{ACCOUNT}:user/nobody", False),
        (f"arn:aws:iam::{ACCOUNT}:user/bob", False),
        (f"arn:aws:iam::{ACCOUNT}:role/nobody", False),
        (f"arn:aws:iam::{ACCOUNT}:role/alice", False),
        (f"arn:aws-cn:iam::{ACCOUNT}:user/alice", False),  # the stored ARN is in partition aws
        (f"arn:aws:iam::{ACCOUNT}:user/*", True),  # wildcards are not looked up
        (f"arn:aws:iam::{ACCOUNT}:role/r?", True),
        (f"arn:aws:iam::{OTHER}:user/nobody", True),  # an account this server does not hold
        (f"arn:aws:iam::{ACCOUNT}:group/g", True),
        (f"arn:aws:iam::{ACCOUNT}:root", True),
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/nobody/s", True),
        (f"arn:aws:iam::{ACCOUNT}", True),
        ("nobody", True),
    ],
)
def test_roles_principal_exists(runtime: Runtime, ids: dict[str, str], arn: str, exists: bool) -> None:
    ctx = OperationContext(runtime, root_caller(), RequestInfo("req-1", NOW, "127.0.0.1", "pytest", "us-east-1"), operation="CreateRole")
    assert _principal_exists(ctx, arn) is exists


# -- services/sts/assume_role.py: RoleArn --------------------------------------------------
@pytest.mark.parametrize(
    ("arn", "parsed"),
    [
        ("arn:aws:iam::123456789012:role/r", ("123456789012", "r")),
        ("arn:aws:iam::123456789012:role/a/b/r", ("123456789012", "r")),
        ("arn:aws:iam::123456789012:role/a:b", ("123456789012", "a:b")),
        ("arn::iam::123456789012:role/r", ("123456789012", "r")),  # the partition is not checked
        ("arn:aws-cn:iam::123456789012:role/r", ("123456789012", "r")),
        ("arn:aws:iam::١٢٣٤٥٦٧٨٩٠١٢:role/r", ("١٢٣٤٥٦٧٨٩٠١٢", "r")),  # str.isdigit, as it was
        ("arn:aws:iam::123456789012:role/", None),
        ("arn:aws:iam::123456789012:role/a/", None),
        ("arn:aws:iam::123456789012:role", None),
        ("arn:aws:iam::123456789012:Role/r", None),
        ("arn:aws:iam::123456789012:user/r", None),
        ("arn:aws:iam::12345678901:role/r", None),
        ("arn:aws:iam::1234567890123:role/r", None),
        ("arn:aws:iam::12345678901x:role/r", None),
        ("arn:aws:iam:us-east-1:123456789012:role/r", None),
        ("arn:aws:sts::123456789012:role/r", None),
        ("xrn:aws:iam::123456789012:role/r", None),
        ("arn:aws:iam:123456789012:role/r", None),
        ("role/r", None),
    ],
)
def test_assume_role_role_arn(arn: str, parsed: tuple[str, str] | None) -> None:
    if parsed is None:
        with pytest.raises(ValidationError, match="is invalid"):
            _parse_role_arn(arn)
    else:
        assert _parse_role_arn(arn) == parsed


# -- cli/sts.py: tessera roles revoke-sessions ROLE_ARN ------------------------------------
@pytest.mark.parametrize(
    ("arn", "name"),
    [
        ("arn:aws:iam::123456789012:role/r", "r"),
        ("arn:aws:iam::123456789012:role/p/q/r", "r"),
        ("arn:aws:iam::1:role/r", "r"),  # the account is not checked
        ("xrn:aws:iam:us-east-1:1:role/r", "r"),  # nor the prefix, partition or region
        ("arn:aws:iam::123456789012:role/", None),
        ("arn:aws:iam::123456789012:role/p/", None),
        ("arn:aws:iam::123456789012:role", None),
        ("arn:aws:iam::123456789012:user/r", None),
        ("arn:aws:sts::123456789012:role/r", None),
        ("arn:aws:iam:123456789012:role/r", None),
        ("r", None),
    ],
)
def test_cli_role_name(arn: str, name: str | None) -> None:
    assert _role_name(arn) == name


# -- cli/policy.py: the resource's account when --resource-account is not given ----------
@pytest.mark.parametrize(
    ("resource", "given", "account"),
    [
        ("arn:aws:iam::123456789012:user/x", None, "123456789012"),
        ("arn:aws:dynamodb:us-east-1:123456789012:table/t", None, "123456789012"),
        ("arn:aws:s3:::bucket/key:with:colons", None, ""),
        ("arn:aws:sqs:us-east-1:123456789012:q:x", None, "123456789012"),
        ("arn:aws:iam::123456789012", None, ""),
        ("xrn:aws:iam::123456789012:user/x", None, ""),
        ("*", None, ""),
        ("arn:aws:iam::123456789012:user/x", "444455556666", "444455556666"),
        ("*", "", ""),
    ],
)
def test_cli_policy_resource_account(resource: str, given: str | None, account: str) -> None:
    args = argparse.Namespace(
        principal_arn="arn:aws:iam::111122223333:user/p",
        user_id="",
        context=[],
        resource_account=given,
        resource=resource,
        action="s3:GetObject",
    )
    assert _request(args).resource_account == account


# -- services/iam/simulate.py: CallerArn and the resource's account ------------------------
@pytest.mark.parametrize(
    ("arn", "account"),
    [
        ("arn:aws:iam::123456789012:user/alice", "123456789012"),
        ("arn:aws:iam::123456789012:user/p/alice", "123456789012"),
        ("arn:aws:iam::123456789012:user/", "123456789012"),
        ("xrn:aws:iam::123456789012:user/alice", "123456789012"),  # the prefix is not checked
        ("arn::iam:::user/alice", ""),
        ("arn:aws:iam::123456789012:role/r", None),
        ("arn:aws:iam::123456789012:User/alice", None),
        ("arn:aws:iam::123456789012:root", None),
        ("arn:aws:sts::123456789012:assumed-role/r/s", None),
        ("arn:aws:iam:123456789012:user/alice", None),
        ("alice", None),
    ],
)
def test_simulate_caller_arn(arn: str, account: str | None) -> None:
    if account is None:
        with pytest.raises(InvalidInputException, match="must be the ARN of an IAM user"):
            _caller_principal(arn)
    else:
        principal = _caller_principal(arn)
        assert (principal.kind, principal.arn, principal.account) == ("user", arn, account)


@pytest.mark.parametrize(
    ("arn", "account"),
    [
        ("arn:aws:iam::123456789012:user/x", "123456789012"),
        ("arn:aws:dynamodb:us-east-1:123456789012:table/t", "123456789012"),
        ("arn::::123456789012:", "123456789012"),
        ("arn:aws:s3:::bucket", None),
        ("arn:aws:s3:::bucket/key:with:colons", None),
        ("arn:aws:iam::123456789012", None),
        ("xrn:aws:iam::123456789012:user/x", None),
        ("123456789012", None),
        ("*", None),
        ("", None),
    ],
)
def test_simulate_account_of_arn(arn: str, account: str | None) -> None:
    assert _account_of_arn(arn) == account
