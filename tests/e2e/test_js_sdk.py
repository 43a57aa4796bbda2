"""The stock AWS SDK for JavaScript v3 works against Tessera unchanged (tests/js/flow.mjs:
GetCallerIdentity, IAM writes, an AccessDenied, AssumeRole with an ExternalId, and a call
with the session's credentials). `make test` installs the SDK with `npm ci`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from serverproc import TesseraServer

JS = Path(__file__).resolve().parents[1] / "js"


def test_aws_sdk_for_javascript(sqlite_server: TesseraServer) -> None:
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "@aws-sdk" / "client-sts").is_dir():
        pytest.fail("the JavaScript SDK is not installed: run `make test` (npm ci --prefix tests/js)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        TESSERA_ENDPOINT=sqlite_server.endpoint,
        ROOT_KEY_ID=sqlite_server.root.access_key_id,
        ROOT_SECRET=sqlite_server.root.secret_access_key,
        ACCOUNT_ID=sqlite_server.account_id,
    )
    result = subprocess.run([node, "flow.mjs"], cwd=JS, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    account = sqlite_server.account_id
    assert out["rootArn"] == f"arn:aws:iam::{account}:root"
    assert out["denied"] == "AccessDenied"
    assert out["assumedArn"] == f"arn:aws:sts::{account}:assumed-role/js-role/js-session"
    assert out["sessionArn"] == out["assumedArn"]
    assert out["expiration"].endswith("Z")
