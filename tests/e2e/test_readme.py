"""The README's examples run as written, in order, in one shell, against a real server
started the way `make run` starts it (generated root keys in `.tessera/`).

The only change made to the text is the port: the test server listens on a free port
instead of 8686."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.S | re.M)
GENERATED_ROOT = {"TESSERA_ROOT_ACCESS_KEY_ID": "", "TESSERA_ROOT_SECRET_ACCESS_KEY": "", "TESSERA_ACCOUNT_ID": ""}


def readme_script(port: int, workdir: Path) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = BLOCK.findall(text)
    assert blocks and "make run" in blocks[0][1], "the README must open with the set-up commands"
    lines = ["set -euo pipefail"]
    for index, (language, code) in enumerate(blocks[1:], start=1):
        code = code.replace("127.0.0.1:8686", f"127.0.0.1:{port}")
        if language == "python":
            path = workdir / f"readme_block_{index}.py"
            path.write_text(code, encoding="utf-8")
            lines.append(f'"{sys.executable}" {path}')
        else:
            lines.append(code)
    return "\n".join(lines)


def test_readme_examples_run_as_written(fresh_server: Any, tmp_path: Path) -> None:
    server = fresh_server(env_extra=GENERATED_ROOT)
    (tmp_path / ".tessera").symlink_to(server.data_dir)
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TESSERA_"))}
    env["HOME"] = str(tmp_path)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        ["bash", "-c", readme_script(server.port, tmp_path)],
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
        "explicitly denied (exit status 1)",
    ):
        assert expected in output, f"{expected!r} missing from:\n{output[-6000:]}"
