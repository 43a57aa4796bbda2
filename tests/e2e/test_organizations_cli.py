"""``tessera accounts`` on a data directory, then a server over it: accounts seeded by
the operator with root keys let us check what the API alone cannot reach — SCPs on a
member account's root user, and aws:PrincipalOrgID against an account outside."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from serverproc import Credentials, TesseraServer, new_data_dir

SCP = "SERVICE_CONTROL_POLICY"


def tessera(server: TesseraServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tessera", *args, "--data-dir", server.data_dir],
        env=server.environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def create(server: TesseraServer, *args: str) -> dict[str, Any]:
    done = tessera(server, "accounts", "create", *args, "--json")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def root_keys(created: dict[str, Any]) -> Credentials:
    return Credentials(created["access_key_id"], created["secret_access_key"])


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[TesseraServer, dict[str, Any], dict[str, Any]]]:
    server = TesseraServer(data_dir=new_data_dir())
    try:
        member = create(server, "restricted", "--root-key")
        solo = create(server, "solo", "--standalone", "--email", "solo@example.com")
        server.start()
        yield server, member, solo
    finally:
        server.stop()
        shutil.rmtree(server.data_dir, ignore_errors=True)


def test_create_makes_a_member_of_the_management_accounts_organization(seeded: Any) -> None:
    server, member, solo = seeded
    assert member["organization_id"].startswith("o-") and "organization_id" not in solo
    org = server.client("organizations")
    assert org.describe_organization()["Organization"]["Id"] == member["organization_id"]
    assert {a["Id"] for a in org.list_accounts()["Accounts"]} == {server.account_id, member["account_id"]}


def test_list_shows_every_account_and_its_role(seeded: Any) -> None:
    server, member, solo = seeded
    done = tessera(server, "accounts", "list", "--json")
    assert done.returncode == 0, done.stderr
    roles = {row["account_id"]: row["role"] for row in json.loads(done.stdout)}
    assert roles == {server.account_id: "management", member["account_id"]: "member", solo["account_id"]: "standalone"}
    table = tessera(server, "accounts", "list").stdout.splitlines()
    assert table[0].split()[:4] == ["ACCOUNT", "NAME", "EMAIL", "ROLE"] and len(table) == 4


def test_the_operators_creations_are_in_the_audit_trail_without_secrets(seeded: Any) -> None:
    server, member, solo = seeded
    done = tessera(server, "audit", "--json", "--event-name", "CreateAccount")
    assert done.returncode == 0, done.stderr
    # one event each, committed with the account (a refused creation made none): a
    # member's in its management account's trail, as AWS records CreateAccount, a
    # standalone account's in its own
    found = list(map(json.loads, done.stdout.splitlines()))
    events = {e["serviceEventDetails"]["accountId"]: e for e in found}
    # the first command on the data directory bootstrapped the management account: its
    # event names that command
    assert events.keys() == {server.account_id, member["account_id"], solo["account_id"]} and len(found) == 3
    assert events[server.account_id]["userAgent"] == "tessera accounts create"
    assert "rootKeyGenerated" in events[server.account_id]["serviceEventDetails"]
    for created, trail in ((member, server.account_id), (solo, solo["account_id"])):
        event = events[created["account_id"]]
        assert event["eventType"] == "AwsServiceEvent" and event["eventSource"] == "organizations.amazonaws.com"
        assert event["userIdentity"] == {"accountId": trail, "invokedBy": "AWS Internal"} and event["recipientAccountId"] == trail
        assert event["userAgent"] == "tessera accounts create"
        assert event["serviceEventDetails"]["rootAccessKeyId"] == created["access_key_id"]
    assert events[member["account_id"]]["serviceEventDetails"]["organizationId"] == member["organization_id"]
    assert events[member["account_id"]]["serviceEventDetails"]["accessRoleArn"] == member["role_arn"]
    assert events[solo["account_id"]]["serviceEventDetails"]["organizationId"] is None
    # the organization the first member's creation made is recorded too, once
    (organized,) = map(json.loads, tessera(server, "audit", "--json", "--event-name", "CreateOrganization").stdout.splitlines())
    assert organized["recipientAccountId"] == server.account_id and organized["eventType"] == "AwsServiceEvent"
    # the secrets shown once to the operator are nowhere in the trail
    everything = tessera(server, "audit", "--json").stdout
    assert member["secret_access_key"] not in everything and solo["secret_access_key"] not in everything
    # nor the accounts' e-mail addresses and names (sensitive, as the API's CreateAccount event hides them)
    assert "solo@example.com" not in everything and '"restricted"' not in everything
    # CloudTrail's LookupEvents shows each account its own (these events name no ARN)
    lookup = {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "CreateAccount"}]}
    found = server.client("cloudtrail").lookup_events(**lookup)["Events"]
    # the management account's: the member's, and its own from the server's first start
    created = {json.loads(e["CloudTrailEvent"])["serviceEventDetails"]["accountId"] for e in found}
    assert created == {member["account_id"], server.account_id}
    found = server.client("cloudtrail", root_keys(solo)).lookup_events(**lookup)["Events"]
    assert [json.loads(e["CloudTrailEvent"])["serviceEventDetails"]["accountId"] for e in found] == [solo["account_id"]]


def test_duplicate_email_is_refused_by_the_cli(seeded: Any) -> None:
    server, _, _ = seeded
    done = tessera(server, "accounts", "create", "again", "--standalone", "--email", "solo@example.com")
    assert done.returncode == 1 and "already in use" in done.stderr


def test_scp_limits_a_member_accounts_root_user_but_not_the_management_root(seeded: Any) -> None:
    server, member, _ = seeded
    org = server.client("organizations")
    root_id = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root_id, Name="locked-down")["OrganizationalUnit"]["Id"]
    org.move_account(AccountId=member["account_id"], SourceParentId=root_id, DestinationParentId=ou)
    content = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}]})
    policy = org.create_policy(Name="no-users", Description="", Type=SCP, Content=content)["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=policy, TargetId=ou)
    org.attach_policy(PolicyId=policy, TargetId=server.account_id)
    member_iam = server.client("iam", root_keys(member))
    with pytest.raises(ClientError) as caught:
        member_iam.create_user(UserName="blocked")
    assert caught.value.response["Error"]["Code"] == "AccessDenied"
    member_iam.list_users()
    server.client("iam").create_user(UserName="management-is-exempt")


def test_principal_org_id_trust_refuses_an_account_outside_the_organization(seeded: Any) -> None:
    server, member, solo = seeded
    org_id = member["organization_id"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": org_id}},
            }
        ],
    }
    server.client("iam", root_keys(member)).create_role(RoleName="OrgWide", AssumeRolePolicyDocument=json.dumps(trust))
    role = f"arn:aws:iam::{member['account_id']}:role/OrgWide"
    allow_all = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})
    insider = server.make_user("insider", allow_all)
    server.client("sts", insider).assume_role(RoleArn=role, RoleSessionName="inside")
    solo_iam = server.client("iam", root_keys(solo))
    solo_iam.create_user(UserName="outsider")
    solo_iam.put_user_policy(UserName="outsider", PolicyName="assume", PolicyDocument=allow_all)
    key = solo_iam.create_access_key(UserName="outsider")["AccessKey"]
    outsider = Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as caught:
        server.client("sts", outsider).assume_role(RoleArn=role, RoleSessionName="outside")
    assert caught.value.response["Error"]["Code"] == "AccessDenied"
