"""Small information leaks across accounts, against a real server.

An attacker with an account of their own (outside the organization) probes another
account: GetAccessKeyInfo on key ids that encode it, AssumeRole on its roles (existing
or not, with PolicyArns naming its policies), and the decoded authorization message of
the refusal. None of it may say whether the account, the role or the policy exists, nor
anything about the account's organization (id, OU path).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from serverproc import Credentials, TesseraServer

from tessera.auth.tokens import new_access_key_id

ACCESS_ROLE = "OrganizationAccountAccessRole"
ATTACKER_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:GetAccessKeyInfo", "sts:DecodeAuthorizationMessage"], "Resource": "*"}
        ],
    }
)


class World:
    """The server's account runs an organization with a member account placed in an OU;
    the attacker owns a standalone account and a user in it."""

    def __init__(self, server: TesseraServer) -> None:
        self.server = server
        org = server.client("organizations")
        self.org_id = org.create_organization()["Organization"]["Id"]
        root_id = org.list_roots()["Roots"][0]["Id"]
        self.ou_id = org.create_organizational_unit(ParentId=root_id, Name="hidden-unit")["OrganizationalUnit"]["Id"]
        request = org.create_account(Email="target@example.com", AccountName="target")["CreateAccountStatus"]
        self.target = str(org.describe_create_account_status(CreateAccountRequestId=request["Id"])["CreateAccountStatus"]["AccountId"])
        org.move_account(AccountId=self.target, SourceParentId=root_id, DestinationParentId=self.ou_id)
        self.attacker_account, attacker_root = self._standalone_account()
        iam = server.client("iam", attacker_root)
        _wait(lambda: iam.get_account_summary())
        iam.create_user(UserName="prober")
        iam.put_user_policy(UserName="prober", PolicyName="probe", PolicyDocument=ATTACKER_POLICY)
        key = iam.create_access_key(UserName="prober")["AccessKey"]
        self.prober = Credentials(key["AccessKeyId"], key["SecretAccessKey"])

    def _standalone_account(self) -> tuple[str, Credentials]:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "tessera",
                "accounts",
                "create",
                "attacker",
                "--standalone",
                "--json",
                "--data-dir",
                self.server.data_dir,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=self.server.environment(),
        )
        assert out.returncode == 0, out.stderr
        created = json.loads(out.stdout)
        return str(created["account_id"]), Credentials(created["access_key_id"], created["secret_access_key"])

    def refusal(self, call: Callable[[], Any]) -> tuple[str, str, str]:
        """(code, message, decoded authorization message) of a refused call."""
        with pytest.raises(ClientError) as refused:
            call()
        error = refused.value.response["Error"]
        headers = refused.value.response["ResponseMetadata"]["HTTPHeaders"]
        encoded = headers.get("x-amzn-authorization-message", "")
        decoded = ""
        if encoded:
            decoded = self.server.client("sts", self.prober).decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"]
        return str(error["Code"]), str(error["Message"]), decoded


def _wait(call: Callable[[], Any], attempts: int = 100) -> None:
    """Until the server's view has loaded the account the CLI created (its poll runs
    every 0.2 s): the wait is for I/O, not for time to pass."""
    for _ in range(attempts):
        try:
            call()
            return
        except ClientError:
            time.sleep(0.1)
    call()


@pytest.fixture(scope="module")
def world(target: TesseraServer) -> Iterator[World]:
    return World(target)


def test_get_access_key_info_answers_from_the_key_id_alone(world: World) -> None:
    sts = world.server.client("sts", world.prober)
    of_existing = new_access_key_id("AKIA", account=world.target)
    of_unknown = new_access_key_id("AKIA", account="987654321098")
    assert sts.get_access_key_info(AccessKeyId=of_existing)["Account"] == world.target
    assert sts.get_access_key_info(AccessKeyId=of_unknown)["Account"] == "987654321098"


def test_get_access_key_info_does_not_tell_a_live_key_from_a_deleted_one(world: World) -> None:
    iam = world.server.client("iam")
    iam.create_user(UserName="keyinfo-user")
    key_id = iam.create_access_key(UserName="keyinfo-user")["AccessKey"]["AccessKeyId"]
    sts = world.server.client("sts", world.prober)
    live = sts.get_access_key_info(AccessKeyId=key_id)["Account"]
    iam.delete_access_key(UserName="keyinfo-user", AccessKeyId=key_id)
    assert sts.get_access_key_info(AccessKeyId=key_id)["Account"] == live == world.server.account_id


def test_a_decoded_cross_account_refusal_shows_nothing_of_the_target_organization(world: World) -> None:
    sts = world.server.client("sts", world.prober)
    role = f"arn:aws:iam::{world.target}:role/{ACCESS_ROLE}"
    code, _, decoded = world.refusal(lambda: sts.assume_role(RoleArn=role, RoleSessionName="probe"))
    assert code == "AccessDenied" and decoded
    assert world.org_id not in decoded and world.ou_id not in decoded and "ResourceOrg" not in decoded
    assert json.loads(decoded)["context"]["resource"] == role


@pytest.mark.parametrize("policy_arns", [False, True], ids=["plain", "with-policy-arns"])
def test_existing_and_missing_roles_and_accounts_are_refused_alike(world: World, policy_arns: bool) -> None:
    sts = world.server.client("sts", world.prober)
    candidates = {
        "existing-role": f"arn:aws:iam::{world.target}:role/{ACCESS_ROLE}",
        "missing-role": f"arn:aws:iam::{world.target}:role/NoSuchRole",
        "missing-account": "arn:aws:iam::987654321098:role/NoSuchRole",
    }
    answers = set()
    for role in candidates.values():
        account = role.split(":")[4]
        extra: dict[str, Any] = {}
        if policy_arns:  # an AWS managed policy exists everywhere; a customer one nowhere
            extra["PolicyArns"] = [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}, {"arn": f"arn:aws:iam::{account}:policy/Probe"}]
        code, message, decoded = world.refusal(
            lambda role=role, extra=extra: sts.assume_role(RoleArn=role, RoleSessionName="probe", **extra)
        )
        document = json.loads(decoded)
        conditions = [
            item
            for item in document["context"]["conditions"]["items"]
            if item["key"] not in ("aws:CurrentTime", "aws:EpochTime", "aws:ResourceAccount")
        ]
        document["context"]["conditions"]["items"] = conditions
        answers.add((code, message.replace(role, "ROLE"), json.dumps(document).replace(role, "ROLE")))
    assert len(answers) == 1, answers


def test_a_trust_policy_deny_is_not_disclosed_to_the_other_account(world: World) -> None:
    admin = world.server.make_user(
        "org-admin", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    )  # in the organization's management account
    member_role = f"arn:aws:iam::{world.target}:role/{ACCESS_ROLE}"
    member = Credentials.from_response(
        world.server.client("sts", admin).assume_role(RoleArn=member_role, RoleSessionName="setup")["Credentials"]
    )
    prober_arn = f"arn:aws:iam::{world.attacker_account}:user/prober"
    world.server.client("iam", member).create_role(
        RoleName="Fenced",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Sid": "KeepProberOut", "Effect": "Deny", "Principal": {"AWS": prober_arn}, "Action": "sts:AssumeRole"}],
            }
        ),
    )
    sts = world.server.client("sts", world.prober)
    fenced = f"arn:aws:iam::{world.target}:role/Fenced"
    missing = f"arn:aws:iam::{world.target}:role/Missing"
    _, fenced_message, fenced_decoded = world.refusal(lambda: sts.assume_role(RoleArn=fenced, RoleSessionName="probe"))
    _, missing_message, missing_decoded = world.refusal(lambda: sts.assume_role(RoleArn=missing, RoleSessionName="probe"))
    assert fenced_message.replace(fenced, "ROLE") == missing_message.replace(missing, "ROLE")
    first, second = json.loads(fenced_decoded), json.loads(missing_decoded)
    assert "KeepProberOut" not in fenced_decoded
    assert (first["explicitDeny"], first["failures"]) == (second["explicitDeny"], second["failures"])
    assert first["explicitDeny"] is False
