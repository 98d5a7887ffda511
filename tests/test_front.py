from __future__ import annotations

import json
import random

import numpy as np
import optuna
import pytest

import bsnas
import bsnas.study.baselines as baseline_eval
from bsnas.cli import main
from bsnas.results.front import hypervolume, hypervolume_history, pareto_front
from bsnas.results.plots import PlotData, write_plot
from bsnas.study import SearchConfig, run_search

optuna.logging.set_verbosity(optuna.logging.WARNING)


def synthetic_study(points, objectives=("accuracy", "flops"), space_max=None, status="trained"):
    study = optuna.create_study(directions=["maximize"] + ["minimize"] * (len(objectives) - 1))
    study.set_metric_names(list(objectives))
    if space_max:
        study.set_user_attr("space_max", space_max)
    for i, p in enumerate(points):
        acc, flops, params = p
        attrs = {"arch": f"stem_reg_k3_s1_c{i + 1}_relu:conv_reg_k3_s1_c4_relu:head", "accuracy": acc,
                 "flops": flops, "params": params, "status": status, "conv_mix": {"regular": 2}}
        values = [acc, flops, params][:len(objectives)]
        study.add_trial(optuna.trial.create_trial(values=values, user_attrs=attrs))
    return study


def brute_force_front(points, k):
    keep = []
    for i, p in enumerate(points):
        a = (-p[0], *p[1:k])
        dominated = any(all(x <= y for x, y in zip((-q[0], *q[1:k]), a, strict=True)) and (-q[0], *q[1:k]) != a
                        for q in points)
        if not dominated:
            keep.append(i)
    return keep


@pytest.mark.parametrize("k", [2, 3])
def test_front_equals_brute_force_non_dominance(k):
    rng = random.Random(k)
    points = [(round(rng.random(), 2), rng.randint(1, 50) * 1000, rng.randint(1, 50) * 100) for _ in range(80)]
    study = synthetic_study(points, ("accuracy", "flops", "params")[:k])
    front = pareto_front(study)
    assert sorted(front.trial) == brute_force_front(points, k)
    assert list(front.columns[:6]) == ["trial", "accuracy", "mflops", "mparams", "mix", "status"]
    assert front.flops.is_monotonic_increasing


def test_front_skips_infeasible_reused_and_failed():
    study = synthetic_study([(0.9, 100, 10)])
    study.add_trial(optuna.trial.create_trial(values=[0.99, 1.0], user_attrs={
        "arch": "x", "accuracy": 0.0, "flops": 1, "params": 1, "status": "infeasible"}))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
    assert list(pareto_front(study).trial) == [0]


def test_hypervolume_known_value():
    study = synthetic_study([(0.8, 50, 1), (0.6, 20, 1), (0.5, 60, 1)], space_max={"flops": 100, "params": 10})
    # normalised (error, cost): (0.2, 0.5), (0.4, 0.2), (0.5, 0.6, dominated); ref (1, 1)
    assert hypervolume(study) == pytest.approx(0.8 * 0.5 + 0.6 * 0.3)
    assert hypervolume_history(study) == pytest.approx([0.4, 0.58, 0.58])
    three = synthetic_study([(0.5, 50, 5)], ("accuracy", "flops", "params"), {"flops": 100, "params": 10})
    assert hypervolume(three) == pytest.approx(0.5 * 0.5 * 0.5)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    root = tmp_path_factory.mktemp("front")
    cfg = SearchConfig.from_options(space="tiny", data="digits", trials=4, epochs=1, subset=256, study="f",
                       runs_dir=str(root), sampler="random")
    return run_search(cfg), root


def test_plots_are_written_with_the_data(searched, tmp_path):
    study, _ = searched
    front = pareto_front(study)
    from bsnas.results.front import trials_frame

    trials = trials_frame(study)
    data = PlotData("f", trials[trials.status == "trained"], front, hypervolume_history(study))
    html = write_plot(data, tmp_path / "f.html")
    png = write_plot(data, tmp_path / "f.png", x="params")
    text = html.read_text()
    assert html.stat().st_size > 100_000 and "plotly" in text and front.arch[0] in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    with pytest.raises(bsnas.BsnasError, match=r"must end in .html or .png"):
        write_plot(data, tmp_path / "f.svg")


def test_front_cli_formats_plot_compare_and_cached_baselines(searched, tmp_path, capsys, monkeypatch):
    study, root = searched
    assert main(["front", "--study", "f", "--runs-dir", str(root), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["front_size"] == len(out["rows"]) == len(pareto_front(study))
    assert out["hypervolume"] == round(hypervolume(study), 6) > 0
    assert main(["front", "--study", "f", "--runs-dir", str(root), "--format", "markdown"]) == 0
    assert "|   trial |" in capsys.readouterr().out
    calls = []
    real = baseline_eval.train_proxy
    monkeypatch.setattr(baseline_eval, "train_proxy", lambda *a, **k: calls.append(a) or real(*a, **k))
    argv = ["front", "--study", "f", "--study", "f", "--runs-dir", str(root), "--plot", str(tmp_path / "b.html"),
            "--baselines", "cifar_resnet20_bsconvu,cifar_mobilenetv1_w1d4"]
    assert main(argv) == 0
    assert len(calls) == 2 and "resnet20_bsconvu" in (tmp_path / "b.html").read_text()
    assert main(argv) == 0
    assert len(calls) == 2  # cached in the study: the second call trains nothing
    for _, data, proxy in calls:  # the baselines train on the study's own proxy and data
        assert (proxy.epochs, proxy.subset, proxy.seed, data.input_size, len(data.val_y)) == (1, 256, 0, (1, 8, 8), 359)
    cached = optuna.load_study(study_name="f", storage=f"sqlite:///{root / 'f' / 'study.db'}").user_attrs
    flops = cached["baseline:cifar_mobilenetv1_w1d4"]["flops"]
    assert flops == bsnas.count(bsnas.baseline("cifar_mobilenetv1_w1d4"), (1, 8, 8)).flops


def test_front_errors(searched, capsys):
    _, root = searched
    assert main(["front", "--study", "missing", "--runs-dir", str(root)]) == 1
    assert "no study 'missing'" in capsys.readouterr().err
    assert main(["front", "--study", "f", "--runs-dir", str(root), "--baselines", "cifar_vgg"]) == 1
    assert "unknown baseline 'cifar_vgg'" in capsys.readouterr().err


def test_python_api(searched):
    study, _ = searched
    df = bsnas.pareto_front(study)
    assert len(df) >= 1 and np.all(np.diff(df.accuracy) >= 0)  # more FLOPs only for more accuracy


def test_missing_optional_package_gives_an_install_hint(monkeypatch, searched, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)  # makes the import fail
    study, _ = searched
    from bsnas.results.front import trials_frame

    data = PlotData("f", trials_frame(study), pareto_front(study), hypervolume_history(study))
    with pytest.raises(bsnas.BsnasError, match=r"--plot FILE.html needs the optional package 'plotly'; "
                                               r"install it with: pip install 'bsnas\[plot\]'"):
        write_plot(data, tmp_path / "x.html")
