"""The server process itself: start-up contract, health, metrics, authentication
failures on the wire, malformed input, persistence across restarts, audit trail."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any
from unittest import mock

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError
from serverproc import ROOT_KEY_ID, ROOT_SECRET, Credentials, TesseraServer, free_port

STS_BODY = "Action=GetCallerIdentity&Version=2011-06-15"


def raw(
    server: TesseraServer, body: bytes | str, headers: dict[str, str] | None = None, method: str = "POST", path: str = "/"
) -> tuple[int, dict[str, str], str]:
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(server.endpoint + path, data=data if method == "POST" else None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def signed_headers(
    body: str,
    *,
    key: str = ROOT_KEY_ID,
    secret: str = ROOT_SECRET,
    service: str = "sts",
    when: dt.datetime | None = None,
    token: str | None = None,
    url: str = "http://127.0.0.1/",
) -> dict[str, str]:
    request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    signer = SigV4Auth(BotoCredentials(key, secret, token), service, "us-east-1")
    if when is None:
        signer.add_auth(request)
    else:  # sign as a client whose clock reads ``when``
        with mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None)):
            signer.add_auth(request)
    return dict(request.headers.items())


def read_text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def error_code(body: str) -> str:
    start = body.index("<Code>") + len("<Code>")
    return body[start : body.index("</Code>")]


def test_healthz_needs_no_credentials(sqlite_server: TesseraServer) -> None:
    status, _headers, body = raw(sqlite_server, b"", method="GET", path="/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}


def test_readyz_answers_ready_with_every_check_ok(sqlite_server: TesseraServer) -> None:
    status, _headers, body = raw(sqlite_server, b"", method="GET", path="/readyz")
    answer = json.loads(body)
    assert status == 200 and answer["ready"] is True
    assert set(answer["checks"]) == {"store_reads", "store_writes", "audit", "signing_keys"}
    assert all(check["ok"] is True and check["detail"] for check in answer["checks"].values())
    assert sqlite_server.data_dir not in body  # no paths or connection strings
    # liveness is unchanged next to it
    status, _headers, body = raw(sqlite_server, b"", method="GET", path="/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}


def test_get_caller_identity_as_root(server: TesseraServer) -> None:
    ident = server.client("sts").get_caller_identity()
    assert ident["Account"] == server.account_id
    assert ident["Arn"] == f"arn:aws:iam::{server.account_id}:root"
    assert ident["UserId"] == server.account_id


def test_request_id_header_matches_body(sqlite_server: TesseraServer) -> None:
    url = sqlite_server.endpoint + "/"
    status, headers, body = raw(sqlite_server, STS_BODY, signed_headers(STS_BODY, url=url))
    assert status == 200
    request_id = {k.lower(): v for k, v in headers.items()}["x-amzn-requestid"]
    assert f"<RequestId>{request_id}</RequestId>" in body


@pytest.mark.parametrize(
    ("mutate", "code", "status"),
    [
        (lambda h: h.pop("Authorization"), "MissingAuthenticationToken", 403),
        (
            lambda h: h.update(Authorization=h["Authorization"][:-4] + ("0000" if h["Authorization"][-4:] != "0000" else "1111")),
            "SignatureDoesNotMatch",
            403,
        ),
        (lambda h: h.update(Authorization=h["Authorization"].replace(ROOT_KEY_ID, "AKIAUNKNOWNKEY000000")), "InvalidClientTokenId", 403),
        (lambda h: h.update(Authorization=h["Authorization"].split(", Signature=")[0]), "IncompleteSignature", 400),
    ],
    ids=["missing", "bad-signature", "unknown-key", "no-signature-part"],
)
def test_authentication_failures(sqlite_server: TesseraServer, mutate: Any, code: str, status: int) -> None:
    headers = signed_headers(STS_BODY, url=sqlite_server.endpoint + "/")
    mutate(headers)
    got_status, _, body = raw(sqlite_server, STS_BODY, headers)
    assert (got_status, error_code(body)) == (status, code)


def test_wrong_secret_is_signature_mismatch(sqlite_server: TesseraServer) -> None:
    headers = signed_headers(STS_BODY, secret="x" * 40, url=sqlite_server.endpoint + "/")
    status, _, body = raw(sqlite_server, STS_BODY, headers)
    assert (status, error_code(body)) == (403, "SignatureDoesNotMatch")


def test_signature_outside_clock_skew_window(sqlite_server: TesseraServer) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    headers = signed_headers(STS_BODY, when=old, url=sqlite_server.endpoint + "/")
    status, _, body = raw(sqlite_server, STS_BODY, headers)
    assert (status, error_code(body)) == (403, "SignatureDoesNotMatch")
    assert "Signature expired" in body


def test_altered_body_is_refused(sqlite_server: TesseraServer) -> None:
    headers = signed_headers(STS_BODY, url=sqlite_server.endpoint + "/")
    status, _, body = raw(sqlite_server, STS_BODY + "&Extra=1", headers)
    assert (status, error_code(body)) == (403, "SignatureDoesNotMatch")


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"\xff\xfe\x00garbage=%%%", {"Content-Type": "application/x-www-form-urlencoded"}),
        (b"<xml>not a form</xml>", {"Content-Type": "text/xml"}),
        (b"Action=GetCallerIdentity&Version=2011-06-15", {"Authorization": "AWS4-HMAC-SHA256 nonsense"}),
        (b"Action=GetCallerIdentity&Version=2011-06-15", {"Authorization": "Basic Zm9vOmJhcg=="}),
        (b"{not json", {"X-Amz-Target": "AWSOrganizationsV20161128.ListRoots", "Content-Type": "application/x-amz-json-1.1"}),
    ],
    ids=["binary-garbage", "xml-body", "broken-authorization", "basic-auth", "broken-json"],
)
def test_malformed_requests_get_4xx_and_server_keeps_serving(sqlite_server: TesseraServer, body: bytes, headers: dict[str, str]) -> None:
    status, _response_headers, text = raw(sqlite_server, body, headers)
    assert 400 <= status < 500, text
    if "X-Amz-Target" in headers:
        assert json.loads(text)["__type"]
    else:
        assert "<ErrorResponse" in text and "<Code>" in text, text
    assert sqlite_server.client("sts").get_caller_identity()["Account"] == sqlite_server.account_id


def test_huge_body_is_refused(sqlite_server: TesseraServer) -> None:
    status, _, text = raw(sqlite_server, b"Action=GetCallerIdentity&" + b"a=" + b"x" * (2 << 20))
    assert status == 413
    assert "<Code>RequestEntityTooLarge</Code>" in text
    assert sqlite_server.client("sts").get_caller_identity()["Account"] == sqlite_server.account_id


def test_huge_query_string_is_refused(sqlite_server: TesseraServer) -> None:
    # the HTTP layer refuses a request line beyond --max-header-bytes before the app sees it
    # (and closes the connection without reading the rest, so a client still sending may
    # see the reset before the 431, as tests/attack/test_resource_exhaustion.py allows)
    url = f"{sqlite_server.endpoint}/?Action=GetCallerIdentity&a={'x' * (2 << 20)}"
    status = _refusal(url)
    assert status in (431, 0)  # 0: reset before the answer was read
    assert sqlite_server.client("sts").get_caller_identity()["Account"] == sqlite_server.account_id


def test_unknown_action_is_invalid_action(sqlite_server: TesseraServer) -> None:
    body = "Action=FlyToTheMoon&Version=2011-06-15"
    status, _, text = raw(sqlite_server, body, signed_headers(body, url=sqlite_server.endpoint + "/"))
    assert (status, error_code(text)) == (400, "InvalidAction")


def test_metrics_count_requests_and_decisions(fresh_server: Any) -> None:
    metrics_port = free_port()
    server = fresh_server(extra_args=["--metrics-listen", f"127.0.0.1:{metrics_port}"])
    server.client("sts").get_caller_identity()
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30) as resp:
        status, text = resp.status, resp.read().decode()
    assert status == 200
    assert 'tessera_requests_total{operation="GetCallerIdentity",outcome="success",service="sts"}' in text
    assert "tessera_request_duration_seconds_bucket" in text
    assert "tessera_audit_backlog" in text


def test_generated_root_keys_are_saved_once_with_mode_0600(fresh_server: Any, tmp_path: Any) -> None:
    server = fresh_server(env_extra={"TESSERA_ROOT_ACCESS_KEY_ID": "", "TESSERA_ROOT_SECRET_ACCESS_KEY": "", "TESSERA_ACCOUNT_ID": ""})
    path = os.path.join(server.data_dir, "root-credentials")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_SHARED_CREDENTIALS_FILE"] = path
    code = (
        "import boto3,sys;"
        f"c=boto3.client('sts',endpoint_url='{server.endpoint}',region_name='us-east-1');"
        "print(c.get_caller_identity()['Arn'])"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(":root")
    assert "aws_secret_access_key" in server.log()
    before = read_text(path)
    server.restart(extra_env={"TESSERA_ROOT_ACCESS_KEY_ID": "", "TESSERA_ROOT_SECRET_ACCESS_KEY": "", "TESSERA_ACCOUNT_ID": ""})
    assert read_text(path) == before  # the second start neither regenerates nor rewrites
    # the first start is in the trail (once): the account, where its root key came from
    # (the key's id, never its secret), and the first session-token key
    key_id = before.split("aws_access_key_id = ")[1].split()[0]
    secret = before.split("aws_secret_access_key = ")[1].split()[0]
    trail = subprocess.run(
        [sys.executable, "-m", "tessera", "audit", "--data-dir", server.data_dir, "--json"], capture_output=True, text=True, timeout=60
    ).stdout
    assert secret not in trail
    events = [json.loads(line) for line in trail.splitlines()]
    (created,) = [e for e in events if e["eventName"] == "CreateAccount"]
    assert created["eventType"] == "AwsServiceEvent" and created["userAgent"] == "tessera serve"
    assert created["serviceEventDetails"]["rootAccessKeyId"] == key_id and created["serviceEventDetails"]["rootKeyGenerated"] is True
    (first_key,) = [e for e in events if e["eventName"] == "CreateKey"]
    assert first_key["recipientAccountId"] == created["recipientAccountId"] == created["serviceEventDetails"]["accountId"]


def test_state_survives_restart(fresh_server: Any) -> None:
    for backend in ("sqlite", "postgres"):
        server = fresh_server(backend)
        server.client("iam").create_user(UserName="persisted")
        server.restart()
        assert server.client("iam").get_user(UserName="persisted")["User"]["UserName"] == "persisted"


def test_audit_trail_records_allowed_and_failed_calls(fresh_server: Any) -> None:
    server = fresh_server()
    server.client("sts").get_caller_identity()
    with pytest.raises(ClientError):
        server.client("iam").get_user(UserName="nobody-here")
    assert server.stop() == 0  # graceful shutdown flushes the trail
    out = subprocess.run(
        [sys.executable, "-m", "tessera", "audit", "--data-dir", server.data_dir, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    names = [(r["eventName"], r.get("errorCode")) for r in records]
    assert ("GetCallerIdentity", None) in names
    assert ("GetUser", "NoSuchEntity") in names
    gci = next(r for r in records if r["eventName"] == "GetCallerIdentity")
    assert gci["userIdentity"]["type"] == "Root"
    assert gci["userIdentity"]["accountId"] == server.account_id
    assert gci["eventSource"] == "sts.amazonaws.com"
    table = subprocess.run(
        [sys.executable, "-m", "tessera", "audit", "--data-dir", server.data_dir, "--errors-only"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "NoSuchEntity" in table.stdout and "GetCallerIdentity" not in table.stdout


def test_global_services_are_recorded_in_us_east_1(fresh_server: Any) -> None:
    """IAM and Organizations are global: CloudTrail records their events in us-east-1
    whatever region the client signed for; STS is regional."""
    server = fresh_server()
    region = "eu-west-1"
    server.client("iam", region_name=region).list_users()
    with pytest.raises(ClientError):
        server.client("organizations", region_name=region).describe_organization()
    server.client("sts", region_name=region).get_caller_identity()
    assert server.stop() == 0  # flushes the trail
    out = subprocess.run(
        [sys.executable, "-m", "tessera", "audit", "--data-dir", server.data_dir, "--json"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    regions = {r["eventName"]: r["awsRegion"] for r in map(json.loads, out.stdout.splitlines())}
    assert regions["ListUsers"] == "us-east-1"
    assert regions["DescribeOrganization"] == "us-east-1"
    assert regions["GetCallerIdentity"] == region


def test_secrets_never_reach_the_audit_trail_or_logs(fresh_server: Any) -> None:
    server = fresh_server()
    iam = server.client("iam")
    iam.create_user(UserName="keyholder")
    secret = iam.create_access_key(UserName="keyholder")["AccessKey"]["SecretAccessKey"]
    server.stop()
    out = subprocess.run(
        [sys.executable, "-m", "tessera", "audit", "--data-dir", server.data_dir, "--json"], capture_output=True, text=True, timeout=60
    )
    assert secret not in out.stdout
    assert "HIDDEN_DUE_TO_SECURITY_REASONS" in out.stdout
    assert secret not in server.log()
    for name in os.listdir(server.data_dir):
        path = os.path.join(server.data_dir, name)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                assert secret.encode() not in handle.read()


def presigned_url(server: TesseraServer, creds: Credentials, expires: int = 300) -> str:
    """boto3's pre-signed URL; for Query-protocol services botocore signs it for POST."""
    client = server.client("sts", creds)
    return client.generate_presigned_url("get_caller_identity", ExpiresIn=expires)


def presigned_get_url(server: TesseraServer, creds: Credentials, expires: int = 300) -> str:
    """A pre-signed GET, as Kubernetes and Vault build them to prove an identity."""
    request = AWSRequest(method="GET", url=f"{server.endpoint}/?Action=GetCallerIdentity&Version=2011-06-15")
    SigV4QueryAuth(
        BotoCredentials(creds.access_key_id, creds.secret_access_key, creds.session_token), "sts", "us-east-1", expires=expires
    ).add_auth(request)
    return str(request.url)


def _refusal(url: str) -> int:
    """The status a GET of ``url`` is answered with, or 0 when the connection was reset
    first; any other failure is raised."""
    try:
        return fetch(url, "GET")[0]
    except ConnectionError:
        return 0
    except urllib.error.URLError as error:
        if isinstance(error.reason, ConnectionError):
            return 0
        raise


def fetch(url: str, method: str) -> tuple[int, str]:
    request = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_presigned_requests_authenticate(server: TesseraServer) -> None:
    for url, method in ((presigned_url(server, server.root), "POST"), (presigned_get_url(server, server.root), "GET")):
        status, body = fetch(url, method)
        assert status == 200, body
        assert f"<Arn>arn:aws:iam::{server.account_id}:root</Arn>" in body


def test_botocore_presigned_get_caller_identity_answers_a_plain_get(server: TesseraServer) -> None:
    """botocore signs ``generate_presigned_url("get_caller_identity")`` for POST; the tools
    that verify an identity fetch it with a plain GET, which Tessera accepts for this one
    operation (docs/sts.md)."""
    session = Credentials.from_response(server.client("sts").get_session_token(DurationSeconds=900)["Credentials"])
    for creds, arn in ((server.root, f"arn:aws:iam::{server.account_id}:root"), (session, f"arn:aws:iam::{server.account_id}:root")):
        status, body = fetch(presigned_url(server, creds), "GET")
        assert status == 200 and f"<Arn>{arn}</Arn>" in body, body


def test_presigned_url_is_otherwise_bound_to_its_method(sqlite_server: TesseraServer) -> None:
    """Only GetCallerIdentity, fetched with no body, takes a POST signature for a GET: any
    other operation, a GET-signed URL sent as POST, and a GET with a body stay refused."""
    client = sqlite_server.client("sts", sqlite_server.root)
    other = client.generate_presigned_url("get_session_token", ExpiresIn=300)  # signed for POST
    status, body = fetch(other, "GET")
    assert (status, error_code(body)) == (403, "SignatureDoesNotMatch")
    status, body = fetch(presigned_get_url(sqlite_server, sqlite_server.root), "POST")
    assert (status, error_code(body)) == (403, "SignatureDoesNotMatch")
    request = urllib.request.Request(presigned_url(sqlite_server, sqlite_server.root), data=b"x=1", method="GET")
    request.add_header("content-type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body = response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read().decode()
    assert (status, error_code(body)) == (403, "SignatureDoesNotMatch")


def test_presigned_url_with_session_token_authenticates(server: TesseraServer) -> None:
    session = Credentials.from_response(server.client("sts").get_session_token(DurationSeconds=900)["Credentials"])
    url = presigned_get_url(server, session)
    assert "X-Amz-Security-Token" in url
    status, body = fetch(url, "GET")
    assert status == 200 and f"<Account>{server.account_id}</Account>" in body


def test_expired_presigned_url_is_refused(fresh_server: Any) -> None:
    server = fresh_server()
    url = presigned_get_url(server, server.root, expires=60)
    server.restart(extra_env={"TESSERA_CLOCK_OFFSET_SECONDS": "120"})  # the server's clock is 2 minutes on
    status, body = fetch(
        url.replace("127.0.0.1:", "127.0.0.1:").rsplit("/?", 1)[0].rsplit(":", 1)[0] + f":{server.port}/?" + url.split("?", 1)[1], "GET"
    )
    assert (status, error_code(body)) == (403, "AccessDenied") or error_code(body) == "SignatureDoesNotMatch"
    assert "expired" in body.lower()


def test_tampered_presigned_url_is_refused(sqlite_server: TesseraServer) -> None:
    url = presigned_get_url(sqlite_server, sqlite_server.root).replace("GetCallerIdentity", "GetSessionToken")
    status, body = fetch(url, "GET")
    assert (status, error_code(body)) == (403, "SignatureDoesNotMatch")


def test_json_logs_carry_the_request_id_the_client_sees(fresh_server: Any) -> None:
    server = fresh_server()
    server.stop()
    server.start(args=["--log-format", "json"])
    response = server.client("sts").get_caller_identity()
    request_id = response["ResponseMetadata"]["RequestId"]
    server.stop()
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    access = [line for line in lines if line.get("request_id") == request_id]
    assert access and access[0]["operation"] == "GetCallerIdentity" and access[0]["status"] == 200
    assert all(ROOT_SECRET not in json.dumps(line) for line in lines)


def test_audit_command_filters_by_principal_event_and_time(fresh_server: Any) -> None:
    server = fresh_server()
    alice = server.make_user("alice")
    server.client("sts", alice).get_caller_identity()
    server.client("sts").get_caller_identity()
    server.stop()

    def audit(*args: str) -> list[dict[str, Any]]:
        out = subprocess.run(
            [sys.executable, "-m", "tessera", "audit", "--data-dir", server.data_dir, "--json", *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        return [json.loads(line) for line in out.stdout.splitlines()]

    alice_arn = f"arn:aws:iam::{server.account_id}:user/alice"
    by_alice = audit("--principal", alice_arn)
    assert [r["eventName"] for r in by_alice] == ["GetCallerIdentity"]
    assert by_alice[0]["userIdentity"]["userName"] == "alice"
    assert {r["userIdentity"]["accessKeyId"] for r in audit("--principal", alice.access_key_id)} == {alice.access_key_id}
    assert {r["eventName"] for r in audit("--event-name", "CreateUser")} == {"CreateUser"}
    assert audit("--start", "2999-01-01T00:00:00Z") == []
    assert len(audit("--end", "2999-01-01T00:00:00Z")) >= 4
    bad = subprocess.run(
        [sys.executable, "-m", "tessera", "audit", "--data-dir", server.data_dir, "--start", "yesterday"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "tessera audit:" in bad.stderr
