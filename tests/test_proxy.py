from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import bsnas
import bsnas.training.engine as engine_module
from bsnas import BsnasError
from bsnas.cli import main
from bsnas.data import load_data
from bsnas.nn.profiling import fvcore_flops
from bsnas.training import ProxyConfig, Trainer, resolve_device, train_proxy
from bsnas.training.proxy_check import parse_budget, proxy_check

TINY = "stem_reg_k3_s1_c8_relu:conv_bsu_k3_s1_c16_relu:conv_bsu_k3_s2_c16_relu:head"
TINY_S = "stem_reg_k3_s1_c8_relu:conv_bss_p0.5_k3_s1_c16_relu:conv_bsu_k3_s2_c16_relu:head"


@pytest.fixture(scope="module")
def digits():
    return load_data("digits")


def test_training_learns_digits(digits):
    result = train_proxy(TINY, digits, ProxyConfig(epochs=4))
    assert result.val_acc > 0.5 and result.epochs_run == 4 and result.diverged is None
    assert result.images_per_sec > 0 and result.train_time > 0
    assert result.settings["train_images"] == len(digits.train_y) and result.settings["epochs"] == 4


def test_same_seed_same_metrics_other_seed_differs(digits):
    config = ProxyConfig(epochs=2, subset=400)
    a, b = train_proxy(TINY_S, digits, config), train_proxy(TINY_S, digits, config)
    assert (a.val_acc, a.val_loss, a.train_loss) == (b.val_acc, b.val_loss, b.train_loss)
    c = train_proxy(TINY_S, digits, ProxyConfig(epochs=2, subset=400, seed=1))
    assert c.val_loss != a.val_loss


def test_regulariser_is_added_only_for_bsconv_s(digits, monkeypatch):
    calls = []
    real = engine_module.reg_loss
    monkeypatch.setattr(engine_module, "reg_loss",
                        lambda model, alpha, modules=None: calls.append(alpha) or real(model, alpha, modules))
    train_proxy(TINY, digits, ProxyConfig(epochs=1, subset=128, alpha=0.3))
    assert calls == []
    train_proxy(TINY_S, digits, ProxyConfig(epochs=1, subset=128, alpha=0.3))
    assert calls and set(calls) == {0.3}


def _weights_after_one_epoch(arch, data, alpha):
    trainer = Trainer(arch, data, ProxyConfig(epochs=1, subset=256, alpha=alpha), torch.device("cpu"))
    trainer.run_epoch()
    return dict(trainer.model.named_parameters())


def test_the_regulariser_changes_the_gradients_of_bsconv_s_only(digits):
    with_reg, without = (_weights_after_one_epoch(TINY_S, digits, alpha) for alpha in (1.0, 0.0))
    pw1 = [name for name in with_reg if name.endswith("pw1.weight")]
    assert pw1 and all(not torch.equal(with_reg[n], without[n]) for n in pw1)
    # the regulariser pulls pw1 towards orthonormal rows: its loss ends lower with it than without
    assert reg_loss_of(with_reg[pw1[0]]) < reg_loss_of(without[pw1[0]])
    plain_a, plain_b = (_weights_after_one_epoch(TINY, digits, alpha) for alpha in (1.0, 0.0))
    assert all(torch.equal(plain_a[n], plain_b[n]) for n in plain_a)  # no BSConv-S: alpha changes nothing


def reg_loss_of(weight):
    w = weight.detach().flatten(1)
    return torch.linalg.matrix_norm(w @ w.T - torch.eye(w.shape[0])).item()


def test_divergence_stops_early_with_a_reason(digits):
    result = train_proxy(TINY, digits, ProxyConfig(epochs=5, lr=1e9, warmup=0.0))
    assert result.diverged and "lower the learning rate" in result.diverged
    assert result.epochs_run < 5 and result.val_acc == 0.0


def test_subset_and_resolution_errors(digits):
    with pytest.raises(BsnasError, match="subset 5000 is larger than the 1438 training images"):
        train_proxy(TINY, digits, ProxyConfig(subset=5000))
    deep = TINY.replace(":head", ":conv_reg_k3_s2_c8_relu-conv_reg_k3_s2_c8_relu:head")
    with pytest.raises(BsnasError, match=r"resolution 4x4 is smaller than the network's total stride 8"):
        train_proxy(deep, load_data("digits", resolution=4), ProxyConfig(epochs=1))


def test_config_validation():
    with pytest.raises(BsnasError, match=r"epochs \(--epochs\) must be a positive integer, but got 0"):
        ProxyConfig(epochs=0)
    with pytest.raises(BsnasError, match=r"optimizer \(--optimizer\) must be one of sgd, adamw, but got .lion."):
        ProxyConfig(optimizer="lion")


def test_adamw_linear_schedule_and_a_held_out_test_split():
    data = load_data("digits", test_size=300)
    result = train_proxy(TINY, data, ProxyConfig(epochs=12, optimizer="adamw", schedule="linear",
                                                 label_smoothing=0.1))
    assert result.test_acc > 0.5 and result.test_loss > 0  # held-out images, far above chance (0.1)
    assert result.settings["train_images"] == len(data.train_y) == 1797 - 300 - len(data.val_y)


def test_test_accuracy_is_measured_on_the_test_labels(tmp_path):
    """The same test images with every label shifted: each image can be right under one labelling only."""
    held_out = load_data("digits", test_size=300)
    x = held_out.test_x.numpy().transpose(0, 2, 3, 1)
    y = held_out.test_y.numpy()
    np.savez(tmp_path / "true.npz", x=x, y=y)
    np.savez(tmp_path / "shifted.npz", x=x, y=(y + 1) % 10)
    config = ProxyConfig(epochs=4)
    true, shifted = (train_proxy(TINY, load_data("digits", test_spec=f"npz:{tmp_path / name}.npz"), config)
                     for name in ("true", "shifted"))
    assert true.val_acc == shifted.val_acc  # the same training run
    assert true.test_acc > 0.5 and shifted.test_acc < 0.2 and true.test_acc + shifted.test_acc <= 1.0


def test_device_auto(monkeypatch):
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BsnasError, match="CUDA is not available"):
        resolve_device("cuda")


def test_proxy_cli_json(capsys, digits):
    assert main(["proxy", TINY, "--epochs", "2", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["arch"] == TINY and out["epochs_run"] == 2 and out["settings"]["epochs"] == 2
    model = bsnas.build_model(TINY, 10, 1)
    assert (out["flops"], out["params"]) == (fvcore_flops(model, (1, 8, 8)), sum(p.numel() for p in model.parameters()))
    assert out["val_acc"] == train_proxy(TINY, digits, ProxyConfig(epochs=2)).val_acc


def test_proxy_cli_errors(capsys):
    assert main(["proxy", TINY, "--subset", "99999"]) == 1
    assert "subset 99999 is larger" in capsys.readouterr().err


def test_parse_budget():
    budget = parse_budget("epochs=2,subset=300,resolution=16")
    assert budget.resolution == 16 and budget.config.epochs == 2 and budget.config.subset == 300
    with pytest.raises(BsnasError, match="KEY=VALUE"):
        parse_budget("epochs2")
    with pytest.raises(BsnasError, match="not a valid int"):
        parse_budget("epochs=two")


def test_proxy_check_on_digits(capsys):
    archs = [TINY, TINY_S, "stem_reg_k3_s1_c4_relu:conv_dsc_k3_s2_c4_relu:head",
             "stem_reg_k3_s1_c16_relu:basic_reg_k3_s1_c16_relu:head"]
    assert main(["proxy-check", *archs, "--proxy", "epochs=2,subset=700", "--reference", "epochs=4",
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    proxy, ref = (np.array([r[key] for r in out["rows"]]) for key in ("proxy_acc", "ref_acc"))
    assert len(proxy) == 4
    ranks = lambda v: pd.Series(v).rank().to_numpy()  # noqa: E731  (ties get the average rank)
    assert out["spearman"] == pytest.approx(np.corrcoef(ranks(proxy), ranks(ref))[0, 1], abs=1e-4)
    assert out["flop_ratio"] == round((2 * (700 // 64) * 64) / (4 * (1438 // 64) * 64), 4)  # images seen
    with pytest.raises(BsnasError, match="at least 3 architectures"):
        proxy_check([TINY], "digits", parse_budget(""), parse_budget(""))


def test_proxy_check_on_random_samples_of_a_space(capsys):
    argv = ["proxy-check", "--space", "tiny", "--random", "3", "--proxy", "epochs=1,subset=300",
            "--reference", "epochs=2,subset=600", "--format", "json"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert len(rows) == 3 and len({r["arch"] for r in rows}) == 3
    assert main(["proxy-check", "--random", "3"]) == 1
    assert "--random needs --space" in capsys.readouterr().err


def test_trainer_trains_on_the_data_s_stratified_subset(digits):
    trainer = Trainer(TINY, digits, ProxyConfig(epochs=1, subset=400, seed=3), torch.device("cpu"))
    assert torch.equal(trainer.y, digits.train_y[digits.train_subset(400, 3)])


def test_evaluation_does_not_depend_on_the_batch_size(digits):
    model = bsnas.build_model(TINY, digits.num_classes, in_channels=1)
    by_size = [engine_module.evaluate(model, digits, digits.val_x, digits.val_y, batch_size=b) for b in (7, 256, None)]
    assert by_size[0][0] == by_size[1][0] == by_size[2][0]
    assert by_size[0][1] == pytest.approx(by_size[1][1], rel=1e-5) == by_size[2][1]
    assert engine_module.eval_batch_size(torch.device("cpu")) == 256
    assert engine_module.eval_batch_size(torch.device("cuda", 0)) == 1024
