"""Dependencies point one way (DESIGN.md): api → notifications → workflows → engine."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "engine": {"workflows", "api", "notifications", "migrations"},
    "workflows": {"api", "notifications"},
    "notifications": {"api"},
}


def imported_packages(source: str, package: tuple[str, ...]) -> set[str]:
    """Top-level packages that `source` (a module of `package`) imports, statically or by name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the module's own package
                base = package[: len(package) - (node.level - 1)]
                found.add(base[0] if base else (node.module or "").split(".")[0])
            elif node.module:
                found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in ("__import__", "import_module") and isinstance(node.args[0].value, str):
                found.add(node.args[0].value.split(".")[0])
    return found


def _breaches(layer: str) -> dict[str, list[str]]:
    breaches = {}
    for path in sorted((ROOT / layer).rglob("*.py")):
        package = path.relative_to(ROOT).parent.parts
        bad = imported_packages(path.read_text(encoding="utf-8"), package) & FORBIDDEN[layer]
        if bad:
            breaches[str(path.relative_to(ROOT))] = sorted(bad)
    return breaches


def test_the_engine_imports_none_of_workflows_api_notifications_or_migrations() -> None:
    assert len(list((ROOT / "engine").rglob("*.py"))) >= 10
    assert _breaches("engine") == {}


def test_workflows_import_neither_api_nor_notifications() -> None:
    assert _breaches("workflows") == {}


def test_notifications_never_import_api() -> None:
    assert _breaches("notifications") == {}


@pytest.mark.parametrize(
    ("line", "package"),
    [
        ("import api.app", "api"),
        ("from workflows.policy import Policy", "workflows"),
        ("from notifications import outbox", "notifications"),
        ("importlib.import_module('migrations.env')", "migrations"),
        ("__import__('api')", "api"),
        ("from .. import api", "api"),
    ],
)
def test_the_walk_sees_every_way_of_importing(line: str, package: str) -> None:
    # `from .. import api` inside api/routes/x.py names the api package itself.
    where = ("api", "routes") if line.startswith("from ..") else ("engine",)
    assert package in imported_packages(line, where)


def test_a_relative_import_counts_as_the_modules_own_package() -> None:
    assert imported_packages("from . import store\nfrom .audit import verify", ("engine",)) == {"engine"}
