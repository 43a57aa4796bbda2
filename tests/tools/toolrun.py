"""Running the third-party tools of tests/tools (see conftest.py there) against a server."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
from serverproc import REGION, TesseraServer

ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = Path(os.environ.get("TESSERA_TOOLS_DIR") or ROOT / ".venv-tools")


def tool_bin(tool: str, program: str) -> str:
    """The path of ``program`` in the virtualenv of ``tool``; fails (not skips) when absent."""
    path = TOOLS_DIR / tool / "bin" / program
    if not path.exists():
        pytest.fail(f"{program} is not installed in {TOOLS_DIR / tool}: run `make tools` (or `make .venv-tools/{tool}/.installed`)")
    return str(path)


def tool_env(server: TesseraServer, home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment holding only what a tool needs: the endpoint, root keys, a clean HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BOTO_", "ANSIBLE_", "PYTHON", "VIRTUAL_ENV", "XDG_"))}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / "data"),
        AWS_ACCESS_KEY_ID=server.root.access_key_id,
        AWS_SECRET_ACCESS_KEY=server.root.secret_access_key,
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_ENDPOINT_URL=server.endpoint,
        AWS_CONFIG_FILE=str(home / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
        AWS_MAX_ATTEMPTS="1",
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra or {})
    return env


def run_tool(command: list[str], env: Mapping[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


_CALL_ERROR = re.compile(r"An error occurred \((\w+)\) when calling the (\w+) operation")


def failed_calls(*texts: str) -> set[tuple[str, str]]:
    """The (operation, error code) pairs of botocore errors a tool printed or saved."""
    found: set[tuple[str, str]] = set()
    for text in texts:
        found.update((op, code) for code, op in _CALL_ERROR.findall(text))
    return found
