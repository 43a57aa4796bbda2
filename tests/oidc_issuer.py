"""A real OpenID Connect issuer for tests: HTTPS on loopback with its own CA made at
test time (trustme), serving discovery and a JWKS, signing ID tokens with PyJWT.

    issuer = OidcIssuer().start()          # https://127.0.0.1:PORT/tenant
    token = issuer.sign({"sub": "alice", "aud": "my-app"})   # iss, iat, exp filled in
    issuer.rotate()                        # a new current key; the old one stays published
    issuer.request_count                   # HTTP requests served (discovery + JWKS)
    issuer.ca_pem, issuer.ca_file(tmp)     # the root CA, for TESSERA_OIDC_CA_BUNDLE
    issuer.thumbprint                      # SHA-1 of the top certificate the server presents
    issuer.stop()

The server presents its certificate and the intermediate CA that issued it; the root
stays out of the chain, as most servers do, so ``thumbprint`` is the intermediate's.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import ssl
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

__all__ = ["OidcIssuer"]


class OidcIssuer:
    def __init__(
        self,
        *,
        path: str = "/tenant",
        alg: str = "RS256",
        cache_control: str = "max-age=300",
        host: str = "127.0.0.1",
        chunked: bool = False,
    ) -> None:
        self.path = path.rstrip("/")
        self.chunked = chunked  # answer with Transfer-Encoding: chunked
        self.host = host
        self.cache_control = cache_control
        self.ca = trustme.CA()
        self.intermediate = self.ca.create_child_ca()
        self.server_cert = self.intermediate.issue_cert(host)
        self.keys: dict[str, tuple[str, Any]] = {}  # kid -> (alg, private key)
        self.kid = ""
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.rotate(alg)

    # -- lifecycle ----------------------------------------------------------------------
    def start(self, port: int = 0) -> OidcIssuer:
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with issuer._lock:
                    issuer.requests.append(self.path)
                status, body, headers = issuer._answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if issuer.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if issuer.chunked:  # in pieces of 100 bytes, as many servers stream JSON
                    for start in range(0, len(body), 100):
                        piece = body[start : start + 100]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer((self.host, port), Handler)
        server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_cert.configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="oidc-issuer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OidcIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what it is -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "start() the issuer first"
        return int(self._server.server_address[1])

    @property
    def issuer(self) -> str:
        """``https://127.0.0.1:PORT/tenant``: the ``iss`` of its tokens."""
        return f"https://{self.host}:{self.port}{self.path}"

    @property
    def provider_url(self) -> str:
        """What CreateOpenIDConnectProvider takes as Url (the issuer)."""
        return self.issuer

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert_pem.bytes()

    def ca_file(self, directory: Path) -> Path:
        path = directory / "oidc-ca.pem"
        path.write_bytes(self.ca_pem)
        return path

    @property
    def thumbprint(self) -> str:
        """Lower-case hex SHA-1 of the top certificate the server presents (the intermediate)."""
        top = x509.load_pem_x509_certificate(self.intermediate.cert_pem.bytes())
        from cryptography.hazmat.primitives.serialization import Encoding

        return hashlib.sha1(top.public_bytes(Encoding.DER)).hexdigest()

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    # -- keys and tokens ---------------------------------------------------------------------
    def rotate(self, alg: str = "RS256", *, drop_old: bool = False) -> str:
        """Make a new current signing key (published at once); returns its kid."""
        key: Any = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if alg[:2] in ("RS", "PS")
            else ec.generate_private_key({"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[alg])
        )
        kid = f"key-{len(self.keys) + 1}"
        with self._lock:
            if drop_old:
                self.keys.clear()
            self.keys[kid] = (alg, key)
            self.kid = kid
        return kid

    def jwks(self) -> dict[str, Any]:
        published = []
        with self._lock:
            entries = list(self.keys.items())
        for kid, (alg, key) in entries:
            encoder = RSAAlgorithm if alg[:2] in ("RS", "PS") else ECAlgorithm
            jwk = encoder.to_jwk(key.public_key(), as_dict=True)
            jwk.update({"kid": kid, "use": "sig", "alg": alg})
            published.append(jwk)
        return {"keys": published}

    def public_pem(self, kid: str | None = None) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        _, key = self.keys[kid or self.kid]
        return bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))

    def claims(self, claims: Mapping[str, Any] | None = None, *, now: float | None = None, lifetime: int = 600) -> dict[str, Any]:
        at = int(time.time() if now is None else now)
        full: dict[str, Any] = {"iat": at, "exp": at + lifetime, **(claims or {})}
        if "iss" not in full:
            full["iss"] = self.issuer
        return full

    def sign(
        self,
        claims: Mapping[str, Any] | None = None,
        *,
        kid: str | None = None,
        now: float | None = None,
        lifetime: int = 600,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        """An ID token with ``claims`` over ``iss``/``iat``/``exp`` (``now`` + ``lifetime``),
        signed with key ``kid`` (the current key by default)."""
        kid = kid or self.kid
        alg, key = self.keys[kid]
        return jwt.encode(self.claims(claims, now=now, lifetime=lifetime), key, algorithm=alg, headers={"kid": kid, **(headers or {})})

    # -- serving ---------------------------------------------------------------------------------
    def _answer(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        if path == f"{self.path}/.well-known/openid-configuration":
            document = {
                "issuer": self.issuer,
                "jwks_uri": f"{self.issuer}/jwks",
                "id_token_signing_alg_values_supported": sorted({alg for alg, _ in self.keys.values()}),
            }
            return 200, json.dumps(document).encode(), {}
        if path == f"{self.path}/jwks":
            return 200, json.dumps(self.jwks()).encode(), {"Cache-Control": self.cache_control}
        return 404, b'{"error":"not found"}', {}
