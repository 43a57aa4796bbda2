"""The README's examples run as written, in order, in one shell, against a real server
started the way `make run` starts it (generated root keys in `.tessera/`).

The changes made to the text are addresses: the test server listens on a free port
instead of 8686 (and the example notes service on another instead of 8700, with
`examples/` linked into the working directory), and the federation examples' identity providers are stand-ins on
loopback, so their hosts become the stand-ins' `127.0.0.1:PORT`:

- `token.actions.githubusercontent.com` is an OpenID Connect issuer on loopback
  (tests/oidc_issuer.py); GitHub's token service, which a job reaches through
  `ACTIONS_ID_TOKEN_REQUEST_URL` with `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, is a small HTTP
  server here that signs GitHub-shaped tokens (`sub` `repo:org/repo:ref:refs/heads/main`)
  with that issuer's key; the job's variables (and `GITHUB_RUN_ID`) are set as GitHub
  sets them.
- `oidc.k8s.example.com/cluster-1` is another such issuer, and `kubectl` on the PATH
  is a stand-in for `kubectl create token` that gets the service account's token from
  the same small server.

The server trusts the stand-ins' CA through `TESSERA_OIDC_CA_BUNDLE` (GitHub's and a
real cluster's certificates chain to public CAs, or are given by thumbprint).

The SAML example reads the IdP's metadata and a response it issued from files the
reader saves; here pysaml2 (tests/samlidp.py) is the IdP and writes both before the
script runs, the response naming the README's role and provider in the account the
server generated."""

from __future__ import annotations

import configparser
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from oidc_issuer import OidcIssuer
from samlidp import ATTR, Idp, role_pair
from serverproc import CLIENT_CONFIG, REGION, free_port

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.S | re.M)
GENERATED_ROOT = {"TESSERA_ROOT_ACCESS_KEY_ID": "", "TESSERA_ROOT_SECRET_ACCESS_KEY": "", "TESSERA_ACCOUNT_ID": ""}


GITHUB_HOST = "token.actions.githubusercontent.com"
K8S_HOST = "oidc.k8s.example.com"
K8S_PATH = "/cluster-1"
ACTIONS_REQUEST_TOKEN = "actions-request-token-for-the-readme"
KUBECTL = """#!{python}
# Stands in for `kubectl create token NAME --namespace NS --audience AUD` against a cluster.
import argparse, sys, urllib.parse, urllib.request
parser = argparse.ArgumentParser()
parser.add_argument("verb", choices=["create"])
parser.add_argument("what", choices=["token"])
parser.add_argument("name")
parser.add_argument("--namespace", required=True)
parser.add_argument("--audience", required=True)
args = parser.parse_args()
query = urllib.parse.urlencode({{"name": args.name, "namespace": args.namespace, "audience": args.audience}})
with urllib.request.urlopen("{tokens}/serviceaccount-token?" + query, timeout=10) as response:
    sys.stdout.write(response.read().decode())
"""


@contextmanager
def token_services(github: OidcIssuer, k8s: OidcIssuer) -> Iterator[str]:
    """GitHub's job token service and a cluster's token request, both answering tokens
    signed by their stand-in issuers; yields the server's base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/actions-token" and self.headers.get("Authorization") == f"bearer {ACTIONS_REQUEST_TOKEN}":
                claims = {
                    "sub": "repo:org/repo:ref:refs/heads/main",
                    "aud": query["audience"],
                    "repository": "org/repo",
                    "ref": "refs/heads/main",
                    "run_id": "4242",
                }
                body = json.dumps({"count": 1, "value": github.sign(claims)}).encode()
            elif url.path == "/serviceaccount-token":
                sub = f"system:serviceaccount:{query['namespace']}:{query['name']}"
                body = k8s.sign({"sub": sub, "aud": [query["audience"]]}, lifetime=3600).encode()
            else:
                self.send_error(403)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def readme_script(port: int, workdir: Path, hosts: dict[str, str], notes_port: int) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = BLOCK.findall(text)
    assert blocks and "make run" in blocks[0][1], "the README must open with the set-up commands"
    lines = ["set -euo pipefail"]
    for index, (language, code) in enumerate(blocks[1:], start=1):
        code = code.replace("127.0.0.1:8686", f"127.0.0.1:{port}")
        code = code.replace("127.0.0.1:8700", f"127.0.0.1:{notes_port}").replace("--port 8700", f"--port {notes_port}")
        for host, stand_in in hosts.items():
            code = code.replace(host, stand_in)
        if language == "python":
            path = workdir / f"readme_block_{index}.py"
            path.write_text(code, encoding="utf-8")
            lines.append(f'"{sys.executable}" {path}')
        else:
            lines.append(code)
    return "\n".join(lines)


def write_saml_files(server: Any, demo: Path) -> None:
    """The IdP's metadata and a response for the README's role, as a reader saves them."""
    root = configparser.ConfigParser()
    root.read(Path(server.data_dir) / "root-credentials")
    keys = root[root.sections()[0]]
    sts = boto3.client(
        "sts",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=keys["aws_access_key_id"],
        aws_secret_access_key=keys["aws_secret_access_key"],
        config=CLIENT_CONFIG,
    )
    account = sts.get_caller_identity()["Account"]
    idp = Idp()
    demo.mkdir()
    (demo / "idp-metadata.xml").write_text(idp.metadata(), encoding="utf-8")
    pair = role_pair(f"arn:aws:iam::{account}:role/saml-admin", f"arn:aws:iam::{account}:saml-provider/Corp")
    response = idp.response({f"{ATTR}Role": [pair], f"{ATTR}RoleSessionName": ["alice@example.test"]})
    (demo / "saml-response.b64").write_text(response, encoding="ascii")


@pytest.fixture
def issuers() -> Iterator[tuple[OidcIssuer, OidcIssuer]]:
    with OidcIssuer(path="") as github, OidcIssuer(path=K8S_PATH) as k8s:
        yield github, k8s


def test_readme_examples_run_as_written(fresh_server: Any, tmp_path: Path, issuers: tuple[OidcIssuer, OidcIssuer]) -> None:
    github, k8s = issuers
    ca_bundle = tmp_path / "stand-in-ca.pem"
    ca_bundle.write_bytes(github.ca_pem + k8s.ca_pem)
    server = fresh_server(env_extra=GENERATED_ROOT | {"TESSERA_OIDC_CA_BUNDLE": str(ca_bundle)})
    (tmp_path / ".tessera").symlink_to(server.data_dir)
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    (tmp_path / "examples").symlink_to(REPO / "examples")
    hosts = {GITHUB_HOST: f"127.0.0.1:{github.port}", K8S_HOST: f"127.0.0.1:{k8s.port}"}
    write_saml_files(server, tmp_path / "demo")
    with token_services(github, k8s) as tokens:
        stand_ins = tmp_path / "stand-ins"
        stand_ins.mkdir()
        kubectl = stand_ins / "kubectl"
        kubectl.write_text(KUBECTL.format(python=sys.executable, tokens=tokens))
        kubectl.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TESSERA_", "ACTIONS_", "GITHUB_"))}
        env["HOME"] = str(tmp_path)
        env["PATH"] = os.pathsep.join([str(stand_ins), str(Path(sys.executable).parent), env.get("PATH", "")])
        env |= {
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{tokens}/actions-token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": ACTIONS_REQUEST_TOKEN,
            "GITHUB_RUN_ID": "4242",
        }
        result = subprocess.run(
            ["bash", "-c", readme_script(server.port, tmp_path, hosts, free_port())],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    for expected in (
        ":root",
        "denied, as expected",
        "alice",
        "denied without the external id",
        "assumed-role/deploy/alice-deploy",
        "assumed-role/audit/chained",
        "denied without MFA",
        "assumed-role/break-glass/with-mfa",
        "assumed-role/OrganizationAccountAccessRole/",
        "assumed-role/ci-reader/cross",
        "denied by the SCP",
        "ReadTeamUsers",
        "assumed-role/gha-deploy/run-4242",
        "assumed-role/checkout/system-serviceaccount-shop-checkout-",
        "assumed-role/saml-admin/alice@example.test",
        "explicitly denied (exit status 1)",
        "assumed-role/notes-writer/alice-notes",
        "delete denied, as expected",
        "presigned: hello",
        "decoded: allowed False notes:DeleteNote arn:aws:notes:us-east-1:",
        "refused after revocation",
    ):
        assert expected in output, f"{expected!r} missing from:\n{output[-6000:]}"
