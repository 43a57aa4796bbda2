"""Third parties verifying a caller's identity with a presigned GetCallerIdentity, end to
end: the runnable example of docs/sts.md ("Verifying a caller's identity from another
service") executed as written, aws-iam-authenticator's replay (GET, ``x-k8s-aws-id``
signed, ``X-Amz-Expires=60``, ``Accept: application/json``) and Vault's (a header-signed
POST replayed from its method, URL, headers and body), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from serverproc import Credentials, TesseraServer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sts.md"
SECTION = "## Verifying a caller's identity from another service"


def documented_example(endpoint: str) -> dict[str, Any]:
    """The section's Python block, run as a module against ``endpoint``."""
    text = DOCS.read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", len(SECTION))]
    code = re.search(r"^```python\n(.*?)^```", section, re.S | re.M)
    assert code is not None, "the section must carry a runnable Python example"
    source = code.group(1)
    assert 'TESSERA = "http://127.0.0.1:8686"' in source
    namespace: dict[str, Any] = {"__name__": "documented_example"}
    exec(compile(source.replace("http://127.0.0.1:8686", endpoint), str(DOCS), "exec"), namespace)
    return namespace


def session_of(creds: Credentials) -> boto3.Session:
    return boto3.Session(creds.access_key_id, creds.secret_access_key, creds.session_token)


def status_of(request: urllib.request.Request) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def error_code(body: str) -> str:
    found = re.search(r"<Code>([^<]*)</Code>", body)
    return found.group(1) if found else ""


def test_documented_verifier_names_the_user_and_the_role_session(server: TesseraServer) -> None:
    example = documented_example(server.endpoint)
    iam = server.client("iam")
    user = f"verified-{server.port}"
    keys = server.make_user(
        user, {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    )
    identity = example["verify"](example["identity_token"](session_of(keys)))
    user_record = iam.get_user(UserName=user)["User"]
    assert identity == {"Account": server.account_id, "Arn": user_record["Arn"], "UserId": user_record["UserId"]}

    trust = {"Effect": "Allow", "Principal": {"AWS": user_record["Arn"]}, "Action": "sts:AssumeRole"}
    role = iam.create_role(
        RoleName=f"verified-role-{server.port}", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]})
    )
    assumed = server.client("sts", keys).assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="proof")
    session = Credentials.from_response(assumed["Credentials"])
    identity = example["verify"](example["identity_token"](session_of(session)))
    assert identity["Arn"] == assumed["AssumedRoleUser"]["Arn"]
    assert identity["UserId"] == assumed["AssumedRoleUser"]["AssumedRoleId"]


def test_documented_verifier_refuses_what_it_must(server: TesseraServer) -> None:
    example = documented_example(server.endpoint)
    token = example["identity_token"](session_of(server.root))
    url = base64.urlsafe_b64decode(token).decode()

    def token_of(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode()

    for forged in (
        url.replace(server.endpoint, "http://sts.evil.example"),  # another endpoint
        url.replace("Action=GetCallerIdentity", "Action=GetSessionToken"),  # another action
        url + "&DurationSeconds=900",  # an extra parameter
    ):
        with pytest.raises(PermissionError):
            example["verify"](token_of(forged))
    # Bound to another service: the header this service sends does not match the signature.
    example["SERVICE_ID"] = "billing.example.com"
    with pytest.raises(urllib.error.HTTPError) as refused:
        example["verify"](token)
    assert refused.value.code == 403 and error_code(refused.value.read().decode()) == "SignatureDoesNotMatch"
    # Without the binding at all, the verifier refuses before any request.
    unbound = session_of(server.root).client("sts", endpoint_url=server.endpoint, region_name="us-east-1")
    with pytest.raises(PermissionError):
        example["verify"](token_of(unbound.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")))


def kubernetes_token(server: TesseraServer, creds: Credentials, cluster: str) -> str:
    """aws-iam-authenticator's token: ``k8s-aws-v1.`` + base64url (unpadded) of a presigned
    GET with ``x-k8s-aws-id`` signed, valid 60 seconds."""
    sts = session_of(creds).client("sts", endpoint_url=server.endpoint, region_name="us-east-1")

    def bind(request: Any, **_: Any) -> None:
        request.headers["x-k8s-aws-id"] = cluster

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", bind)
    url = sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=60, HttpMethod="GET")
    assert "X-Amz-Expires=60" in url and "x-k8s-aws-id" in url
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def kubernetes_verify(token: str, cluster: str) -> tuple[int, str]:
    """The authenticator's side: GET the URL with the cluster id and ``Accept: application/json``."""
    encoded = token.removeprefix("k8s-aws-v1.")
    url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    return status_of(urllib.request.Request(url, headers={"x-k8s-aws-id": cluster, "accept": "application/json"}))


def test_kubernetes_authenticator_replay_reads_json(server: TesseraServer) -> None:
    status, body = kubernetes_verify(kubernetes_token(server, server.root, "prod"), "prod")
    assert status == 200, body
    answer = json.loads(body)["GetCallerIdentityResponse"]
    assert answer["GetCallerIdentityResult"] == {
        "UserId": server.account_id,
        "Account": server.account_id,
        "Arn": f"arn:aws:iam::{server.account_id}:root",
    }
    assert answer["ResponseMetadata"]["RequestId"]
    status, body = kubernetes_verify(kubernetes_token(server, server.root, "prod"), "staging")
    assert (status, error_code(body)) == (403, "SignatureDoesNotMatch")


def test_without_accept_json_the_answer_stays_xml(sqlite_server: TesseraServer) -> None:
    url = session_of(sqlite_server.root).client("sts", endpoint_url=sqlite_server.endpoint, region_name="us-east-1")
    presigned = url.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    for accept in (None, "*/*", "text/xml", "application/json;q=0"):
        headers = {"accept": accept} if accept else {}
        status, body = status_of(urllib.request.Request(presigned, headers=headers))
        assert status == 200 and body.startswith("<GetCallerIdentityResponse"), accept


def vault_login_data(server: TesseraServer, creds: Credentials, server_id: str) -> dict[str, str]:
    """What Vault's client sends to Vault: a header-signed POST GetCallerIdentity, encoded."""
    body = "Action=GetCallerIdentity&Version=2011-06-15"
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "X-Vault-AWS-IAM-Server-ID": server_id}
    request = AWSRequest(method="POST", url=f"{server.endpoint}/", data=body, headers=headers)
    SigV4Auth(BotoCredentials(creds.access_key_id, creds.secret_access_key, creds.session_token), "sts", "us-east-1").add_auth(request)
    assert "x-vault-aws-iam-server-id" in request.headers["Authorization"]
    return {
        "iam_http_request_method": "POST",
        "iam_request_url": base64.b64encode(str(request.url).encode()).decode(),
        "iam_request_body": base64.b64encode(body.encode()).decode(),
        "iam_request_headers": base64.b64encode(json.dumps({k: [v] for k, v in request.headers.items()}).encode()).decode(),
    }


def vault_verify(login: dict[str, str], expected_server_id: str) -> tuple[int, str]:
    """Vault's side: check the server id header, then replay method, URL, headers and body."""
    headers = {k: v[0] for k, v in json.loads(base64.b64decode(login["iam_request_headers"])).items()}
    if headers.get("X-Vault-AWS-IAM-Server-ID") != expected_server_id:
        return 400, "wrong server id"
    request = urllib.request.Request(
        base64.b64decode(login["iam_request_url"]).decode(),
        data=base64.b64decode(login["iam_request_body"]),
        headers=headers,
        method=login["iam_http_request_method"],
    )
    return status_of(request)


def test_vault_style_header_signed_post_is_replayed(server: TesseraServer) -> None:
    session = Credentials.from_response(server.client("sts").get_session_token(DurationSeconds=900)["Credentials"])
    status, body = vault_verify(vault_login_data(server, session, "vault.example.com"), "vault.example.com")
    assert status == 200, body
    assert f"<Arn>arn:aws:iam::{server.account_id}:root</Arn>" in body
    # The server id is signed: a client cannot move a proof made for one Vault to another.
    forged = vault_login_data(server, server.root, "vault.example.com")
    headers = json.loads(base64.b64decode(forged["iam_request_headers"]))
    headers["X-Vault-AWS-IAM-Server-ID"] = ["other-vault"]
    forged["iam_request_headers"] = base64.b64encode(json.dumps(headers).encode()).decode()
    status, body = vault_verify(forged, "other-vault")
    assert (status, error_code(body)) == (403, "SignatureDoesNotMatch")
