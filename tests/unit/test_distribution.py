"""The distribution: published as ``tessera-iam`` (``tessera`` on PyPI is another project),
importing as ``tessera``, with the ``tessera`` command, and carrying its data files."""

from __future__ import annotations

import configparser
import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import tessera

REPO = Path(__file__).resolve().parents[2]


def test_installed_distribution_is_tessera_iam() -> None:
    assert importlib.metadata.version("tessera-iam") == tessera.__version__
    scripts = {
        ep.name: ep.value for ep in importlib.metadata.entry_points(group="console_scripts") if ep.dist and ep.dist.name == "tessera-iam"
    }
    assert scripts == {"tessera": "tessera.cli.main:main"}


def test_wheel_has_the_name_the_command_and_the_data(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(REPO / "pyproject.toml", source)
    shutil.copy(REPO / "README.md", source)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    # a gzip data file, as the package data patterns must also carry them
    (source / "src" / "tessera" / "data" / "probe.json.gz").write_bytes(b"\x1f\x8b")
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
    assert wheel.name == f"tessera_iam-{tessera.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = f"tessera_iam-{tessera.__version__}.dist-info"
        metadata = archive.read(f"{dist_info}/METADATA").decode()
        entry_points = configparser.ConfigParser()
        entry_points.read_string(archive.read(f"{dist_info}/entry_points.txt").decode())
    assert "Name: tessera-iam\n" in metadata
    assert dict(entry_points["console_scripts"]) == {"tessera": "tessera.cli.main:main"}
    data = source / "src" / "tessera" / "data"
    shipped_data = {p.relative_to(source / "src").as_posix() for p in data.rglob("*") if p.is_file()}
    migrations = {p.relative_to(source / "src").as_posix() for p in (source / "src" / "tessera" / "store" / "migrations").rglob("*.py")}
    assert {"tessera/data/aws_managed_policies.json.gz", "tessera/data/aws_managed_policies.bin"} <= shipped_data
    assert "tessera/data/probe.json.gz" in shipped_data
    assert "tessera/data/models/tessera-authz/2026-12-01/service-2.json" in shipped_data
    assert "tessera/store/migrations/env.py" in migrations
    assert "tessera/store/migrations/versions/0001_initial.py" in migrations
    console = source / "src" / "tessera" / "console"
    assets = {p.relative_to(source / "src").as_posix() for d in ("templates", "static") for p in (console / d).iterdir()}
    assert {"tessera/console/templates/base.html", "tessera/console/static/console.css"} <= assets
    assert shipped_data | migrations | assets | {"tessera/py.typed", "tessera/__init__.py", "tessera/cli/main.py"} <= names
    assert not any(name.startswith(("tests/", "bench/")) for name in names)
