"""The attack suite's raw HTTP client: it signs (or deliberately mis-signs) requests the
way an attacker with a copy of boto3 would.

``RawClient.signed(...)`` builds a request with botocore's own SigV4 signer, lets the test
change it after signing (add unsigned headers, rewrite the body), and sends it over a plain
socket connection so nothing "helpful" is added or normalised on the way.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from policies import allow as allow
from policies import deny as deny
from policies import policy as policy
from policies import trust_account as trust_account
from serverproc import REGION, Credentials, TesseraServer

FORM = "application/x-www-form-urlencoded; charset=utf-8"
QUERY_VERSIONS = {"iam": "2010-05-08", "sts": "2011-06-15"}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def error_code(self) -> str:
        """The AWS error code of a Query (XML) or JSON error body; '' for a success."""
        text = self.text
        if "<Code>" in text:
            return text.split("<Code>", 1)[1].split("</Code>", 1)[0]
        if '"__type"' in text:
            kind = json.loads(text).get("__type", "")
            return str(kind).rpartition("#")[2]
        return ""


@dataclass
class Prepared:
    """A signed request that the test may still change before it is sent."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    extra_headers: list[tuple[str, str]] = field(default_factory=list)


class RawClient:
    def __init__(self, server: TesseraServer) -> None:
        self.server = server

    # -- building --------------------------------------------------------------------
    def signed(
        self,
        service: str,
        params: Mapping[str, str] | None = None,
        *,
        creds: Credentials | None = None,
        scope_service: str | None = None,
        region: str = REGION,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        method: str = "POST",
    ) -> Prepared:
        """A Query request (``params``, with Action/Version) or a raw ``body``, signed with
        SigV4 in the ``Authorization`` header for ``scope_service`` (default ``service``)."""
        creds = creds or self.server.root
        all_headers = {"Content-Type": FORM, **(headers or {})}
        if body is None:
            form = dict(params or {})
            if service in QUERY_VERSIONS:
                form.setdefault("Version", QUERY_VERSIONS[service])
            body = urllib.parse.urlencode(form).encode()
        request = AWSRequest(method, self.server.endpoint + "/", data=body, headers=all_headers)
        boto_creds = BotoCredentials(creds.access_key_id, creds.secret_access_key, creds.session_token)
        SigV4Auth(boto_creds, scope_service or service, region).add_auth(request)
        prepared = request.prepare()
        return Prepared(method, "/", "", dict(prepared.headers.items()), prepared.body or b"")

    def presigned_url(
        self,
        service: str,
        params: Mapping[str, str],
        *,
        creds: Credentials | None = None,
        expires: int = 900,
        region: str = REGION,
    ) -> str:
        """A presigned GET URL (signature in the query), as identity-proof logins hand out."""
        creds = creds or self.server.root
        form = dict(params)
        if service in QUERY_VERSIONS:
            form.setdefault("Version", QUERY_VERSIONS[service])
        url = self.server.endpoint + "/?" + urllib.parse.urlencode(form)
        request = AWSRequest("GET", url)
        boto_creds = BotoCredentials(creds.access_key_id, creds.secret_access_key, creds.session_token)
        SigV4QueryAuth(boto_creds, service, region, expires=expires).add_auth(request)
        return str(request.prepare().url)

    # -- sending ---------------------------------------------------------------------
    def send(self, prepared: Prepared, timeout: float = 30) -> Response:
        target = prepared.path + (f"?{prepared.query}" if prepared.query else "")
        return self.request(prepared.method, target, prepared.body, [*prepared.headers.items(), *prepared.extra_headers], timeout)

    def get(self, url: str, headers: Mapping[str, str] | None = None, timeout: float = 30) -> Response:
        parts = urllib.parse.urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.request("GET", target, b"", list((headers or {}).items()), timeout)

    def request(self, method: str, target: str, body: bytes, headers: list[tuple[str, str]], timeout: float = 30) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=timeout)
        try:
            connection.putrequest(method, target, skip_host=any(k.lower() == "host" for k, _ in headers), skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() != "content-length":
                    connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            reply = connection.getresponse()
            return Response(reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read())
        finally:
            connection.close()


# -- policy and identity helpers (the held-checks suite) -------------------------------
def caller_arn(raw: RawClient, creds: Credentials) -> str:
    """The ARN GetCallerIdentity answers for ``creds`` (raises AssertionError if refused)."""
    reply = raw.send(raw.signed("sts", {"Action": "GetCallerIdentity"}, creds=creds))
    assert reply.status == 200, reply.text
    return reply.text.split("<Arn>", 1)[1].split("</Arn>", 1)[0]


def error_code_of(call: object, **params: object) -> str:
    """The AWS error code a boto3 call fails with, or '' when it succeeds."""
    from botocore.exceptions import ClientError

    try:
        call(**params)  # type: ignore[operator]
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return ""


def distinct_session_policy(index: int) -> str:
    """A ~1 900-character session policy (under AWS's 2 048) that differs for every index."""
    statements = [
        {
            "Effect": "Allow",
            "Action": [f"s3:Get{index}x{i}*"],
            "Resource": f"arn:aws:s3:::b{index}-{i}/*",
            "Condition": {"StringLike": {"aws:UserAgent": f"*{index}?{i}*"}},
        }
        for i in range(12)
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":"))
