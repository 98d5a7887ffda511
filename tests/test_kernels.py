"""The intra-kernel correlation analysis: known answers, skipped convs, the init control and `bsnas kernels`."""

from __future__ import annotations

import importlib
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import bsnas
from bsnas.cli.analysis_commands import add_analysis_commands
from bsnas.results.kernels import compare_layers, init_control, initial_model, kernel_stats, plot_kernel_stats

ARCH = "stem_dbn_reg_k3_s1_c8_relu:conv_reg_k3_s1_c8_relu-conv_bsu_k3_s2_c16_relu:head"


def conv_with(weight: torch.Tensor) -> nn.Conv2d:
    out, cin, kh, kw = weight.shape
    conv = nn.Conv2d(cin, out, (kh, kw), bias=False)
    with torch.no_grad():
        conv.weight.copy_(weight)
    return conv


def blueprint_filters(out: int, m: int, k: int, seed: int = 0) -> torch.Tensor:
    """W[o, c] = w[o, c] · B[o]: one k×k blueprint per filter, scaled per input channel."""
    g = torch.Generator().manual_seed(seed)
    blueprints = torch.randn(out, 1, k, k, generator=g)
    scales = torch.randn(out, m, 1, 1, generator=g)
    return scales * blueprints


def two_blueprint_filter() -> torch.Tensor:
    """One filter of 4 kernels, 3·a⊗e0 + b⊗e1 with a, b orthonormal and zero-mean over the channels.

    Its singular values are 3 and 1 (centred or not), so PC1 holds 9/10 of the variance, PC1+2 all of it,
    and the rank-1 residual is 1 of the energy 10: blueprint error 1/sqrt(10).
    """
    a = torch.tensor([1.0, 1.0, -1.0, -1.0]) / 2
    b = torch.tensor([1.0, -1.0, 1.0, -1.0]) / 2
    e0, e1 = torch.eye(9)[0], torch.eye(9)[1]
    return (3 * torch.outer(a, e0) + torch.outer(b, e1)).reshape(1, 4, 3, 3)


@pytest.mark.parametrize("k", [3, 5])
def test_a_blueprint_filter_has_one_component_and_no_error(k):
    stats = kernel_stats(nn.Sequential(conv_with(blueprint_filters(6, 16, k))))
    assert len(stats.filters) == 6
    assert np.allclose(stats.filters.pc1, 1.0, atol=1e-9)
    assert np.allclose(stats.filters.pc12, 1.0, atol=1e-9)
    assert np.all(stats.filters.blueprint_error < 1e-6)  # float32 weights: rounding, not structure
    assert stats.summary["pc1_mean"] == pytest.approx(1.0, abs=1e-9)
    assert stats.summary["blueprint_error_total"] < 1e-6


def test_two_blueprints_give_the_hand_computed_numbers():
    row = kernel_stats(conv_with(two_blueprint_filter())).filters.iloc[0]
    assert row.pc1 == pytest.approx(0.9)
    assert row.pc12 == pytest.approx(1.0)
    assert row.blueprint_error == pytest.approx(1 / math.sqrt(10))


@pytest.mark.parametrize("k", [3, 5])
def test_gaussian_kernels_spread_their_variance_evenly(k):
    d, m = k * k, 512
    weight = torch.randn(64, m, k, k, generator=torch.Generator().manual_seed(k))
    stats = kernel_stats(conv_with(weight))
    # The largest of d values is never below their mean, so every share is at least 1/d. From above: for
    # white noise the largest eigenvalue of the sample covariance of M samples in d dimensions sits near the
    # Marchenko-Pastur edge (1 + sqrt(d/M))^2 while the trace stays about d, so the expected share is about
    # (1 + sqrt(d/M))^2 / d: 0.031 above 1/9 for k=3 and 0.020 above 1/25 for k=5 at M=512. We allow that bias
    # plus 0.01 for finite-d corrections and the spread of a mean over 64 filters (one filter's share has an
    # sd of about 0.005, so the mean's is under 0.001). A layer with learned structure (as above) is near 1.
    tolerance = ((1 + math.sqrt(d / m)) ** 2 - 1) / d + 0.01
    assert np.all(stats.filters.pc1 >= 1 / d - 1e-12)
    assert abs(stats.summary["pc1_mean"] - 1 / d) < tolerance
    assert np.all(stats.filters.pc12 >= 2 / d - 1e-12)


def test_pca_centres_the_kernels_but_the_blueprint_fit_does_not():
    g = torch.Generator().manual_seed(1)
    shared = torch.randn(1, 1, 3, 3, generator=g)
    weight = shared + 0.01 * torch.randn(8, 256, 3, 3, generator=g)  # one common kernel plus small noise
    stats = kernel_stats(conv_with(weight))
    assert stats.summary["pc1_mean"] < 0.2  # the variance around the mean kernel is the noise's: spread evenly
    assert stats.summary["blueprint_error_mean"] < 0.05  # but the kernels are almost one blueprint


def test_depthwise_grouped_1x1_and_single_channel_convs_are_listed_as_skipped():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(4, 8, 3), nn.Conv2d(8, 8, 3, groups=8), nn.Conv2d(8, 16, 1),
                          nn.Conv2d(16, 16, 3, groups=4), nn.ReLU(), nn.Conv2d(16, 4, (1, 3)))
    stats = kernel_stats(model)
    assert list(stats.layers.layer) == ["1", "6"]
    assert list(stats.layers.kernel) == ["3x3", "1x3"]
    assert dict(zip(stats.skipped.layer, stats.skipped.reason, strict=True)) == {
        "0": "one input channel", "2": "depthwise", "3": "1x1 kernel", "4": "grouped (groups=4)"}
    assert stats.summary["skipped"] == 4
    assert stats.summary["filters"] == 8 + 4
    assert stats.summary["kernels"] == 8 * 4 + 4 * 16


def test_a_bsconv_u_network_has_only_depthwise_k_by_k_convs():
    stats = kernel_stats(bsnas.build_model("cifar_resnet20_bsconvu"))
    assert stats.layers.empty and stats.summary["filters"] == 0 and math.isnan(stats.summary["pc1_mean"])
    assert set(stats.skipped.reason) == {"depthwise", "1x1 kernel"}
    assert json.dumps(stats.to_dict(), allow_nan=False)  # NaN becomes null


def test_summary_weights_and_degenerate_filters():
    blueprint = torch.eye(9)[4].reshape(1, 1, 3, 3) * torch.tensor([1.0, 2.0]).reshape(1, 2, 1, 1)  # pc1 1, energy 5
    zero = torch.zeros(1, 2, 3, 3)  # no variance, no energy: NaN, counted as degenerate
    model = nn.Sequential(conv_with(torch.cat([blueprint, zero])), conv_with(two_blueprint_filter()))
    s = kernel_stats(model).summary
    assert s["degenerate"] == 1 and s["filters"] == 3
    assert s["pc1_mean"] == pytest.approx((1.0 + 0.9) / 2)
    assert s["pc1_weighted"] == pytest.approx((2 * 9 * 1.0 + 4 * 9 * 0.9) / (2 * 9 + 4 * 9))
    assert s["blueprint_error_total"] == pytest.approx(math.sqrt(1 / (5 + 10)))


def test_the_init_control_is_seeded_and_leaves_the_global_random_state_alone():
    model = bsnas.build_model(ARCH, in_channels=1)
    state = torch.random.get_rng_state()
    a, b, c = init_control(model, seed=3), init_control(model, seed=3), init_control(model, seed=4)
    assert torch.equal(state, torch.random.get_rng_state())
    assert a.summary == b.summary and a.summary != c.summary
    assert list(a.layers.layer) == list(kernel_stats(model).layers.layer) == ["stages.0.0.conv"]
    assert initial_model(ARCH).stem.conv.conv.in_channels == 3  # anything as_record reads works too
    table = compare_layers(kernel_stats(model), a)
    assert table.init_pc1_mean.tolist() == a.layers.pc1_mean.tolist()
    with pytest.raises(bsnas.BsnasError, match="needs a bsnas model"):
        init_control(nn.Sequential(nn.Conv2d(3, 4, 3)))
    with pytest.raises(bsnas.BsnasError, match="seed must be a non-negative integer, but got -1"):
        init_control(model, seed=-1)


def test_plot_png(tmp_path):
    pytest.importorskip("matplotlib")
    model = bsnas.build_model(ARCH)
    path = plot_kernel_stats(kernel_stats(model), init_control(model), tmp_path / "k.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(bsnas.BsnasError, match="must end in .png, but got"):
        plot_kernel_stats(kernel_stats(model), None, tmp_path / "k.svg")


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    from bsnas.training import train

    out = tmp_path_factory.mktemp("kernels") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one epoch of a tiny network: one thread avoids contention on a shared machine
    try:
        train(ARCH, "digits", 1, out)
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture
def cli(monkeypatch):
    """``bsnas.cli.main`` with the kernels command: the real entry point, its exit codes and error lines.

    Until main.py registers the analysis commands, they are added next to the study commands here.
    """
    cli_main = importlib.import_module("bsnas.cli.main")  # the module: `bsnas.cli.main` the attribute is main()
    if not hasattr(cli_main, "add_analysis_commands"):
        study_commands = cli_main.add_study_commands
        monkeypatch.setattr(cli_main, "add_study_commands",
                            lambda sub: (study_commands(sub), add_analysis_commands(sub)))
    return lambda *argv: cli_main.main(["kernels", *map(str, argv)])


def test_cli_table_and_json_on_a_run_folder(cli, run_folder, capsys, tmp_path):
    assert cli(run_folder, "--plot", tmp_path / "k.png") == 0
    out = capsys.readouterr().out
    assert "stages.0.0.conv" in out and "init_pc1" in out
    assert "trained: 1 conv, 8 filters" in out and "initialisation (seed 0)" in out
    assert "depthwise (1): stages.0.1.conv.dw" in out and "one input channel (1): stem.conv.conv" in out
    assert (tmp_path / "k.png").stat().st_size > 0
    assert cli(run_folder, "--format", "json", "--seed", "2") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["arch"] == ARCH and data["init_seed"] == 2
    assert [r["layer"] for r in data["rows"]] == ["stages.0.0.conv"]
    assert 0 < data["rows"][0]["pc1_mean"] <= 1 and data["rows"][0]["init_pc1_mean"] is not None
    assert data["summary"]["filters"] == data["init_summary"]["filters"] == 8
    assert {s["reason"] for s in data["skipped"]} == {"one input channel", "1x1 kernel", "depthwise"}
    trained = kernel_stats(bsnas.create_model(run_folder))
    assert data["summary"]["pc1_mean"] == pytest.approx(trained.summary["pc1_mean"])


def test_cli_record_with_weights(cli, run_folder, capsys):
    assert cli(run_folder / "record.json", "--weights", run_folder / "model.safetensors", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["summary"]["filters"] == 8


@pytest.mark.parametrize("argv, message", [
    (["missing/run"], "model 'missing/run' does not exist; give a `bsnas train` output folder"),
    (["RECORD"], "comes without weights"),
    (["RECORD", "--weights", "nope.safetensors"], "no weights file at 'nope.safetensors'"),
    (["EMPTY"], "holds no record.json"),
    (["RUN", "--seed", "-1"], "--seed must be a non-negative integer, but got -1"),
])
def test_cli_bad_input_is_one_line_and_exit_1(cli, run_folder, tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    names = {"RECORD": run_folder / "record.json", "EMPTY": tmp_path / "empty", "RUN": run_folder}
    assert cli(*[names.get(a, a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bsnas: error: ") and message in err
