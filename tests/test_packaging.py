"""The built wheel works on its own: spaces included, run from a folder that is not the repository."""

from __future__ import annotations

import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run(cmd, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_the_wheel_ships_the_spaces_and_searches_from_an_empty_folder(tmp_path):
    run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w",
         str(tmp_path / "dist")])
    wheel = next((tmp_path / "dist").glob("bsnas-*.whl"))
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    # the dependencies (torch, optuna, ...) come from this environment; bsnas itself only from the wheel
    (Path(purelib) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)])
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    where = run([str(python), "-c", "import bsnas; print(bsnas.__file__)"], cwd=empty).stdout
    assert where.startswith(purelib), where  # not the repository's editable copy
    spaces = run([str(venv / "bin" / "bsnas"), "spaces", "--format", "csv"], cwd=empty).stdout
    assert {"tiny", "resnet", "mobilenet", "mobilenet224"} <= {line.split(",")[0] for line in spaces.splitlines()}
    run([str(venv / "bin" / "bsnas"), "search", "--space", "tiny", "--data", "digits", "--trials", "2", "--epochs", "1",
         "--quiet"], cwd=empty)
    assert (empty / "runs" / "tiny" / "study.db").is_file()
    # NAS-Bench-Macro's table and its licence ship inside the wheel: a table search runs from it
    assert "nas_bench_macro" in {line.split(",")[0] for line in spaces.splitlines()}
    run([str(venv / "bin" / "bsnas"), "search", "--space", "nas_bench_macro", "--evaluator", "table", "--trials", "3",
         "--quiet"], cwd=empty)
    licence = run([str(python), "-c", "from importlib import resources; print(resources.files('bsnas')"
                   ".joinpath('assets/NAS-BENCH-MACRO-LICENSE').read_text()[:40])"], cwd=empty).stdout
    assert "Copyright 2021 Xiu Su" in licence
