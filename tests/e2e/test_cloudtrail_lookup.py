"""CloudTrail's LookupEvents through boto3: the caller's account's audit trail, newest
first, filtered by one lookup attribute and a time range, paged; AWS's errors; refused
without cloudtrail:LookupEvents; on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from serverproc import CLIENT_CONFIG, Credentials, TesseraServer

LOOKUP = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*"}]}


def wait_for(cloudtrail: Any, key: str, value: str, until: Callable[[list[dict[str, Any]]], bool], **params: Any) -> list[dict[str, Any]]:
    """The events whose ``key`` is ``value``, read again while ``until`` does not hold: the
    events of refused and read-only calls are written by the trail's background writer,
    a moment after the answer. Fails when it does not hold within 15 s."""
    deadline = time.monotonic() + 15
    while True:
        pages = cloudtrail.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}], **params
        )
        events = [event for page in pages for event in page["Events"]]
        if until(events):
            return events
        if time.monotonic() > deadline:
            pytest.fail(f"{len(events)} events whose {key} is {value}, not what was awaited: {events}")
        time.sleep(0.2)


def _code(call: Callable[..., Any], **params: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return str(caught.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def activity(server: TesseraServer) -> dict[str, Any]:
    """Three users created by root, and a call refused to a user with no permission."""
    tag = uuid.uuid4().hex[:6]
    iam = server.client("iam")
    users = [f"ct-{tag}-{i}" for i in range(3)]
    for name in users:
        iam.create_user(UserName=name)
    limited_name = f"ct-{tag}-limited"
    limited = server.make_user(limited_name)
    with pytest.raises(ClientError):
        server.client("iam", limited).list_users()
    return {"users": users, "limited": limited, "limited_name": limited_name}


def test_lookup_by_event_name_resource_and_user(server: TesseraServer, activity: dict[str, Any]) -> None:
    cloudtrail = server.client("cloudtrail")
    created = wait_for(cloudtrail, "EventName", "CreateUser", lambda events: len(events) >= 3)
    names = [r["ResourceName"] for e in created for r in e["Resources"] if r["ResourceType"] == "AWS::IAM::User"]
    assert [n for n in names if n in activity["users"]] == activity["users"][::-1]  # newest first
    times = [e["EventTime"] for e in created]
    assert times == sorted(times, reverse=True)
    one = wait_for(cloudtrail, "ResourceName", activity["users"][1], lambda events: len(events) == 1)
    assert len(one) == 1 and one[0]["EventName"] == "CreateUser" and one[0]["Username"] == "root"
    assert one[0]["EventSource"] == "iam.amazonaws.com" and one[0]["ReadOnly"] == "false"
    record = json.loads(one[0]["CloudTrailEvent"])
    assert record["eventID"] == one[0]["EventId"] and record["requestParameters"]["userName"] == activity["users"][1]
    assert record["recipientAccountId"] == server.account_id
    by_id = cloudtrail.lookup_events(LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": one[0]["EventId"]}])["Events"]
    assert [e["EventId"] for e in by_id] == [one[0]["EventId"]]
    # the refused call, by the user's name and by its access key
    denied = wait_for(cloudtrail, "Username", activity["limited_name"], lambda events: any(e["EventName"] == "ListUsers" for e in events))
    refusal = json.loads(next(e for e in denied if e["EventName"] == "ListUsers")["CloudTrailEvent"])
    assert refusal["errorCode"] == "AccessDenied"
    key = activity["limited"].access_key_id
    by_key = wait_for(cloudtrail, "AccessKeyId", key, lambda events: bool(events))
    assert by_key and all(e["AccessKeyId"] == key for e in by_key)
    writes = cloudtrail.lookup_events(LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "false"}])["Events"]
    assert writes and all(e["ReadOnly"] == "false" for e in writes)
    sources = cloudtrail.lookup_events(LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "iam.amazonaws.com"}])
    assert sources["Events"] and all(e["EventSource"] == "iam.amazonaws.com" for e in sources["Events"])


def test_pages_and_time_range(server: TesseraServer, activity: dict[str, Any]) -> None:
    cloudtrail = server.client("cloudtrail")
    attribute = [{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}]
    whole = cloudtrail.lookup_events(LookupAttributes=attribute, MaxResults=50)["Events"]
    assert len(whole) >= 4 and "NextToken" not in cloudtrail.lookup_events(LookupAttributes=attribute)
    seen: list[str] = []
    params: dict[str, Any] = {"LookupAttributes": attribute, "MaxResults": 1}
    while True:
        page = cloudtrail.lookup_events(**params)
        assert len(page["Events"]) <= 1
        seen += [e["EventId"] for e in page["Events"]]
        if "NextToken" not in page:
            break
        params["NextToken"] = page["NextToken"]
    assert seen == [e["EventId"] for e in whole]
    paginated = cloudtrail.get_paginator("lookup_events").paginate(LookupAttributes=attribute, PaginationConfig={"PageSize": 2})
    assert [e["EventId"] for page in paginated for e in page["Events"]] == seen
    # the time range is inclusive, to the second
    newest = whole[0]["EventTime"]
    at_newest = cloudtrail.lookup_events(LookupAttributes=attribute, StartTime=newest, EndTime=newest)["Events"]
    assert whole[0]["EventId"] in [e["EventId"] for e in at_newest]
    assert all(e["EventTime"] == newest for e in at_newest)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert cloudtrail.lookup_events(LookupAttributes=attribute, StartTime=future)["Events"] == []
    before = cloudtrail.lookup_events(LookupAttributes=attribute, EndTime=newest - dt.timedelta(seconds=1))["Events"]
    assert all(e["EventTime"] < newest for e in before)


def test_aws_errors(server: TesseraServer, activity: dict[str, Any]) -> None:
    lookup = server.client("cloudtrail").lookup_events
    now = dt.datetime.now(dt.UTC)
    two = [{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}, {"AttributeKey": "Username", "AttributeValue": "root"}]
    assert _code(lookup, LookupAttributes=two) == "InvalidLookupAttributesException"
    assert _code(lookup, StartTime=now, EndTime=now - dt.timedelta(hours=1)) == "InvalidTimeRangeException"
    assert _code(lookup, NextToken="not-a-token") == "InvalidNextTokenException"
    first = lookup(MaxResults=1)
    assert "NextToken" in first
    # a token is good only with the parameters it was given with
    other = [{"AttributeKey": "EventName", "AttributeValue": "CreateUser"}]
    assert _code(lookup, LookupAttributes=other, NextToken=first["NextToken"]) == "InvalidNextTokenException"
    # a token rewritten to a position no event can have is refused, never a 500
    _time, _seq, fingerprint = json.loads(base64.urlsafe_b64decode(first["NextToken"]))
    for position in (["9999-12-31T00:00:00Z", 2**64 - 1], ["not a time", 1], ["2026-01-01T00:00:00Z", -1]):
        forged = base64.urlsafe_b64encode(json.dumps([*position, fingerprint]).encode()).decode()
        assert _code(lookup, NextToken=forged) == "InvalidNextTokenException"
    unvalidated = server.client("cloudtrail", config=CLIENT_CONFIG.merge(Config(parameter_validation=False)))
    assert _code(unvalidated.lookup_events, MaxResults=51) == "InvalidMaxResultsException"
    assert _code(unvalidated.lookup_events, MaxResults=0) == "InvalidMaxResultsException"
    bad_key = [{"AttributeKey": "Colour", "AttributeValue": "red"}]
    assert _code(unvalidated.lookup_events, LookupAttributes=bad_key) == "InvalidLookupAttributesException"
    # the other CloudTrail operations are not served
    assert _code(server.client("cloudtrail").describe_trails) == "UnknownOperationException"


def test_needs_cloudtrail_lookup_events(server: TesseraServer) -> None:
    name = f"ct-reader-{uuid.uuid4().hex[:6]}"
    creds: Credentials = server.make_user(name)
    cloudtrail = server.client("cloudtrail", creds)
    assert _code(cloudtrail.lookup_events) == "AccessDeniedException"
    server.client("iam").put_user_policy(UserName=name, PolicyName="lookup", PolicyDocument=json.dumps(LOOKUP))
    assert cloudtrail.lookup_events(MaxResults=5)["Events"]


def test_events_of_the_callers_account_only(server: TesseraServer) -> None:
    org = server.client("organizations")
    org.create_organization(FeatureSet="ALL")
    request = org.create_account(Email=f"ct-{uuid.uuid4().hex[:6]}@example.com", AccountName="ct-member")["CreateAccountStatus"]
    member = str(org.describe_create_account_status(CreateAccountRequestId=request["Id"])["CreateAccountStatus"]["AccountId"])
    role = f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole"
    admin = server.make_user(
        f"ct-admin-{uuid.uuid4().hex[:6]}", {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    )
    session = server.client("sts", admin).assume_role(RoleArn=role, RoleSessionName="ct")["Credentials"]
    member_creds = Credentials.from_response(session)
    server.client("iam", member_creds).create_user(UserName="in-member")
    cloudtrail = server.client("cloudtrail", member_creds)
    mine = wait_for(cloudtrail, "EventName", "CreateUser", bool)
    assert mine and all(json.loads(e["CloudTrailEvent"])["recipientAccountId"] == member for e in mine)
    names = [r["ResourceName"] for e in mine for r in e["Resources"]]
    assert names == ["in-member"]
    # and the management account's lookup does not show the member's event
    theirs = server.client("cloudtrail").lookup_events(LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": "in-member"}])
    assert theirs["Events"] == []
