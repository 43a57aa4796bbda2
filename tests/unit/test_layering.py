"""Import rules (docs/architecture.md): imports point one way,

    cli → server → console → protocol → services → {auth, policy, store, audit, secrets} → {errors, arn, clock, service_models, cache}

so each package may import only itself and the layers after it (``audit`` also the caller
model of ``auth``, which it describes as CloudTrail's ``userIdentity``). The policy engine is
a pure library: ``tessera.policy`` imports only the standard library and itself, and never
the modules that would give it I/O, a clock or logging.

Read from the source with ``ast``, so an import inside a function counts as much as one at
the top of a module.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "tessera"
POLICY_DIR = SRC / "policy"
FORBIDDEN = {"time", "logging", "socket", "sqlite3"}

BOTTOM = {"errors", "arn", "clock", "service_models", "cache"}
# package (or top-level module) -> the other parts of tessera it may import
ALLOWED: dict[str, set[str]] = {
    "policy": set(),
    **{name: set() for name in BOTTOM},
    "auth": BOTTOM,
    "store": BOTTOM,
    "secrets": BOTTOM,
    "audit": BOTTOM | {"auth"},
    "services": BOTTOM | {"auth", "policy", "store", "audit", "secrets"},
    "protocol": BOTTOM | {"auth", "policy", "store", "audit", "secrets", "services"},
    "console": BOTTOM | {"auth", "policy", "store", "audit", "secrets", "services", "protocol"},
    "server": BOTTOM | {"auth", "policy", "store", "audit", "secrets", "services", "protocol", "console"},
    "cli": BOTTOM | {"auth", "policy", "store", "audit", "secrets", "services", "protocol", "console", "server"},
    "__main__": {"cli"},
}
ROOT = "__init__"  # tessera/__init__.py: the version, importable from anywhere


def _part(path: Path) -> str:
    """The package (or top-level module) of tessera that ``path`` belongs to."""
    first = path.relative_to(SRC).parts[0]
    return first.removesuffix(".py")


def _tessera_imports(source: str, own: str) -> list[str]:
    """The parts of tessera that ``source``, a module of part ``own``, imports (``own`` included)."""
    tree = ast.parse(source)
    parts: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts.append(own)  # relative imports: only packages use them, and stay inside
                continue
            is_root = node.module == "tessera"
            modules = [f"tessera.{alias.name}" for alias in node.names] if is_root else [node.module or ""]
        else:
            continue
        for module in modules:
            names = module.split(".")
            if names[0] != "tessera":
                continue
            target = names[1] if len(names) > 1 else ROOT
            parts.append(target if (SRC / target).is_dir() or (SRC / f"{target}.py").exists() else ROOT)
    return parts


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
ALL_SOURCES = sorted(SRC.rglob("*.py"))


def test_policy_package_has_sources() -> None:
    assert any(p.name == "evaluate.py" for p in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_policy_imports_only_stdlib_and_itself(path: Path) -> None:
    bad = [m for m in _imports(path) if not _allowed(m)]
    assert bad == [], f"{path.name} imports {bad}"


def test_every_part_of_tessera_has_a_rule() -> None:
    parts = {_part(p) for p in ALL_SOURCES} - {ROOT}
    assert parts == set(ALLOWED), "a new package or top-level module needs its place in ALLOWED and docs/architecture.md"


@pytest.mark.parametrize("path", ALL_SOURCES, ids=[str(p.relative_to(SRC)) for p in ALL_SOURCES])
def test_imports_point_down_the_layers(path: Path) -> None:
    own = _part(path)
    allowed = {own, ROOT} | ALLOWED.get(own, set())
    bad = sorted({part for part in _tessera_imports(path.read_text(encoding="utf-8"), own) if part not in allowed})
    assert bad == [], f"{path.relative_to(SRC)} ({own}) imports tessera.{bad}, against docs/architecture.md"


def test_the_rule_sees_every_form_of_import() -> None:
    """The checker itself: absolute, ``from tessera import``, nested and relative imports."""
    source = (
        "import tessera.server.app\n"
        "from tessera import errors, __version__\n"
        "from tessera.protocol.model import service_spec\n"
        "def f():\n"
        "    from tessera.cli import main\n"
        "from . import ids\n"
        "import json\n"
    )
    assert sorted(_tessera_imports(source, "audit")) == sorted(["server", "errors", ROOT, "protocol", "cli", "audit"])


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """tessera module → the tessera modules it imports anywhere (functions and
    ``TYPE_CHECKING`` blocks included), with the packages whose ``__init__`` runs."""
    files = {_module_name(p): p for p in SRC.rglob("*.py")}
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
    [("tessera.services.authorization", "tessera.services.request"), ("tessera.services.organizations", "tessera.services.org_view")],
    ids=["authorization-request", "organizations-org_view"],
)
def test_no_import_cycle(low: str, high: str) -> None:
    """``high`` builds on ``low``; ``low`` never imports ``high``, not even lazily or for
    type checking."""
    graph = _import_graph()
    assert _reaches(graph, high, low)
    lows = [m for m in graph if m == low or m.startswith(low + ".")]
    assert [m for m in lows if _reaches(graph, m, high)] == []
