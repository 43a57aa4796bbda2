"""Import rules: the policy engine is a pure library (docs/architecture.md, STYLE.md G.10).

``tessera.policy`` may import only the standard library and itself, and never the
modules that would give it I/O, a clock or logging."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

POLICY_DIR = Path(__file__).resolve().parents[2] / "src" / "tessera" / "policy"
FORBIDDEN = {"time", "logging", "socket", "sqlite3"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.append("tessera.policy")  # relative import stays inside the package
            elif node.module:
                names.append(node.module)
    return names


def _allowed(module: str) -> bool:
    top = module.split(".")[0]
    if module == "tessera.policy" or module.startswith("tessera.policy."):
        return True
    return top in sys.stdlib_module_names and top not in FORBIDDEN and top != "tessera"


SOURCES = sorted(POLICY_DIR.glob("*.py"))


def test_policy_package_has_sources() -> None:
    assert any(p.name == "evaluate.py" for p in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_policy_imports_only_stdlib_and_itself(path: Path) -> None:
    bad = [m for m in _imports(path) if not _allowed(m)]
    assert bad == [], f"{path.name} imports {bad}"
