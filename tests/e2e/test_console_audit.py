"""The console's audit trail (LookupEvents as the signed-in principal) and policy
simulator in a real browser, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from consoleui import ADMIN, Console, console_user
from serverproc import Credentials, TesseraServer
from test_cloudtrail_lookup import wait_for

TARGET_POLICY = """{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "AllowS3", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
    {
      "Sid": "NoDeletes",
      "Effect": "Deny",
      "Action": "s3:DeleteBucket",
      "Resource": "*"
    }
  ]
}"""


def _user(server: TesseraServer, policy: str | None = ADMIN, *, keys: bool = False) -> tuple[str, Any]:
    name = console_user(server, policy, prefix="a")
    client = None
    if keys:
        key = server.client("iam").create_access_key(UserName=name)["AccessKey"]
        client = server.client("iam", Credentials(key["AccessKeyId"], key["SecretAccessKey"]))
    return name, client


def _search(console: Console, **fields: str) -> str:
    """Fill the audit page's filter form, search, and return the events table's text."""
    page = console.goto("/audit")
    for label, value in fields.items():
        if label == "Outcome":
            page.get_by_label(label).select_option(value)
        else:
            page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/console/audit?**")
    return page.locator("main").inner_text()


def test_audit_trail_finds_activity_by_principal_action_outcome_and_time(console: Console, server: TesseraServer) -> None:
    root = server.client("iam")
    created = f"made-{uuid.uuid4().hex[:6]}"
    root.create_user(UserName=created)
    limited, limited_iam = _user(server, None, keys=True)
    with pytest.raises(ClientError):
        limited_iam.list_users()
    admin, _ = _user(server)
    page = console.signed_in(admin)
    cloudtrail = server.client("cloudtrail")
    wait_for(cloudtrail, "Username", limited, lambda events: any(e["EventName"] == "ListUsers" for e in events))
    wait_for(cloudtrail, "Username", admin, lambda events: any(e["EventName"] == "ConsoleLogin" for e in events))

    page = console.goto("/audit")
    assert page.get_by_role("heading", name="Audit trail", exact=True).is_visible()
    assert "ConsoleLogin" in page.get_by_role("table").inner_text()
    console.screenshot("audit")

    # by action and principal (root's ARN): the CreateUser
    root_arn = f"arn:aws:iam::{server.account_id}:root"
    text = _search(console, **{"Action (event name)": "CreateUser", "Principal (ARN, user name or access key ID)": root_arn})
    assert "CreateUser" in text and root_arn in text
    # by principal and outcome: the refused call, and not among its successes
    text = _search(console, **{"Principal (ARN, user name or access key ID)": limited, "Outcome": "denied"})
    assert "ListUsers" in text and "denied (AccessDenied)" in text
    text = _search(console, **{"Principal (ARN, user name or access key ID)": limited, "Outcome": "success"})
    assert "ListUsers" not in text
    # by time: the last minutes find the sign-in, the future nothing
    now = dt.datetime.now(dt.UTC)
    recent = (now - dt.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S")
    text = _search(console, **{"Action (event name)": "ConsoleLogin", "From (UTC)": recent})
    assert f"user/{admin}" in text
    later = (now + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert "No events match" in _search(console, **{"From (UTC)": later})

    # the event's page: key fields and the whole record
    _search(console, **{"Action (event name)": "ConsoleLogin", "Principal (ARN, user name or access key ID)": admin})
    console.page.get_by_role("link", name="ConsoleLogin").first.click()
    console.page.wait_for_url("**/console/audit/*")
    details = console.page.locator("dl.facts").inner_text()
    assert "ConsoleLogin" in details and f"user/{admin}" in details and "success" in details
    record = json.loads(console.page.locator("pre").inner_text())
    assert record["eventName"] == "ConsoleLogin" and record["userIdentity"]["userName"] == admin
    console.screenshot("audit-event")


def test_audit_trail_pages_older_events(console: Console, server: TesseraServer) -> None:
    root = server.client("iam")
    for n in range(26):
        root.create_user(UserName=f"page-{uuid.uuid4().hex[:6]}-{n}")
    admin, _ = _user(server)
    console.signed_in(admin)
    _search(console, **{"Action (event name)": "CreateUser"})
    first = [link.get_attribute("href") for link in console.page.get_by_role("link", name="CreateUser").all()]
    assert len(first) == 25
    console.page.get_by_role("link", name="Older events").click()
    console.page.wait_for_url("**token=**")
    second = [link.get_attribute("href") for link in console.page.get_by_role("link", name="CreateUser").all()]
    assert second and not set(first) & set(second)
    assert console.page.get_by_label("Action (event name)").input_value() == "CreateUser"


def test_audit_trail_needs_cloudtrail_lookup_events(console: Console, server: TesseraServer) -> None:
    reader, _ = _user(server, "arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    console.signed_in(reader)
    response = console.page.goto("/console/audit")
    assert response is not None and response.status == 403
    assert console.page.get_by_role("heading", name="Not authorized").is_visible()
    assert "cloudtrail:LookupEvents" in console.page.get_by_role("alert").inner_text()


def test_simulator_marks_the_deciding_statements(console: Console, server: TesseraServer) -> None:
    target = f"sim-{uuid.uuid4().hex[:6]}"
    root = server.client("iam")
    root.create_user(UserName=target)
    root.put_user_policy(UserName=target, PolicyName="s3-rules", PolicyDocument=TARGET_POLICY)
    admin, _ = _user(server)
    console.signed_in(admin)
    page = console.goto("/simulator")
    page.get_by_label("A user or role of this account").check()
    page.get_by_label("Principal", exact=True).select_option(label=f"User: {target}")
    page.get_by_label("Actions").fill("s3:GetObject\ns3:DeleteBucket")
    page.get_by_label("Resource ARN").fill("arn:aws:s3:::bucket")
    page.get_by_role("button", name="Run simulation").click()
    results = page.get_by_role("table").filter(has_text="Decision")
    allowed = results.get_by_role("row").filter(has_text="s3:GetObject")
    denied = results.get_by_role("row").filter(has_text="s3:DeleteBucket")
    assert "Allowed" in allowed.inner_text()
    assert "Denied (explicit deny)" in denied.inner_text()
    marks = [mark.inner_text() for mark in page.locator("pre.policy mark").all()]
    assert any('"Sid": "NoDeletes"' in mark for mark in marks) and any('"Sid": "AllowS3"' in mark for mark in marks)
    assert all(mark.startswith("{") and mark.endswith("}") for mark in marks)
    assert page.get_by_role("heading", name="s3-rules (user)").is_visible()
    console.screenshot("simulator")

    # pasted policies, with a context key the request does not give
    page.get_by_label("Only the policies pasted below").check()
    conditional = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}
        ],
    }
    page.get_by_label("Identity policy 1").fill(json.dumps(conditional, indent=2))
    page.get_by_label("Actions").fill("s3:GetObject")
    page.get_by_role("button", name="Run simulation").click()
    row = page.get_by_role("table").filter(has_text="Decision").get_by_role("row").filter(has_text="s3:GetObject")
    assert "Denied (implicit deny" in row.inner_text() and "aws:SourceIp" in row.inner_text()
    # with the key given, the statement decides
    page.get_by_label("Context key 1", exact=True).fill("aws:SourceIp")
    page.get_by_label("Context key 1 type").select_option("ip")
    page.get_by_label("Context key 1 values").fill("10.1.2.3")
    page.get_by_role("button", name="Run simulation").click()
    row = page.get_by_role("table").filter(has_text="Decision").get_by_role("row").filter(has_text="s3:GetObject")
    assert "Allowed" in row.inner_text()
    assert "PolicyInputList.1" in row.inner_text()
    assert "10.0.0.0/8" in page.locator("pre.policy mark").first.inner_text()
    # a policy IAM cannot parse: the form comes back with the error and what was typed
    page.get_by_label("Identity policy 1").fill("{not json")
    page.get_by_role("button", name="Run simulation").click()
    assert page.get_by_role("alert").is_visible()
    assert page.get_by_label("Identity policy 1").input_value() == "{not json"
