"""Keyless credentials through the stock clients' own providers, configured only by the
standard environment variables a workload is given, with tokens from an independent
OpenID provider (tests/openid_provider.py), on SQLite and PostgreSQL:

- the AWS SDK for JavaScript v3 (tests/js/web_identity.mjs): ``fromTokenFile``
  (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN: AssumeRoleWithWebIdentity), ``fromHttp``
  (AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: Tessera's
  workload endpoint) and ``fromContainerMetadata`` (the same URI with
  AWS_CONTAINER_AUTHORIZATION_TOKEN);
- the AWS CLI with the same variables.

Each then calls GetCallerIdentity with what it got."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from openid_provider import Client, OpenIDProvider, openid_provider, register, web_identity_trust
from serverproc import REGION, TesseraServer

JS = Path(__file__).resolve().parents[1] / "js"
AWS_CLI = str(Path(sys.executable).with_name("aws"))
WORKLOAD = Client("pod-workload", "pod-workload-secret-0123456789")
STRANGER = Client("stranger", "stranger-secret-0123456789")
ROLE = "keyless-app"


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIDProvider]:
    with openid_provider(tmp_path_factory.mktemp("idp"), [WORKLOAD, STRANGER]) as provider:
        yield provider


@pytest.fixture(scope="module")
def role_arn(server: TesseraServer, idp: OpenIDProvider) -> str:
    iam = server.client("iam")
    provider_arn = register(iam, idp)
    trust = web_identity_trust(provider_arn, {f"{idp.host}:sub": WORKLOAD.client_id, f"{idp.host}:aud": idp.audience})
    return str(iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=trust)["Role"]["Arn"])


def workload_environment(server: TesseraServer, role_arn: str, token_file: Path, **extra: str) -> dict[str, str]:
    """What a pod or job is given: a token file, the role, and the two ways to use them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        HOME=str(token_file.parent),
        AWS_CONFIG_FILE=str(token_file.parent / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(token_file.parent / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_PAGER="",
        TESSERA_ENDPOINT=server.endpoint,
        AWS_ENDPOINT_URL_STS=server.endpoint,  # where the CLI's web identity provider calls STS
        AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file),
        AWS_ROLE_ARN=role_arn,
        AWS_ROLE_SESSION_NAME="js-keyless",
        AWS_CONTAINER_CREDENTIALS_FULL_URI=f"{server.endpoint}/workload-credentials?{urlencode({'RoleArn': role_arn})}",
        AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(token_file),
    )
    env.update(extra)
    return env


def run_js(env: dict[str, str]) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "@aws-sdk" / "credential-providers").is_dir():
        pytest.fail("the JavaScript SDK is not installed: run `make test` (npm ci --prefix tests/js)")
    result = subprocess.run([node, "web_identity.mjs"], cwd=JS, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def test_the_javascript_sdk_providers_get_credentials(server: TesseraServer, idp: OpenIDProvider, role_arn: str, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(idp.token(WORKLOAD.client_id))
    out = run_js(workload_environment(server, role_arn, token_file))
    assumed = f"arn:aws:sts::{server.account_id}:assumed-role/{ROLE}/"
    assert out["tokenFile"]["arn"] == assumed + "js-keyless", out
    for provider in ("http", "containerMetadata"):
        assert out[provider]["arn"].startswith(assumed), out
        assert out[provider]["expiration"].endswith("Z")
    assert len({out[p]["accessKeyId"] for p in ("tokenFile", "http", "containerMetadata")}) == 3


def test_the_javascript_sdk_providers_are_refused_a_token_the_role_does_not_trust(
    server: TesseraServer, idp: OpenIDProvider, role_arn: str, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(idp.token(STRANGER.client_id))
    out = run_js(workload_environment(server, role_arn, token_file))
    assert out["tokenFile"]["error"] == "AccessDenied", out
    assert out["http"]["error"] == "CredentialsProviderError", out
    assert "403" in out["http"]["message"], out
    assert out["http"]["code"] == "AccessDenied", out  # the SDK reads the body's Code
    assert "error" in out["containerMetadata"], out


def aws(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AWS_CLI, *args, "--output", "json"], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("way", ["token-file", "container"])
def test_the_aws_cli_gets_credentials_from_the_same_variables(
    server: TesseraServer, idp: OpenIDProvider, role_arn: str, tmp_path: Path, way: str
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(idp.token(WORKLOAD.client_id))
    env = workload_environment(server, role_arn, token_file, AWS_ROLE_SESSION_NAME="cli-keyless")
    # one provider at a time: the CLI's chain tries the token file before the container
    drop = ("AWS_CONTAINER_CREDENTIALS_FULL_URI",) if way == "token-file" else ("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN")
    for name in drop:
        env.pop(name)
    run = aws(env, "sts", "get-caller-identity", "--endpoint-url", server.endpoint)
    assert run.returncode == 0, run.stderr
    arn = json.loads(run.stdout)["Arn"]
    assumed = f"arn:aws:sts::{server.account_id}:assumed-role/{ROLE}/"
    assert arn == assumed + "cli-keyless" if way == "token-file" else arn.startswith(assumed)
