"""optuna-dashboard on a bsnas study: objective names and the arch attributes, read from its API."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from stubs import HashEvaluator

from bsnas.status import Status, status_of
from bsnas.study import SearchConfig, run_search

pytest.importorskip("optuna_dashboard", reason="install bsnas[dashboard] to test optuna-dashboard")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dashboard_shows_objective_names_arch_and_only_full_fidelity_trials_as_best(tmp_path):
    cfg = SearchConfig.from_options(space="tiny", data="digits", trials=8, study="dash", runs_dir=str(tmp_path),
                                    sampler="random")
    study = run_search(cfg, evaluator=HashEvaluator(stop_above=0.75))  # the best quarter judged below full fidelity
    stopped = {t.number for t in study.trials if status_of(t) is Status.STOPPED}
    trained = {t.number for t in study.trials if status_of(t) is Status.TRAINED}
    port = free_port()
    url = f"sqlite:///{tmp_path / 'dash' / 'study.db'}"
    exe = Path(sys.executable).with_name("optuna-dashboard")
    exe = str(exe) if exe.exists() else shutil.which("optuna-dashboard")
    assert exe, "optuna-dashboard is installed but its command is not on PATH"
    proc = subprocess.Popen([exe, url, "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base, summaries = f"http://127.0.0.1:{port}/api", None
        for _ in range(120):  # bounded: at most ~30 s
            try:
                with urllib.request.urlopen(f"{base}/studies", timeout=2) as r:
                    summaries = json.load(r)["study_summaries"]
                break
            except OSError:
                time.sleep(0.25)
        assert summaries, "the dashboard did not answer on 127.0.0.1"
        study_id = next(s["study_id"] for s in summaries if s["study_name"] == "dash")
        with urllib.request.urlopen(f"{base}/studies/{study_id}?after=0", timeout=10) as r:
            detail = json.load(r)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert detail["objective_names"] == ["accuracy", "flops"]
    attrs = {a["key"]: a["value"] for a in detail["trials"][0]["user_attrs"]}
    assert attrs["arch"].startswith("stem_") and {"flops", "params", "accuracy", "status"} <= set(attrs)
    best = {t["number"] for t in detail["best_trials"]}
    assert stopped and best and best <= trained and not best & stopped
