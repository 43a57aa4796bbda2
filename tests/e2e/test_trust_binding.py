"""A trust policy names principals, not names: a user or role deleted and created again
under the same name is a new principal, and the old trust no longer admits it (AWS shows
the deleted principal's unique id in the policy instead)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from serverproc import Credentials, TesseraServer


def trust_of(*arns: str) -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": list(arns)}, "Action": "sts:AssumeRole"}]}
    )


def delete_user(iam: Any, name: str) -> None:
    for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    for policy in iam.list_user_policies(UserName=name)["PolicyNames"]:
        iam.delete_user_policy(UserName=name, PolicyName=policy)
    iam.delete_user(UserName=name)


def test_a_recreated_user_is_not_trusted_by_the_old_trust_policy(server: TesseraServer) -> None:
    iam, account = server.client("iam"), server.account_id
    first = server.make_user("binding-alice")
    old_id = iam.get_user(UserName="binding-alice")["User"]["UserId"]
    arn = f"arn:aws:iam::{account}:user/binding-alice"
    iam.create_role(RoleName="binding-role", AssumeRolePolicyDocument=trust_of(arn))
    role_arn = f"arn:aws:iam::{account}:role/binding-role"
    server.client("sts", first).assume_role(RoleArn=role_arn, RoleSessionName="before")

    delete_user(iam, "binding-alice")
    second = server.make_user("binding-alice")
    with pytest.raises(ClientError) as denied:
        server.client("sts", second).assume_role(RoleArn=role_arn, RoleSessionName="after")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    shown = iam.get_role(RoleName="binding-role")["Role"]["AssumeRolePolicyDocument"]
    assert shown["Statement"][0]["Principal"]["AWS"] == [old_id]

    iam.update_assume_role_policy(RoleName="binding-role", PolicyDocument=trust_of(arn))  # trust the new alice
    server.client("sts", second).assume_role(RoleArn=role_arn, RoleSessionName="re-trusted")


def test_a_recreated_role_cannot_chain_into_a_role_that_trusted_its_predecessor(server: TesseraServer) -> None:
    iam, account = server.client("iam"), server.account_id
    user = server.make_user(
        "binding-bob", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    )
    user_arn = f"arn:aws:iam::{account}:user/binding-bob"
    iam.create_role(RoleName="binding-first", AssumeRolePolicyDocument=trust_of(user_arn))
    iam.put_role_policy(
        RoleName="binding-first",
        PolicyName="chain",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
        ),
    )
    first_arn = f"arn:aws:iam::{account}:role/binding-first"
    iam.create_role(RoleName="binding-second", AssumeRolePolicyDocument=trust_of(first_arn))
    second_arn = f"arn:aws:iam::{account}:role/binding-second"

    def chain() -> Any:
        session = server.client("sts", user).assume_role(RoleArn=first_arn, RoleSessionName="one")["Credentials"]
        return server.client("sts", Credentials.from_response(session)).assume_role(RoleArn=second_arn, RoleSessionName="two")

    chain()
    iam.delete_role_policy(RoleName="binding-first", PolicyName="chain")
    iam.delete_role(RoleName="binding-first")
    iam.create_role(RoleName="binding-first", AssumeRolePolicyDocument=trust_of(user_arn))
    iam.put_role_policy(
        RoleName="binding-first",
        PolicyName="chain",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
        ),
    )
    with pytest.raises(ClientError) as denied:
        chain()
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
