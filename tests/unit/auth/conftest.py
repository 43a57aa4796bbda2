"""Shared fixtures for the auth tests: botocore as the signing oracle, a real in-memory
credential resolver, and the conversion of a botocore-prepared request into what the
server receives (raw path and query, lower-cased joined headers, body bytes)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tessera.auth.authenticate import HttpRequest, ResolvedCredential, headers_from_raw
from tessera.auth.caller import Caller
from tessera.errors import InvalidClientTokenId

ACCESS_KEY = "AKIAQYLPMN5HHHFPZAM2"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_KEY = "ASIAQYLPMN5HFIQR7XYZ"
SESSION_SECRET = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
SESSION_TOKEN = "AQoDYXdzEJr//////////wEa8AL+session=token/with~odd%chars"
FORM = "application/x-www-form-urlencoded; charset=utf-8"

ALICE = Caller("user", "123456789012", "arn:aws:iam::123456789012:user/alice", "AIDAQYLPMN5HEXAMPLE1", "alice", ACCESS_KEY)
SESSION = Caller(
    "assumed-role",
    "123456789012",
    "arn:aws:sts::123456789012:assumed-role/deploy/ci",
    "AROAQYLPMN5HEXAMPLE2:ci",
    "deploy",
    SESSION_KEY,
)


@dataclass
class KeyTable:
    """A resolver over a dict, with the rules the real one (``tessera.services.credentials``)
    follows: an unknown key, or a session token that is not the key's, is InvalidClientTokenId."""

    keys: dict[str, tuple[str, Caller, str | None]]

    def resolve(self, access_key_id: str, security_token: str | None) -> ResolvedCredential:
        entry = self.keys.get(access_key_id)
        if entry is None or entry[2] != security_token:
            raise InvalidClientTokenId()
        return ResolvedCredential(entry[0], entry[1])


@pytest.fixture
def resolver() -> KeyTable:
    return KeyTable({ACCESS_KEY: (SECRET, ALICE, None), SESSION_KEY: (SESSION_SECRET, SESSION, SESSION_TOKEN)})


@dataclass(frozen=True)
class Signed:
    canonical_request: str
    string_to_sign: str


class Oracle:
    """botocore's signers, and the wire in between: sign a request the way boto3 does,
    then hand the server exactly what it would receive."""

    ACCESS_KEY = ACCESS_KEY
    SECRET = SECRET
    SESSION_KEY = SESSION_KEY
    SESSION_TOKEN = SESSION_TOKEN
    FORM = FORM
    ALICE = ALICE
    SESSION = SESSION

    @staticmethod
    def credentials(session: bool) -> Credentials:
        return Credentials(SESSION_KEY, SESSION_SECRET, SESSION_TOKEN) if session else Credentials(ACCESS_KEY, SECRET)

    def sign_header(self, request: AWSRequest, service: str, *, session: bool = False, region: str = "us-east-1") -> Signed:
        """Sign with botocore's ``SigV4Auth``, keeping the artefacts it signed."""
        auth = SigV4Auth(self.credentials(session), service, region)
        auth.add_auth(request)
        header = request.headers["Authorization"]
        del request.headers["Authorization"]  # botocore would otherwise sign it too
        signed = Signed(auth.canonical_request(request), auth.string_to_sign(request, auth.canonical_request(request)))
        request.headers["Authorization"] = header
        return signed

    def sign_query(
        self, request: AWSRequest, service: str, *, session: bool = False, expires: int = 3600, region: str = "us-east-1"
    ) -> Signed:
        """Presign with botocore's ``SigV4QueryAuth``, keeping the artefacts it signed."""
        auth = SigV4QueryAuth(self.credentials(session), service, region, expires=expires)
        auth.add_auth(request)
        url = request.url
        request.url = url[: url.rindex("&X-Amz-Signature=")]
        signed = Signed(auth.canonical_request(request), auth.string_to_sign(request, auth.canonical_request(request)))
        request.url = url
        return signed

    @staticmethod
    def received(request: AWSRequest) -> HttpRequest:
        """What the server sees once botocore's request has crossed the wire."""
        prepared = request.prepare()
        url = urlsplit(prepared.url)
        raw_headers = list(prepared.headers.items())
        if not any(name.lower() == "host" for name, _ in raw_headers):
            raw_headers.append(("Host", url.netloc))  # the HTTP client adds it; botocore signed it
        body = prepared.body or b""
        return HttpRequest(
            prepared.method,
            url.path,
            url.query.encode(),
            headers_from_raw(raw_headers),
            body.encode() if isinstance(body, str) else body,
        )

    @staticmethod
    def signed_at(request: AWSRequest) -> dt.datetime:
        """The instant botocore signed at: it reads its own clock, and the tests move ``now``."""
        return dt.datetime.strptime(request.context["timestamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


@pytest.fixture
def oracle() -> Oracle:
    return Oracle()
