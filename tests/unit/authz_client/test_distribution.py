"""The client library is a distribution of its own: ``tessera-authz-client``, depending on
botocore only, carrying the model, and never importing the server's package."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[3] / "clients" / "python"


def test_wheel_depends_on_botocore_only_and_carries_the_model(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(CLIENT, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    out = tmp_path / "wheels"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(source), "-w", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [wheel] = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        text = archive.read(metadata).decode()
    assert "Name: tessera-authz-client\n" in text
    assert [line for line in text.splitlines() if line.startswith("Requires-Dist:")] == ["Requires-Dist: botocore>=1.34"]
    assert {"tessera_authz/data/models/tessera-authz/2026-12-01/service-2.json", "tessera_authz/py.typed"} <= names


def test_the_library_never_imports_the_server() -> None:
    for path in (CLIENT / "src" / "tessera_authz").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in {"tessera_authz", "botocore"} or top in sys.stdlib_module_names, f"{path.name} imports {name}"
