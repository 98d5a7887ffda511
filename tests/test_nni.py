"""NNI's multi-trial strategies over bsnas spaces: the same architectures, the same study, no server, no ~/ files."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import optuna
import pytest
from optuna.trial import FixedTrial, TrialState

import bsnas
from bsnas.cli import main
from bsnas.space import find_spaces, load_space, sample_arch
from bsnas.study import SearchConfig, load_existing_study, run_search, trained_trials

pytest.importorskip("nni", reason="install bsnas[nni] (nni 3.0, x86_64) to test the NNI strategies")

from bsnas.nni import arch_of, model_space  # noqa: E402
from bsnas.nni.space import params_of_sample  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.parametrize("path", find_spaces(), ids=lambda p: p.stem)
def test_every_nni_sample_freezes_to_the_architecture_optuna_would_sample(path):
    space = load_space(path)
    nni_space = model_space(space)
    rng = np.random.RandomState(0)
    for _ in range(200):
        sample: dict = {}
        frozen = nni_space.random(memo=sample, random_state=rng)
        via_optuna = sample_arch(FixedTrial(params_of_sample(space, sample)), space)
        assert bsnas.encode_arch(frozen.arch) == bsnas.encode_arch(via_optuna) == bsnas.encode_arch(
            arch_of(space, sample))
        assert all("/" not in label and "." not in label for label in sample)


@pytest.mark.parametrize("sampler", ["nni-evolution", "nni-random", "nni-tpe"])
def test_nni_strategies_fill_an_ordinary_study(tmp_path, sampler, capsys):
    cfg = SearchConfig.from_options(space="tiny", data="digits", trials=4, epochs=2, subset=512, study="n",
                                    runs_dir=str(tmp_path), sampler=sampler, max_flops=2_000_000)
    study = run_search(cfg)
    trained = trained_trials(study)
    assert len(trained) == 4 and len({t.user_attrs["arch"] for t in trained}) == 4
    for t in study.trials:
        assert t.user_attrs["sampler"] == sampler and t.user_attrs["flops"] <= 2_000_000
        assert bsnas.count(t.user_attrs["arch"], (1, 8, 8)).flops == t.user_attrs["flops"]
    assert main(["front", "--study", "n", "--runs-dir", str(tmp_path), "--format", "json"]) == 0
    assert '"front_size"' in capsys.readouterr().out


def test_a_resumed_nni_search_replays_from_the_study_and_reaches_the_total(tmp_path):
    cfg = dict(space="tiny", data="digits", epochs=1, subset=256, study="r", runs_dir=str(tmp_path),
               sampler="nni-evolution")
    first = run_search(SearchConfig.from_options(trials=3, **cfg))
    kept = [t.user_attrs["arch"] for t in trained_trials(first)]
    study = run_search(SearchConfig.from_options(trials=5, **cfg))
    archs = [t.user_attrs["arch"] for t in trained_trials(study)]
    assert len(archs) == 5 == len(set(archs)) and archs[:3] == kept
    assert len(study.trials) == 5  # the replayed samples were answered from the study, not retrained


def _listening() -> set[str]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if os.path.exists(table):
            for line in open(table).read().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A":  # LISTEN
                    ports.add(fields[1])
    return ports


@pytest.mark.slow  # a real process each (kill, port scan, two workers): the slow suite
def test_an_nni_search_opens_no_port_and_writes_nothing_in_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    before = _listening()
    env = {**{k: v for k, v in os.environ.items() if k != "NNI_FRAMEWORK"}, "HOME": str(home)}
    cmd = [sys.executable, "-m", "bsnas", "search", "--space", "tiny", "--data", "digits", "--trials", "3",
           "--epochs", "3", "--sampler", "nni-evolution", "--study", "quiet", "--runs-dir", str(tmp_path / "runs"),
           "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    opened = set()
    while proc.poll() is None:
        opened |= _listening() - before
        time.sleep(0.05)
    assert proc.returncode == 0, proc.stderr.read()
    assert not opened, f"new listening sockets: {opened}"
    assert not list(home.rglob("*")), list(home.rglob("*"))
    study = load_existing_study("quiet", runs_dir=tmp_path / "runs")
    assert len([t for t in study.trials if t.state == TrialState.COMPLETE]) >= 3


def test_without_nni_the_sampler_names_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "nni", None)
    argv = ["search", "--space", "tiny", "--data", "digits", "--trials", "1", "--sampler", "nni-random",
            "--runs-dir", str(tmp_path)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'bsnas[nni]'" in err
