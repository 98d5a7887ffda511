"""The Python API that mirrors the CLI, the user's own evaluation, timm conventions and deployable exports."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

import bsnas
from bsnas.data import load_data, read_dataset
from bsnas.results.export import export_record
from bsnas.study import trained_trials

README = Path(__file__).resolve().parents[1] / "README.md"
TINY = "stem_reg_k3_s1_c8_relu:conv_bss_p0.5_k3_s1_c16_relu:conv_bsu_k3_s2_c16_relu:head"


def readme_block(marker: str) -> str:
    text = README.read_text()
    return re.search(rf"<!-- tested: {marker} -->\n```python\n(.*?)```", text, re.S).group(1)


def test_search_front_export_and_train_mirror_the_cli(tmp_path):
    seen = []
    study = bsnas.search("tiny", data="digits", trials=3, epochs=2, subset=512, max_flops="1M", study="api",
                         runs_dir=str(tmp_path), callbacks=[lambda s, t: seen.append(t.number)])
    assert isinstance(study, optuna.Study) and len(trained_trials(study)) == 3
    assert seen == [t.number for t in study.trials]
    front = bsnas.front("api", runs_dir=tmp_path)
    assert list(front.trial) == list(bsnas.front(study).trial) and (front.flops <= 1_000_000).all()
    written = bsnas.export(study, trial=int(front.trial[0]), out=tmp_path / "one", formats="json")
    record = bsnas.load_record(tmp_path / "one" / written["json"])
    assert record.extra["preprocessing"]["mean"] == pytest.approx([load_data("digits").mean.item()], rel=1e-5)
    assert record.extra["preprocessing"]["classes"] == [str(i) for i in range(10)]
    index = bsnas.export(study, out=tmp_path / "all")
    assert index.name == "index.json"
    metrics = bsnas.train(front.arch[0], data="digits", epochs=1, out=tmp_path / "run")
    assert metrics["epochs_run"] == 1
    trained = bsnas.load_record(tmp_path / "run" / "record.json")
    assert trained.extra["metrics"]["val_acc"] == metrics["val_acc"]
    assert trained.extra["preprocessing"]["input_size"] == [1, 8, 8]


def train_steps(model, opt, x, y, epochs: int) -> list[float]:
    """A plain hand-written loop, as a user would write one: batches of 64, cross-entropy; the losses."""
    model.train()
    losses = []
    for _ in range(epochs):
        for i in range(0, len(y), 64):
            loss = torch.nn.functional.cross_entropy(model(x[i:i + 64]), y[i:i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses


def my_evaluation(model, data, trial):
    """A user's own training loop: a few AdamW steps on the digits, then accuracy on its validation split."""
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    train_steps(model, opt, data.normalize(data.train_x), data.train_y, epochs=3)
    model.eval()
    with torch.no_grad():
        acc = (model(data.normalize(data.val_x)).argmax(1) == data.val_y).float().mean().item()
    trial.set_user_attr("my_note", "trained by my_evaluation")
    return acc


def test_search_with_the_users_own_evaluation(tmp_path):
    study = bsnas.search("tiny", data="digits", trials=3, evaluate=my_evaluation, study="mine",
                         runs_dir=str(tmp_path), max_flops="1M")
    trained = trained_trials(study)
    assert len(trained) == 3
    for t in trained:
        assert t.user_attrs["evaluated_by"].endswith("test_api.my_evaluation")
        assert t.user_attrs["my_note"] == "trained by my_evaluation" and "proxy" not in t.user_attrs
        torch.manual_seed(0)  # the search seeds the initialisation of the models it hands over with --seed
        model = bsnas.build_model(t.user_attrs["arch"], 10, 1)
        assert t.user_attrs["accuracy"] == pytest.approx(my_evaluation(model, load_data("digits"),
                                                                       optuna.trial.FixedTrial({})))


def test_search_without_bsnas_data_and_a_bad_evaluation(tmp_path):
    calls = []

    def fn(model, data, trial):
        calls.append((data, model.classifier.out_features, model.stem.conv.conv.in_channels))
        return 0.5

    study = bsnas.search("tiny", data=None, trials=2, evaluate=fn, input_size=(3, 16, 16), num_classes=4,
                         study="nodata", runs_dir=str(tmp_path))
    assert [c for c in calls] == [(None, 4, 3)] * 2
    assert trained_trials(study)[0].user_attrs["flops"] == bsnas.count(trained_trials(study)[0].user_attrs["arch"],
                                                                       (3, 16, 16), 4).flops
    with pytest.raises(bsnas.SearchError, match="10 trials in a row failed; the last said: BsnasError: evaluate must "
                                                r"return an accuracy in \[0, 1\], but .* returned 1.5"):
        bsnas.search("tiny", data="digits", trials=1, evaluate=lambda m, d, t: 1.5, study="bad",
                     runs_dir=str(tmp_path))
    with pytest.raises(bsnas.SearchError, match="needs input_size"):
        bsnas.search("tiny", data=None, trials=1, evaluate=fn, study="x", runs_dir=str(tmp_path))


def test_timm_conventions_and_fine_tuning_on_another_class_count(tmp_path):
    bsnas.train(TINY, data="digits", epochs=2, out=tmp_path / "run")
    model = bsnas.create_model(tmp_path / "run", num_classes=3)
    trained = bsnas.create_model(tmp_path / "run")
    assert model.num_classes == 3 and model.classifier.out_features == 3 and model.num_features == 16
    for name, value in trained.state_dict().items():
        if not name.startswith("classifier"):
            assert torch.equal(model.state_dict()[name], value), name  # everything but the head is loaded
    cfg = model.pretrained_cfg
    assert cfg is model.default_cfg and cfg["num_classes"] == 3 and cfg["input_size"] == (1, 8, 8)
    assert cfg["mean"] == pytest.approx((load_data("digits", val_size=0.1).mean.item() / 16,), rel=1e-5)
    x = torch.zeros(2, 1, 8, 8)
    features = model.forward_features(x)
    assert features.shape == (2, 16, 4, 4) and model.forward_head(features, pre_logits=True).shape == (2, 16)
    data = load_data("digits")
    keep = data.train_y < 3  # fine-tune on three classes
    xs, ys = data.normalize(data.train_x[keep]), data.train_y[keep]
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = train_steps(model, opt, xs, ys, epochs=10)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    for spec in ("cifar_resnet20_bsconvu", bsnas.baseline("cifar_resnet20").arch_string):
        assert bsnas.create_model(spec, num_classes=7, in_chans=1)(torch.zeros(1, 1, 32, 32)).shape == (1, 7)
    model.reset_classifier(0)
    assert model(x).shape == (2, 16)


def test_the_readme_onnx_inference_example_runs(tmp_path):
    bsnas.train(TINY, data="digits", epochs=3, out=tmp_path / "run")
    record = bsnas.load_record(tmp_path / "run" / "record.json")
    record = bsnas.ArchRecord(record.arch, record.input_size, record.num_classes, "quickstart-trial14", record.extra)
    written = export_record(record, tmp_path / "runs" / "ship", "json,onnx", weights=tmp_path / "run" /
                            "model.safetensors")
    assert sorted(p.name for p in (tmp_path / "runs" / "ship").iterdir()) == ["quickstart-trial14.json",
                                                                           "quickstart-trial14.onnx"]
    assert written["onnx_max_abs_diff"] <= 1e-4  # one file, no .onnx.data beside it
    out = subprocess.run([sys.executable, "-c", readme_block("onnx-inference")], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    predicted = re.match(r"predicted class: (\d) - true class: (\d)\n$", out.stdout)
    assert predicted, out.stdout
    model = bsnas.create_model(tmp_path / "run").eval()
    digits = read_dataset("digits")
    pre = record.extra["preprocessing"]
    x = (torch.from_numpy(digits.x[1000:1001]).float() - pre["mean"][0]) / pre["std"][0]
    assert predicted.group(1) == str(int(model(x).argmax()))


@pytest.mark.parametrize("amp", ["bf16", pytest.param("fp16", marks=pytest.mark.slow)])  # fp16 is slow on CPUs
def test_mixed_precision_trains_on_the_cpu(amp):
    result = bsnas.train_proxy(TINY, load_data("digits"), bsnas.ProxyConfig(epochs=6, amp=amp, device="cpu"))
    assert result.val_acc > 0.5 and result.settings["amp"] == amp


def test_workers_share_gpus_round_robin():
    cfg = bsnas.SearchConfig.from_options(space="tiny", device="cuda", jobs=3, devices=(0, 2))
    assert [cfg.for_worker(w, gpus=4).device for w in range(3)] == ["cuda:0", "cuda:2", "cuda:0"]
    auto = bsnas.SearchConfig.from_options(space="tiny", jobs=2)
    assert [auto.for_worker(w, gpus=2).device for w in range(2)] == ["cuda:0", "cuda:1"]
    assert [auto.for_worker(w, gpus=0).device for w in range(2)] == ["auto", "auto"]  # no GPU: unchanged


@pytest.mark.slow
def test_the_readme_python_api_example_runs(tmp_path):
    out = subprocess.run([sys.executable, "-c", readme_block("python-api")], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "runs" / "api-export" / "index.json").is_file()
    assert (tmp_path / "runs" / "api-train" / "model.safetensors").is_file()
    assert "trial" in out.stdout and "accuracy" in out.stdout


def test_the_readme_extension_example_runs(tmp_path, monkeypatch, capsys):
    from bsnas.metrics import METRICS

    monkeypatch.chdir(tmp_path)
    try:
        exec(compile(readme_block("extend"), "README.md", "exec"), {"__name__": "readme"})
    finally:
        METRICS.pop("blocks", None)
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header == ["trial", "accuracy", "blocks", "arch"] and len(out.splitlines()) >= 2
    assert not (tmp_path / "runs" / "extend" / "study.db").exists()  # an in-memory study
