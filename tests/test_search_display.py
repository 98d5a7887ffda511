"""What a new user sees: --data is required, the bar shows the running trial and an ETA and completes under
successive halving, and a stopped trial's export says what it is and how to export it anyway."""

from __future__ import annotations

import io
import json

import pytest
from stubs import HashEvaluator

from bsnas.cli import main
from bsnas.cli.progress import SearchDisplay
from bsnas.errors import BsnasError
from bsnas.results.export import export_trial
from bsnas.status import Status, status_of
from bsnas.study import SearchConfig, run_search


def test_search_requires_data(capsys):
    assert main(["search", "--space", "tiny", "--trials", "1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bsnas search needs --data" in err and "--evaluator table" in err


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_bar_shows_the_running_trial_and_an_eta_and_completes_under_asha(tmp_path):
    clock, bar, lines = Clock(), io.StringIO(), io.StringIO()
    display = SearchDisplay("s", target=4, jobs=1, lines=lines, enabled=True, clock=clock, bar_file=bar)
    seen = []

    def on_progress(number, info):
        clock.now += 1.0
        display.progress(number, info)
        seen.append((number, dict(info), display.postfix()))

    def on_trial(study, trial):
        clock.now += 1.0
        display.trial(study, trial)

    cfg = SearchConfig.from_options(space="tiny", data="digits", trials=4, epochs=2, subset=128, study="bar",
                                    runs_dir=str(tmp_path), fidelity="asha", min_epochs=1, max_epochs=2, eta=2,
                                    sampler="random", seed=4)
    study = run_search(cfg, on_trial=on_trial, on_progress=on_progress, on_start=display.start)
    display.close()
    # before the first trial counted, the running trial's epochs give the estimate
    number, info, text = seen[0]
    assert info["epoch"] == 1 and info["epochs"] == 2 and info["images_per_sec"] > 0
    assert f"#{number} epoch 1/2" in text and "img/s" in text and "eta " in text
    statuses = [status_of(t) for t in study.trials]
    assert Status.STOPPED in statuses  # some trials stopped early, and still the bar is full:
    assert display.bar.n == display.bar.total == 4 and display.eta() == 0.0
    assert lines.getvalue().count("\n") == len(study.trials)


def test_the_estimate_is_time_per_counted_trial_times_the_trials_left():
    clock = Clock()
    display = SearchDisplay("s", target=10, jobs=2, lines=io.StringIO(), enabled=False, clock=clock)
    display.started, display.first, display.counted = 0.0, 0, 0
    assert display.eta() is None  # nothing to estimate from yet
    display.running[3] = {"epoch": 1, "epochs": 4, "_at": 0.0}
    clock.now = 10.0  # a quarter of one trial in 10 s: 40 s a trial, 10 trials on 2 workers
    assert display.eta() == pytest.approx(40 * 10 / 2 - 10)
    display.counted = 4  # four counted in 20 s: 5 s each, six left
    clock.now = 20.0
    assert display.eta() == pytest.approx(30.0)


def test_a_stopped_trial_s_export_says_what_it_is_and_how_to_export_it_anyway(tmp_path, capsys):
    cfg = SearchConfig.from_options(space="tiny", data="digits", trials=6, study="ex", runs_dir=str(tmp_path),
                                    sampler="random")
    study = run_search(cfg, evaluator=HashEvaluator(stop_above=0.75))
    stopped = next(t for t in study.trials if status_of(t) is Status.STOPPED)
    with pytest.raises(BsnasError, match=f"trial {stopped.number} of study 'ex' was stopped by successive halving at "
                                         "the 1-epoch rung and has no full-fidelity result; .* --allow-stopped"):
        export_trial(study, stopped.number, tmp_path / "out")
    argv = ["export", "--study", "ex", "--trial", str(stopped.number), "--out", str(tmp_path / "out"),
            "--runs-dir", str(tmp_path)]
    assert main(argv) == 1
    assert "--allow-stopped" in capsys.readouterr().err
    assert main([*argv, "--allow-stopped"]) == 0
    written = json.loads(capsys.readouterr().out)
    record = json.loads((tmp_path / "out" / written["json"]).read_text())
    assert record["arch"] == stopped.user_attrs["arch"] and record["status"] == "stopped"
    assert record["stopped_at_rung"] == 1
