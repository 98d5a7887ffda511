"""Machine-readable output everywhere, and no library warning reaches the user."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pandas as pd

import bsnas
from bsnas.cli import main


def bsnas_cli(*argv, cwd) -> subprocess.CompletedProcess:
    """The real command line in a fresh process, with every warning shown (``-W default``)."""
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    return subprocess.run([sys.executable, "-W", "default", "-m", "bsnas", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_search_json_summary_and_no_experimental_warning(tmp_path):
    done = bsnas_cli("search", "--space", "tiny", "--data", "digits", "--trials", "2", "--epochs", "1",
                     "--subset", "256", "--study", "j", "--format", "json", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)  # stdout is one JSON document; trial lines went to stderr
    assert summary["study"] == "j" and summary["trained"] == 2 and summary["storage"].startswith("sqlite:///")
    assert summary["front"] and all(isinstance(r["flops"], int) and isinstance(r["params"], int)
                                    for r in summary["front"])
    assert done.stderr.count("trained") >= 2
    assert "Warning" not in done.stderr, done.stderr
    front = bsnas_cli("front", "--study", "j", "--format", "json", "--by-op", "blocks", cwd=tmp_path)
    assert front.returncode == 0 and "Warning" not in front.stderr, front.stderr
    shares = json.loads(front.stdout)["op_shares"]
    assert [r["op"] for r in shares["rows"]] == ["regular", "dsc", "bsconv_u", "bsconv_s"]
    assert abs(sum(r["all_share"] for r in shares["rows"]) - 1) < 1e-9


def test_front_csv_and_json_carry_exact_counts_every_study_and_baselines(tmp_path, capsys):
    for name, seed in (("a", "0"), ("b", "1")):
        assert main(["search", "--space", "tiny", "--data", "digits", "--trials", "2", "--epochs", "1",
                     "--subset", "256", "--seed", seed, "--study", name, "--runs-dir", str(tmp_path), "--quiet"]) == 0
    capsys.readouterr()
    base = ["front", "--study", "a", "--study", "b", "--runs-dir", str(tmp_path), "--baselines",
            "cifar_resnet20_bsconvu"]
    assert main([*base, "--format", "csv"]) == 0
    rows = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert set(rows.study) == {"a", "b"} and set(rows.source) == {"search", "baseline"}
    fronts = {name: bsnas.front(name, runs_dir=tmp_path) for name in ("a", "b")}
    for name, front in fronts.items():
        part = rows[(rows.study == name) & (rows.source == "search")]
        assert list(part.trial.astype(int)) == list(front.trial) and list(part.flops) == list(front.flops)
        assert list(part.params) == list(front.params)
    baseline = rows[rows.source == "baseline"].iloc[0]
    assert baseline["name"] == "cifar_resnet20_bsconvu"
    assert baseline.flops == bsnas.count("cifar_resnet20_bsconvu", (1, 8, 8)).flops
    assert main([*base, "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload["hypervolumes"]) == {"a", "b"} and len(payload["rows"]) == len(rows)
    assert main([*base, "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| name " in out and "cifar_resnet20_bsconvu" in out  # the baselines as a markdown table too
