"""An independent OpenID provider for end-to-end tests: the npm ``oidc-provider`` package
(OpenID certified) run by ``tests/js/oidc_idp.mjs`` over HTTPS on loopback.

Its server certificate comes from a CA made here with ``trustme``; the CA's PEM file is
what Tessera is told to trust. A workload gets its token as a machine client does, with
the OAuth 2.0 client_credentials grant at the discovered token endpoint: a JWT access
token signed RS256, whose key is in the JWKS at the discovered ``jwks_uri``, ``sub`` the
client id and ``aud`` the audience the provider was started with.
"""

from __future__ import annotations

import base64
import json
import os
import selectors
import shutil
import ssl
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

JS = Path(__file__).resolve().parent / "js"
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str


@dataclass
class OpenIDProvider:
    """A running ``oidc-provider`` and how to reach it."""

    issuer: str
    ca_file: Path
    ca_pem: bytes
    audience: str
    clients: tuple[Client, ...]
    process: subprocess.Popen[str]

    @property
    def host(self) -> str:
        """The issuer without its scheme: what IAM's provider ARN and condition keys name."""
        return self.issuer.removeprefix("https://")

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.issuer + path, timeout=10, context=self.ssl_context()) as response:
            return json.load(response)

    def discovery(self) -> dict[str, Any]:
        document: dict[str, Any] = self.get("/.well-known/openid-configuration")
        return document

    def token(self, client_id: str | None = None) -> str:
        """A fresh JWT access token for ``client_id`` (the first client by default)."""
        client = next(c for c in self.clients if client_id in (None, c.client_id))
        basic = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()
        request = urllib.request.Request(
            self.discovery()["token_endpoint"],
            data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
            headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        )
        with urllib.request.urlopen(request, timeout=10, context=self.ssl_context()) as response:
            return str(json.load(response)["access_token"])

    def jwks_requests(self) -> int:
        """How many times the JWKS document has been fetched so far."""
        return int(self.get("/test/jwks-requests")["count"])

    def ca_thumbprint(self) -> str:
        """SHA-1 of the last certificate the server presents, the CA's (hex, lower case):
        what IAM's ThumbprintList holds for this provider. See
        https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc_verify-thumbprint.html"""
        certificate = x509.load_pem_x509_certificate(self.ca_pem)
        return certificate.fingerprint(hashes.SHA1()).hex()


def signing_jwk(key: rsa.RSAPrivateKey) -> dict[str, str]:
    """The provider's private signing key as a JWK (RFC 7518 section 6.3)."""
    private = key.private_numbers()
    public = private.public_numbers

    def uint(value: int) -> str:
        return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()

    fields = {"n": public.n, "e": public.e, "d": private.d, "p": private.p, "q": private.q}
    fields |= {"dp": private.dmp1, "dq": private.dmq1, "qi": private.iqmp}
    return {"kty": "RSA", "kid": "idp-rs256-1", "alg": "RS256", "use": "sig"} | {k: uint(v) for k, v in fields.items()}


def _first_line(process: subprocess.Popen[str], timeout: float, log: Path) -> str:
    """The one line the provider prints once it listens, within ``timeout`` seconds."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout)
    line = process.stdout.readline() if ready else ""
    if not line:
        raise RuntimeError(f"oidc_idp.mjs did not start within {timeout:g}s (exit status {process.poll()}): {log.read_text()}")
    return line


def claims(token: str) -> dict[str, Any]:
    """The payload of a JWT (unverified: for assertions only)."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


@contextmanager
def openid_provider(
    directory: Path,
    clients: Sequence[Client],
    *,
    audience: str = "sts.amazonaws.com",
    host: str = "127.0.0.1",
) -> Iterator[OpenIDProvider]:
    """Start the provider (certificate for 127.0.0.1 and localhost from a new CA whose
    PEM is written to ``directory/idp-ca.pem``) and stop it on exit."""
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("oidc-provider is not installed: run `make test` (npm ci --prefix tests/js)")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca_file, cert_file, key_file = directory / "idp-ca.pem", directory / "idp-cert.pem", directory / "idp-key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    # the chain as servers present it: the leaf, then the CA that signed it (what IAM's
    # thumbprint names: the last certificate of the presented chain)
    cert_file.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems) + ca.cert_pem.bytes())
    leaf.private_key_pem.write_to_path(str(key_file))
    jwk_file = directory / "idp-signing-jwk.json"
    jwk_file.write_text(json.dumps(signing_jwk(rsa.generate_private_key(public_exponent=65537, key_size=2048))))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        IDP_CERT=str(cert_file),
        IDP_KEY=str(key_file),
        IDP_SIGNING_JWK=str(jwk_file),
        IDP_HOST=host,
        IDP_AUDIENCE=audience,
        IDP_CLIENTS=json.dumps([{"client_id": c.client_id, "client_secret": c.client_secret} for c in clients]),
    )
    log = (directory / "idp.log").open("w")
    process = subprocess.Popen([node, "oidc_idp.mjs"], cwd=JS, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        issuer = json.loads(_first_line(process, START_TIMEOUT, directory / "idp.log"))["issuer"]
        yield OpenIDProvider(issuer, ca_file, ca.cert_pem.bytes(), audience, tuple(clients), process)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        log.close()


def register(iam: Any, idp: OpenIDProvider, *, thumbprint: bool = True) -> str:
    """The provider registered in IAM (once: a second call finds it), trusted by its CA's
    thumbprint unless ``thumbprint`` is false (then the server must trust the CA file);
    returns its ARN."""
    thumbprints = [idp.ca_thumbprint()] if thumbprint else []
    try:
        created = iam.create_open_id_connect_provider(Url=idp.issuer, ClientIDList=[idp.audience], ThumbprintList=thumbprints)
        return str(created["OpenIDConnectProviderArn"])
    except iam.exceptions.EntityAlreadyExistsException:
        arns = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
        return next(arn for arn in arns if arn.endswith(f":oidc-provider/{idp.host}"))


def web_identity_trust(provider_arn: str, conditions: dict[str, str]) -> str:
    """A trust policy letting ``provider_arn``'s tokens assume the role when every
    ``StringEquals`` condition (``HOST:sub``, ``HOST:aud``...) holds."""
    statement = {
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": conditions},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})
