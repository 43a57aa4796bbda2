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


SRC = POLICY_DIR.parents[1]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """tessera module → the tessera modules it imports anywhere (functions and
    ``TYPE_CHECKING`` blocks included), with the packages whose ``__init__`` runs."""
    files = {_module_name(p): p for p in (SRC / "tessera").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets: set[str] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            found: list[str] = []
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for module in found:
                parts = module.split(".")
                targets.update(".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in files)
        targets.discard(name)
        graph[name] = targets
    return graph


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt == goal or nxt.startswith(goal + "."):
                return True
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


@pytest.mark.parametrize(
    ("low", "high"),
    [("tessera.services.authz", "tessera.services.context"), ("tessera.services.organizations", "tessera.services.org_state")],
    ids=["authz-context", "organizations-org_state"],
)
def test_no_import_cycle(low: str, high: str) -> None:
    """``high`` builds on ``low``; ``low`` never imports ``high``, not even lazily or for
    type checking."""
    graph = _import_graph()
    assert _reaches(graph, high, low)
    lows = [m for m in graph if m == low or m.startswith(low + ".")]
    assert [m for m in lows if _reaches(graph, m, high)] == []
