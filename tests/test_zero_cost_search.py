"""A search whose trials are scored by a zero-cost score (``--evaluator zero-cost``), not trained."""

from __future__ import annotations

import json
import math

import numpy as np
import optuna
import pytest

import bsnas
from bsnas.cli import main
from bsnas.data import load_data
from bsnas.errors import BsnasError, SearchError
from bsnas.metrics import get_metric, normalised
from bsnas.results.front import hypervolume, pareto_front, trials_frame
from bsnas.status import Status, status_of
from bsnas.study import SearchConfig, run_search
from bsnas.training.zero_cost import zero_cost_scores

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A zero-cost search of the tiny space on digits from the CLI, and the folder it lives in."""
    runs = tmp_path_factory.mktemp("zc")
    argv = ["search", "--space", "tiny", "--data", "digits", "--trials", "14", "--evaluator", "zero-cost",
            "--study", "zc", "--runs-dir", str(runs), "--seed", "3"]
    assert main(argv) == 0
    return runs, argv


def _study(runs, name="zc"):
    return bsnas.storage.load_existing_study(name, None, str(runs))


def test_the_default_objectives_are_naswot_and_flops_and_each_score_is_the_networks_naswot(searched):
    runs, _ = searched
    study = _study(runs)
    assert study.metric_names == ["naswot", "flops"] and study.directions[0].name == "MAXIMIZE"
    scored = [t for t in study.trials if status_of(t) is Status.TRAINED]
    assert len(scored) == 14
    data = load_data("digits", val_size=0.2, seed=3)
    for t in scored[:3]:  # the same network, batch and seed give the same score, recomputed here
        expected = zero_cost_scores(t.user_attrs["arch"], data, "naswot", seed=3)["naswot"]
        assert t.values[0] == pytest.approx(expected) and t.user_attrs["naswot"] == pytest.approx(expected)
        assert "accuracy" not in t.user_attrs and t.user_attrs["zero_cost_batch"] == 64


def test_the_cli_prints_scored_trials_and_a_front_of_score_against_flops(searched, capsys, tmp_path):
    runs, argv = searched
    capsys.readouterr()
    assert main(argv) == 0  # the same command resumes: nothing left to do
    out = capsys.readouterr().out
    header = next(ln for ln in out.splitlines() if ln.strip().startswith("trial"))
    assert "14 architectures scored by naswot (untrained)" in out and header.split()[:2] == ["trial", "naswot"]
    argv2 = ["search", "--space", "tiny", "--data", "digits", "--trials", "4", "--evaluator", "zero-cost",
             "--study", "lines", "--runs-dir", str(tmp_path)]
    assert main(argv2) == 0
    lines = capsys.readouterr().out.splitlines()
    trial_lines = [ln for ln in lines if ln.startswith("#")]
    assert trial_lines and all(" scored " in ln and " naswot " in ln for ln in trial_lines if "reused" not in ln)


def test_the_front_is_the_undominated_set_of_score_and_flops(searched):
    runs, _ = searched
    study = _study(runs)
    df = trials_frame(study)
    scored = df[df.status == "trained"].drop_duplicates("arch")
    front = pareto_front(study)
    assert list(front.columns[:2]) == ["trial", "naswot"] and "accuracy" not in front
    for _, row in scored.iterrows():  # a network is on the front iff no other beats it on both
        beaten = ((scored.naswot >= row.naswot) & (scored.flops <= row.flops)
                  & ((scored.naswot > row.naswot) | (scored.flops < row.flops))).any()
        assert (row.trial in set(front.trial)) == (not beaten)


def test_the_hypervolume_maps_the_score_by_the_studys_range():
    naswot = get_metric("naswot")
    assert naswot.bounds is None and naswot.worst == -math.inf
    np.testing.assert_allclose(naswot.normalise([10.0, 20.0, 15.0], (10.0, 20.0)), [1.0, 0.0, 0.5])
    np.testing.assert_allclose(normalised({"naswot": [10.0, 20.0], "flops": [5.0, 10.0]}, ("naswot", "flops"),
                                          {"naswot": (10.0, 20.0), "flops": 10.0}), [[1.0, 0.5], [0.0, 1.0]])
    with pytest.raises(BsnasError, match="needs the observed range"):
        naswot.normalise([1.0], None)


def test_hypervolume_of_a_zero_cost_study_is_computed_from_its_own_range(searched):
    runs, _ = searched
    study = _study(runs)
    df = trials_frame(study)
    scored = df[df.status == "trained"]
    lo, hi = scored.naswot.min(), scored.naswot.max()
    import moocore

    space_max = study.user_attrs["space_max"]["flops"]
    points = np.column_stack([(hi - scored.naswot) / (hi - lo), scored.flops / space_max])
    inside = points[np.all(points < 1.0, axis=1)]
    assert hypervolume(study) == pytest.approx(float(moocore.hypervolume(inside, ref=[1.0, 1.0])))


def test_front_json_plot_baselines_and_export_carry_the_score(searched, capsys, tmp_path):
    runs, _ = searched
    base = ["--study", "zc", "--runs-dir", str(runs)]
    assert main(["front", *base, "--format", "json", "--baselines", "cifar_resnet20",
                 "--plot", str(tmp_path / "f.png")]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert "naswot by the study's range" in payload["hypervolume_reference"]
    rows = payload["rows"]
    assert all("naswot" in r and "accuracy" not in r for r in rows)
    (resnet,) = [r for r in rows if r["source"] == "baseline"]
    data = load_data("digits", val_size=0.2, seed=3)
    assert resnet["naswot"] == pytest.approx(zero_cost_scores("cifar_resnet20", data, "naswot", seed=3)["naswot"])
    assert (tmp_path / "f.png").stat().st_size > 10_000
    assert main(["export", *base, "--front", "--out", str(tmp_path / "ex")]) == 0
    index = json.loads((tmp_path / "ex" / "index.json").read_text())
    assert index["front"] and all("naswot" in e for e in index["front"])
    record = json.loads((tmp_path / "ex" / f"{index['front'][0]['name']}.json").read_text())
    assert record["metrics"]["naswot"] == pytest.approx(index["front"][0]["naswot"])


def test_fronts_of_studies_with_other_first_objectives_are_not_compared(searched, capsys, tmp_path):
    runs, _ = searched
    assert main(["search", "--space", "tiny", "--data", "digits", "--trials", "2", "--epochs", "1",
                 "--study", "acc", "--runs-dir", str(runs)]) == 0
    capsys.readouterr()
    assert main(["front", "--study", "zc", "--study", "acc", "--runs-dir", str(runs)]) == 1
    err = capsys.readouterr().err
    assert "ranks by accuracy and 'zc' by naswot" in err and err.count("\n") == 1


def test_resume_with_another_score_is_refused(searched, capsys):
    runs, argv = searched
    assert main([*argv, "--objectives", "synflow,flops"]) == 1
    err = capsys.readouterr().err
    assert "other settings" in err and "naswot" in err and err.count("\n") == 1


@pytest.mark.parametrize(("extra", "fragment"), [
    (["--evaluator", "zero-cost", "--objectives", "accuracy,flops"], "returns no accuracy; put a zero-cost score"),
    (["--objectives", "naswot,flops"], "only --evaluator zero-cost returns"),
    (["--evaluator", "zero-cost", "--fidelity", "asha"], "trains nothing, so fidelity='asha'"),
    (["--evaluator", "zero-cost", "--sampler", "nni-evolution"], "use an Optuna sampler"),
    (["--evaluator", "zero-cost", "--objectives", "bogus,flops"], "a zero-cost score such as naswot"),
])
def test_bad_settings_are_one_line_errors(tmp_path, capsys, extra, fragment):
    argv = ["search", "--space", "tiny", "--data", "digits", "--trials", "1", "--runs-dir", str(tmp_path), *extra]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())  # nothing was created


def test_python_api_takes_the_evaluator_by_name_and_other_scores(tmp_path):
    study = bsnas.search("tiny", "digits", 3, evaluator="zero-cost", objectives=("grad_norm", "flops", "params"),
                         runs_dir=str(tmp_path), study="gn")
    assert study.metric_names == ["grad_norm", "flops", "params"]
    assert all(t.user_attrs["grad_norm"] > 0 for t in study.trials if status_of(t) is Status.TRAINED)
    assert list(bsnas.front(study).columns[:2]) == ["trial", "grad_norm"]
    with pytest.raises(SearchError, match="scores networks on the search's training images; pass --data"):
        SearchConfig(space="tiny", data=None, evaluator="zero-cost", input_size=8, num_classes=10)


def test_a_score_that_cannot_rank_fails_the_trial_with_the_reason(tmp_path, monkeypatch):
    import bsnas.evaluators.zero_cost as module

    monkeypatch.setattr(module, "zero_cost_scores", lambda *a, **k: {"naswot": -math.inf, "seconds": 0.0})
    cfg = SearchConfig(space="tiny", data="digits", trials=2, evaluator="zero-cost", runs_dir=str(tmp_path))
    with pytest.raises(SearchError, match="failed; the last said: BsnasError: naswot is -inf for this network"):
        run_search(cfg)  # every trial fails, so the search stops after its run of failures, saying why
    study = bsnas.storage.load_existing_study("tiny", None, str(tmp_path))
    failed = [t for t in study.trials if t.state == optuna.trial.TrialState.FAIL]
    assert failed and all("naswot is -inf for this network" in t.user_attrs["fail_reason"] for t in failed)


def test_a_trial_line_names_the_studys_score_not_a_screens():
    from bsnas.cli.progress import trial_line

    attrs = {"arch": "a", "flops": 1e6, "params": 1e3, "status": "trained", "naswot": 800.0, "grad_norm": 2.5,
             "zero_cost_seconds": 0.1}  # a grad_norm search warm-started by a NASWOT screen holds both
    trial = optuna.trial.create_trial(values=[2.5, 1e6], user_attrs=attrs)
    assert " grad_norm 2.5 " in trial_line(trial, "grad_norm") and "naswot" not in trial_line(trial, "grad_norm")
    assert " scored " in trial_line(trial, "grad_norm")
