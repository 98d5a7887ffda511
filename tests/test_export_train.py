from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import onnxruntime
import optuna
import pytest
import torch

import bsnas
from bsnas import create_model
from bsnas.cli import main
from bsnas.data import read_dataset
from bsnas.nn.profiling import fvcore_flops
from bsnas.results.export import export_record
from bsnas.study import SearchConfig, run_search, trained_trials
from bsnas.training import train

TINY = "stem_reg_k3_s1_c8_relu:conv_bss_p0.5_k3_s1_c16_relu:conv_bsu_k3_s2_c16_relu:head"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("exp")
    cfg = SearchConfig.from_options(space="tiny", data="digits", trials=3, epochs=1, subset=256, study="e",
                                    runs_dir=str(root), max_flops=400_000, sampler="random", seed=3)
    return run_search(cfg), root


def test_json_record_round_trip(study, tmp_path, capsys):
    s, root = study
    t = trained_trials(s)[0]
    assert main(["export", "--study", "e", "--runs-dir", str(root), "--trial", str(t.number), "--out",
                 str(tmp_path)]) == 0
    capsys.readouterr()
    path = tmp_path / f"e-trial{t.number}.json"
    data = json.loads(path.read_text())
    assert data["arch"] == t.user_attrs["arch"] and data["input_size"] == [1, 8, 8] and data["num_classes"] == 10
    assert data["metrics"]["accuracy"] == t.user_attrs["accuracy"]
    assert data["provenance"]["study"] == "e" and data["provenance"]["trial"] == t.number
    assert data["proxy"]["epochs"] == 1 and data["provenance"]["seed"] == 3
    model = bsnas.create_model(path)
    assert sum(p.numel() for p in model.parameters()) == t.user_attrs["params"]
    assert fvcore_flops(model, (1, 8, 8)) == t.user_attrs["flops"]
    assert main(["profile", str(path), "--format", "json"]) == 0
    profiled = json.loads(capsys.readouterr().out)
    assert (profiled["flops"], profiled["params"]) == (t.user_attrs["flops"], t.user_attrs["params"])


def test_onnx_and_pt2_match_pytorch(tmp_path):
    out = tmp_path / "run"
    train(bsnas.ArchRecord(bsnas.decode_arch(TINY)), "digits", 1, out)
    written = export_record(bsnas.load_record(out / "record.json"), tmp_path / "x", "json,onnx,pt2",
                                         weights=out / "model.safetensors")
    assert written["weights"] == "trained" and written["onnx_max_abs_diff"] <= 1e-4
    model = create_model(out).eval()
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        want = model(x).numpy()
    session = onnxruntime.InferenceSession(str(tmp_path / "x" / written["onnx"]))
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert np.abs(got - want).max() <= 1e-4
    program = torch.export.load(str(tmp_path / "x" / written["pt2"]))
    assert np.abs(program.module()(x).detach().numpy() - want).max() <= 1e-5


def test_front_exports_one_folder_with_an_index(study, tmp_path, capsys):
    s, root = study
    assert main(["export", "--study", "e", "--runs-dir", str(root), "--front", "--out", str(tmp_path)]) == 0
    index = json.loads((tmp_path / "index.json").read_text())
    front = bsnas.pareto_front(s)
    assert [e["trial"] for e in index["front"]] == list(front.trial)
    for entry in index["front"]:
        assert bsnas.load_record(tmp_path / entry["json"]).arch_string == entry["arch"]


def test_export_errors(study, tmp_path, capsys):
    s, root = study
    base = ["export", "--study", "e", "--runs-dir", str(root), "--out", str(tmp_path)]
    assert main(["export", "--study", "nope", "--runs-dir", str(root), "--trial", "0", "--out", str(tmp_path)]) == 1
    assert "no study 'nope'" in capsys.readouterr().err
    assert main([*base, "--trial", "999"]) == 1
    assert "has no trial 999" in capsys.readouterr().err
    infeasible = [t for t in s.trials if t.user_attrs.get("status") == "infeasible"]
    assert infeasible, "the seeded random search under 400K FLOPs draws over-budget architectures"
    assert main([*base, "--trial", str(infeasible[0].number)]) == 1
    assert "is infeasible (over budget) and was never trained" in capsys.readouterr().err
    s.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs={"fail_reason": "boom"}))
    assert main([*base, "--trial", str(len(s.trials) - 1)]) == 1
    assert "is FAIL (boom)" in capsys.readouterr().err
    assert main([*base, "--trial", str(trained_trials(s)[0].number), "--format", "tflite"]) == 1
    assert "comma list of json, onnx, pt2" in capsys.readouterr().err
    corrupt = tmp_path / "c.json"
    data = bsnas.baseline("cifar_resnet20").to_dict()
    data["flops"] += 1
    corrupt.write_text(json.dumps(data))
    assert main(["profile", str(corrupt)]) == 1
    assert "the record is corrupt" in capsys.readouterr().err


def test_train_writes_checkpoints_metrics_and_test_accuracy(tmp_path, capsys):
    digits = read_dataset("digits")
    test = bsnas.load_data("digits", test_size=300).test_index  # held out: the training below never sees them
    rest = np.setdiff1d(np.arange(len(digits.y)), test)
    for name, idx in (("train", rest), ("test", test)):
        np.savez(tmp_path / f"{name}.npz", x=digits.x[idx], y=digits.y[idx])
    out = tmp_path / "t"
    assert main(["train", TINY, "--data", f"npz:{tmp_path / 'train.npz'}", "--epochs", "10", "--out", str(out),
                 "--test-data", f"npz:{tmp_path / 'test.npz'}"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs_run"] == 10 and summary["test_acc"] > 0.5, summary  # chance is 0.1
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == list(range(1, 11))
    record = json.loads((out / "record.json").read_text())
    assert record["metrics"]["val_acc"] == summary["val_acc"] and record["training"]["label_smoothing"] == 0.1
    state = torch.load(out / "trainer_state.pt", weights_only=True)
    assert state["trainer"]["epoch"] == 10
    no_test = train(bsnas.ArchRecord(bsnas.decode_arch(TINY)), "digits", 1, tmp_path / "n")
    assert "test_acc" not in no_test


def _weights(path):
    return [v for _, v in sorted(create_model(path).state_dict().items())]


@pytest.mark.parametrize("arch", [TINY, TINY.replace(":head", ":head_d0.5")], ids=["plain", "dropout"])
def test_resume_gives_identical_results(tmp_path, arch):
    rec = bsnas.ArchRecord(bsnas.decode_arch(arch))
    full = train(rec, "digits", 3, tmp_path / "full")
    train(rec, "digits", 3, tmp_path / "cut", stop_after=1)
    resumed = train(rec, "digits", 3, tmp_path / "cut", resume=True)
    assert {k: v for k, v in full.items() if k != "train_time"} == {k: v for k, v in resumed.items()
                                                                    if k != "train_time"}
    assert all(torch.equal(a, b) for a, b in zip(_weights(tmp_path / "full"), _weights(tmp_path / "cut"), strict=True))
    strip = lambda p: [{k: v for k, v in json.loads(x).items() if k != "train_time"}  # noqa: E731
                       for x in (p / "metrics.jsonl").read_text().splitlines()]
    assert strip(tmp_path / "full") == strip(tmp_path / "cut")


@pytest.mark.slow  # a real process each (kill, port scan, two workers): the slow suite
def test_resume_after_a_real_kill(tmp_path):
    out = tmp_path / "k"
    cmd = [sys.executable, "-m", "bsnas", "train", TINY, "--data", "digits", "--epochs", "30", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "trainer_state.pt").exists():
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    assert (out / "trainer_state.pt").exists()
    assert main(["train", TINY, "--data", "digits", "--epochs", "30", "--out", str(out), "--resume"]) == 0
    epochs = [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, 31))


def test_resume_of_a_finished_run_reports_it_and_a_larger_epochs_continues(tmp_path, capsys):
    out = tmp_path / "f"
    base = ["train", TINY, "--data", "digits", "--out", str(out)]
    assert main([*base, "--epochs", "2"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main([*base, "--epochs", "2", "--resume"]) == 0  # finished: nothing to train, same metrics
    again = json.loads(capsys.readouterr().out)
    assert {k: again[k] for k in ("epochs_run", "val_acc", "val_loss")} == {k: first[k] for k in
                                                                             ("epochs_run", "val_acc", "val_loss")}
    assert main([*base, "--epochs", "4", "--resume"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs_run"] == 4
    assert [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
    assert main([*base, "--epochs", "3", "--resume"]) == 1
    assert "already holds 4 trained epochs, more than --epochs 3" in capsys.readouterr().err


def test_train_errors(tmp_path, capsys):
    out = tmp_path / "e"
    base = ["train", TINY, "--data", "digits", "--epochs", "1", "--out", str(out)]
    assert main([*base, "--resume"]) == 1
    assert "nothing to resume" in capsys.readouterr().err
    assert main(base) == 0
    capsys.readouterr()
    assert main(base) == 1
    assert "already holds a training run; pass --resume" in capsys.readouterr().err
    assert main([*base[:-4], "--epochs", "1", "--out", str(out), "--resume", "--lr", "0.5"]) == 1
    assert "was trained with other settings (lr)" in capsys.readouterr().err
    with pytest.raises(bsnas.BsnasError, match="no weights file"):
        create_model(out / "record.json", weights=tmp_path / "none.safetensors")
