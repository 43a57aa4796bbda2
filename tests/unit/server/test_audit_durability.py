"""The audit trail loses nothing acknowledged, over the real app and a real SQLite store:
a write commits its event with its change (or neither), credentials are answered only
once their event is committed, and a trail that cannot be written refuses requests (503)
until it can be written again, with no restart."""

from __future__ import annotations

import json
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from oidc_issuer import OidcIssuer
from storefaults import FailingStore, call, unsigned_get
from test_readyz import failing_checks, readyz

from bench.inproc import ACCOUNT
from tessera.audit.sink import AuditWriter
from tessera.server.app import TesseraApp
from tessera.services.operations import registered
from tessera.services.request import issues_credentials
from tessera.services.runtime import Runtime

NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/", "iam": "https://iam.amazonaws.com/doc/2010-05-08/"}
Served = tuple[Runtime, TesseraApp, FailingStore]


@pytest.fixture
def trail(served: Served) -> Iterator[Served]:
    """``served`` with an audit writer over the app's own (failable) store."""
    runtime, app, failing = served
    app.audit = AuditWriter(runtime.store, retry_interval=0.01)
    yield served
    failing.audit_fails = False
    app.audit.close()


def events(runtime: Runtime, name: str) -> list[Mapping[str, Any]]:
    return list(runtime.store.query_audit(event_name=name, limit=None))


def text(body: ET.Element, path: str) -> str:
    found = body.find(path, NS)
    assert found is not None and found.text is not None, ET.tostring(body)
    return found.text


def error_message(body: ET.Element) -> str:
    return next(element.text or "" for element in body.iter() if element.tag.endswith("Message"))


def wait_until(condition: Any) -> None:
    """Wait for the writer thread to get there (not timing it)."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "never got there"
        time.sleep(0.005)


def test_a_write_commits_its_event_in_its_own_transaction_then_completes_it(trail: Served) -> None:
    runtime, app, _failing = trail
    status, body = call(app, {"Action": "CreateUser", "UserName": "bob"})
    assert status == 200
    request_id = text(body, "iam:ResponseMetadata/iam:RequestId")
    # the writer has not run: the event is there because the write committed it
    assert app.audit.backlog == 1 and app.audit.written == 0
    (committed,) = events(runtime, "CreateUser")
    assert committed["requestID"] == request_id and committed["responseElements"] is None
    assert committed["requestParameters"] == {"userName": "bob"} and "errorCode" not in committed
    assert committed["userIdentity"]["type"] == "Root" and committed["eventSource"] == "iam.amazonaws.com"
    assert app.audit.flush()
    (completed,) = events(runtime, "CreateUser")
    assert completed["eventID"] == committed["eventID"] and completed["eventTime"] == committed["eventTime"]
    assert completed["responseElements"]["user"]["userName"] == "bob"


def test_a_write_whose_event_cannot_be_committed_is_refused_and_leaves_nothing(trail: Served) -> None:
    runtime, app, failing = trail
    failing.audit_fails = True
    status, body = call(app, {"Action": "CreateUser", "UserName": "bob"})
    assert status == 503 and text(body, "iam:Error/iam:Code") == "ServiceUnavailable"
    assert error_message(body).startswith("The audit trail is unavailable")
    with runtime.store.read() as tx:
        assert tx.get(ACCOUNT, "user", "bob") is None
    failing.audit_fails = False
    assert app.audit.flush()
    (refused,) = events(runtime, "CreateUser")  # the refusal itself is in the trail
    assert refused["errorCode"] == "ServiceUnavailable"


def test_credentials_are_answered_only_once_their_event_is_committed(trail: Served) -> None:
    runtime, app, _failing = trail
    status, body = call(app, {"Action": "GetSessionToken"}, "sts")
    assert status == 200
    key_id = text(body, "sts:GetSessionTokenResult/sts:Credentials/sts:AccessKeyId")
    (event,) = events(runtime, "GetSessionToken")  # committed before the answer
    assert event["responseElements"]["credentials"]["accessKeyId"] == key_id
    assert event["responseElements"]["credentials"]["sessionToken"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert app.audit.commits >= 1


def test_an_unwritable_trail_refuses_credentials_and_every_request_until_it_recovers(trail: Served) -> None:
    runtime, app, failing = trail
    assert call(app, {"Action": "GetCallerIdentity"}, "sts")[0] == 200  # answered: its event must survive
    failing.audit_fails = True
    status, body = call(app, {"Action": "GetSessionToken"}, "sts")
    assert status == 503 and b"Credentials" not in ET.tostring(body)
    assert error_message(body).startswith("The audit trail is unavailable")
    assert not app.audit.accepting
    status, body = readyz(app)
    assert status == 503 and failing_checks(body) == {"audit"}
    status, body = call(app, {"Action": "GetCallerIdentity"}, "sts")  # nothing is served unaudited
    assert status == 503 and error_message(body).startswith("The audit trail is unavailable")
    assert call(app, {"Action": "CreateUser", "UserName": "carol"})[0] == 503
    failing.audit_fails = False
    wait_until(lambda: app.audit.accepting)  # no restart: the writer finds the store again
    assert readyz(app)[0] == 200
    status, body = call(app, {"Action": "GetSessionToken"}, "sts")
    assert status == 200
    assert app.audit.flush()
    outcomes = [e.get("errorCode") for e in events(runtime, "GetSessionToken")]
    assert outcomes == ["ServiceUnavailable", None]
    assert [e.get("errorCode") for e in events(runtime, "GetCallerIdentity")] == [None]  # refused ones are not queued


def test_every_operation_that_returns_credentials_is_durable_and_no_other() -> None:
    durable = {(spec.service, spec.name) for spec in registered() if spec.durable_audit}
    assert {("sts", "AssumeRole"), ("sts", "GetSessionToken"), ("sts", "GetFederationToken")} <= durable
    assert durable == {(spec.service, spec.name) for spec in registered() if issues_credentials(spec.service, spec.name)}
    assert issues_credentials("sts", "AssumeRoleWithWebIdentity") and issues_credentials("sts", "AssumeRoleWithSAML")


def _workload_fetch(app: TesseraApp, role_arn: str, token: str) -> tuple[int, dict[str, Any]]:
    """``GET /workload-credentials`` as the SDKs' container provider sends it."""
    query = urllib.parse.urlencode({"RoleArn": role_arn, "RoleSessionName": "pod"})
    status, body = unsigned_get(app, "/workload-credentials", query, [(b"authorization", token.encode())])
    return status, json.loads(body)


def test_workload_credentials_wait_for_their_event_and_are_refused_while_the_trail_cannot_be_written(trail: Served) -> None:
    """The workload endpoint issues credentials like AssumeRoleWithWebIdentity, so it keeps
    the same rule: answered only once the fetch's event is committed, refused (503, no
    credentials) while the trail cannot be written."""
    runtime, app, failing = trail
    with OidcIssuer() as idp:
        status, body = call(
            app,
            {
                "Action": "CreateOpenIDConnectProvider",
                "Url": idp.issuer,
                "ClientIDList.member.1": "pods",
                "ThumbprintList.member.1": idp.thumbprint,
            },
        )
        assert status == 200, ET.tostring(body)
        provider = text(body, "iam:CreateOpenIDConnectProviderResult/iam:OpenIDConnectProviderArn")
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity"}],
        }
        assert call(app, {"Action": "CreateRole", "RoleName": "pod", "AssumeRolePolicyDocument": json.dumps(trust)})[0] == 200
        role_arn = f"arn:aws:iam::{ACCOUNT}:role/pod"
        token = idp.sign({"sub": "system:serviceaccount:default:app", "aud": "pods"})

        status, answer = _workload_fetch(app, role_arn, token)
        assert status == 200, answer
        (event,) = events(runtime, "AssumeRoleWithWebIdentity")  # committed before the answer
        assert event["responseElements"]["credentials"]["accessKeyId"] == answer["AccessKeyId"]

        failing.audit_fails = True
        status, answer = _workload_fetch(app, role_arn, token)
        assert status == 503 and "AccessKeyId" not in answer, answer
        assert answer["Code"] == "ServiceUnavailable" and answer["Message"].startswith("The audit trail is unavailable"), answer
        failing.audit_fails = False
        wait_until(lambda: app.audit.accepting)
        status, answer = _workload_fetch(app, role_arn, token)
        assert status == 200, answer
