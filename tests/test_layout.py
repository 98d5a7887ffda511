"""The package's layout rules: imports point one way along the data flow, and modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bsnas"

#: The stages in data-flow order. A module may import its own stage and the ones before it, never a later one.
#: The first five are single modules every stage may use; ``bsnas/__init__.py`` re-exports the public API.
STAGES = ["errors", "version", "files", "interrupt", "status",
          "arch", "space", "tables", "nni", "nn", "data", "training", "latency", "metrics", "storage", "samplers",
          "evaluators", "study", "results", "api", "cli"]
MAX_LINES = 400


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")
                  or p.parent != PACKAGE)


def stage_of(path: Path) -> str:
    part = path.relative_to(PACKAGE).parts[0]
    return part.removesuffix(".py")


def bsnas_imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported stage) for every import of a bsnas module, at any depth of the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "bsnas" else [f"bsnas.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "bsnas":
                found.append((node.lineno, parts[1] if len(parts) > 1 else "bsnas"))
    return found


def test_every_module_belongs_to_a_stage():
    assert {stage_of(p) for p in modules()} <= set(STAGES)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_one_way(path):
    own = STAGES.index(stage_of(path))
    for line, stage in bsnas_imports(path):
        assert stage in STAGES, f"{path.name}:{line} imports the top-level package or unknown stage {stage!r}"
        assert STAGES.index(stage) <= own, (f"{path.relative_to(PACKAGE)}:{line} (stage {STAGES[own]!r}) imports "
                                            f"the later stage {stage!r}; the order is {' < '.join(STAGES)}")


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_the_rule_can_fail(tmp_path):
    bad = tmp_path / "arch_module.py"
    bad.write_text("from bsnas.nn.layers import create_conv\n\ndef f():\n    import bsnas.cli\n")
    assert [stage for _, stage in bsnas_imports(bad)] == ["nn", "cli"]


def test_every_package_folder_is_listed_for_the_wheel():
    """pyproject.toml lists the packages by hand: a new folder missing there would be left out of the wheel."""
    import tomllib

    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {".".join(p.parent.relative_to(PACKAGE.parent).parts) for p in PACKAGE.rglob("__init__.py")}
    assert folders - listed == set(), f"add {sorted(folders - listed)} to [tool.setuptools] packages in pyproject.toml"
