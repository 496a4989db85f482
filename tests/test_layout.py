"""The package's layers, as the README's Layout section states them (issue #21).

Read from the source, so a new import in the wrong place fails here before it shows up as a
slower worker or a tangle: the Elasticsearch client library is imported in `ingest/store/`
only, rich (tables, colours, progress) in `ingest/cli/` only, and the environment is read in
`ingest/config.py` only. What the extraction processes load at run time is checked in
`tests/test_worker.py`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ingest"


def imported_modules(path: Path) -> set[str]:
    """The top-level names of every module `path` imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def reads_the_environment(path: Path) -> bool:
    """Whether `path` reads `os.environ` or calls `os.getenv`."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and node.attr in {"environ", "getenv"}
        ):
            return True
    return False


def modules_outside(*allowed: str) -> list[Path]:
    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if not any(path.is_relative_to(PACKAGE / part) for part in allowed)
    ]


@pytest.mark.parametrize(
    ("libraries", "home"),
    [({"elasticsearch", "elastic_transport"}, "store"), ({"rich"}, "cli")],
)
def test_a_library_is_imported_in_its_own_package_only(libraries: set[str], home: str) -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(imported_modules(path) & libraries)
        for path in modules_outside(home)
        if imported_modules(path) & libraries
    }
    assert offenders == {}
    # the rule has something to hold: the home package does import them
    assert any(imported_modules(path) & libraries for path in (PACKAGE / home).rglob("*.py"))


def test_only_config_reads_the_environment() -> None:
    readers = [
        str(p.relative_to(PACKAGE))
        for p in modules_outside("config.py")
        if reads_the_environment(p)
    ]
    assert readers == []
    assert reads_the_environment(PACKAGE / "config.py")
