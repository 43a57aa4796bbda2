"""Keyless federation under load: AssumeRoleWithWebIdentity and the workload credentials
endpoint against the same ``tessera serve`` as AssumeRole, and a flood of tokens whose
key id the provider never published.

The identity provider is the bench's own (``Issuer``): an HTTPS server on loopback in
this process, its certificate from a CA made at start (``trustme``), serving OpenID
discovery and a JWKS with one RSA key, and counting the JWKS requests it answers. Tessera
trusts it by the CA certificate's thumbprint in the provider's ThumbprintList (the last
certificate the server presents), and through ``TESSERA_OIDC_CA_BUNDLE`` as well.

Tokens are RS256 JWTs signed here before the run, one per request target, each with its
own ``jti`` (AssumeRoleWithWebIdentity requests are unsigned GETs, so the token is the
only credential and no two requests are the same). The workload endpoint gets one token
in the ``Authorization`` header (what a pod's token file holds for an hour) and a
RoleSessionName of its own per target. The role trusts the provider with conditions on
``:aud`` and ``:sub``, like the AssumeRole trust policy's conditions.

The flood: tokens signed by the provider's key but naming a key id it never published,
sent as fast as wrk can at concurrency 16 for five refetch periods. Every one must be
refused; what matters is how often Tessera asks the provider for its JWKS meanwhile,
against its refetch limit.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

AUDIENCE = "sts.amazonaws.com"
SUBJECT = "repo:bench/app:ref:refs/heads/main"
KID = "bench-rs256-1"
TOKEN_LIFETIME = 3600
STS_VERSION = "2011-06-15"
ROLE = "bench-web-identity"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass
class Issuer:
    """The bench's OpenID provider: discovery and JWKS over HTTPS, an RSA signing key."""

    directory: Path
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))
    jwks_times: list[float] = field(default_factory=list)
    issuer: str = ""
    ca_file: Path = Path()
    thumbprint: str = ""

    @property
    def host(self) -> str:
        return self.issuer.removeprefix("https://")

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID, "n": _uint(numbers.n), "e": _uint(numbers.e)}
        return {"keys": [jwk]}

    def sign(self, claims: dict[str, Any], kid: str = KID) -> str:
        header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid}).encode())
        payload = _b64url(json.dumps(claims).encode())
        signature = self.key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{_b64url(signature)}"

    def token(self, kid: str = KID) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": SUBJECT,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "jti": uuid.uuid4().hex,
        }
        return self.sign(claims, kid)

    def jwks_requests_between(self, start: float, end: float) -> int:
        return sum(1 for t in list(self.jwks_times) if start <= t <= end)


@contextmanager
def issuer(directory: Path) -> Iterator[Issuer]:
    """An ``Issuer`` listening on a free loopback port until the block ends."""
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    idp = Issuer(directory)
    idp.ca_file = directory / "bench-idp-ca.pem"
    ca.cert_pem.write_to_path(str(idp.ca_file))
    chain = directory / "bench-idp-chain.pem"
    chain.write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems) + ca.cert_pem.bytes())
    key_file = directory / "bench-idp-key.pem"
    leaf.private_key_pem.write_to_path(str(key_file))
    idp.thumbprint = x509.load_pem_x509_certificate(ca.cert_pem.bytes()).fingerprint(hashes.SHA1()).hex()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                body: dict[str, Any] = {
                    "issuer": idp.issuer,
                    "jwks_uri": f"{idp.issuer}/jwks",
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "response_types_supported": ["id_token"],
                    "subject_types_supported": ["public"],
                }
            elif self.path == "/jwks":
                idp.jwks_times.append(time.monotonic())
                body = idp.jwks()
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(chain), str(key_file))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    idp.issuer = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="bench-idp", daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def trust_policy(provider_arn: str, host: str) -> str:
    """The role trusts the provider's tokens for the bench audience and repositories."""
    statement = {
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {f"{host}:aud": AUDIENCE},
            "StringLike": {f"{host}:sub": "repo:bench/*:ref:refs/heads/main"},
        },
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def provision(iam: Any, idp: Issuer) -> str:
    """The provider and the role in IAM; returns the role's ARN."""
    created = iam.create_open_id_connect_provider(Url=idp.issuer, ClientIDList=[AUDIENCE], ThumbprintList=[idp.thumbprint])
    provider_arn = created["OpenIDConnectProviderArn"]
    role = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=trust_policy(provider_arn, idp.host))
    return str(role["Role"]["Arn"])


def web_identity_targets(path: Path, idp: Issuer, role_arn: str, count: int, *, unknown_kid: bool = False) -> list[str]:
    """Unsigned AssumeRoleWithWebIdentity GETs, each with its own token (and, for the
    flood, its own never-published key id)."""
    targets = []
    for i in range(count):
        kid = f"unknown-{uuid.uuid4().hex}" if unknown_kid else KID
        params = {
            "Action": "AssumeRoleWithWebIdentity",
            "Version": STS_VERSION,
            "RoleArn": role_arn,
            "RoleSessionName": f"bench-{i:05d}",
            "WebIdentityToken": idp.token(kid),
        }
        targets.append(f"/?{urlencode(params)}")
    path.write_text("\n".join(targets) + "\n")
    return targets


def workload_targets(path: Path, role_arn: str, count: int) -> list[str]:
    """Workload credential fetches, each with its own session name."""
    targets = [f"/workload-credentials?{urlencode({'RoleArn': role_arn, 'RoleSessionName': f'bench-{i:05d}'})}" for i in range(count)]
    path.write_text("\n".join(targets) + "\n")
    return targets
