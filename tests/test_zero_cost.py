"""Zero-cost scores: each equals its definition on small networks worked by hand, and the API and CLI
refuse bad input in one line."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bsnas.cli import main
from bsnas.data import load_data
from bsnas.errors import BsnasError
from bsnas.tables import nas_bench_macro as nbm
from bsnas.training.zero_cost import ZERO_COST_SCORES, _grad_norm, _naswot, _snip, _synflow, _zico, zero_cost_scores


@pytest.fixture(scope="module")
def digits():
    return load_data("digits", resolution=16)


def tiny(bn: bool = True) -> nn.Module:
    torch.manual_seed(0)
    layers = [nn.Conv2d(1, 3, 3, padding=1, bias=False)]
    layers += [nn.BatchNorm2d(3)] if bn else []
    layers += [nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2, bias=False)]
    return nn.Sequential(*layers)


def test_synflow_of_a_bias_free_positive_network_is_its_depth_times_its_output():
    # with |weights| and an all-ones input every ReLU passes, so R is linear in each layer's weights and
    # sum(w * dR/dw) = R for each of the two layers; BatchNorm is removed first, so it cannot change that
    x = torch.randn(5, 1, 4, 4)
    net = tiny(bn=True)
    with torch.no_grad():  # a BatchNorm far from the identity, which would change R if it were kept
        net[1].running_var.fill_(9.0)
        net[1].weight.fill_(4.0)
    plain = tiny(bn=False)
    plain.double()
    with torch.no_grad():
        for p in plain.parameters():
            p.abs_()
        r = plain(torch.ones(1, 1, 4, 4, dtype=torch.float64)).sum().item()
    assert _synflow(net, x) == pytest.approx(2 * r, rel=1e-9)
    assert isinstance(net[1], nn.BatchNorm2d) and net[0].weight.dtype == torch.float32  # the model is untouched


def test_naswot_is_the_log_determinant_of_the_code_kernel():
    net = tiny(bn=False)
    x = torch.randn(6, 1, 4, 4)
    codes = (torch.relu(net[0](x)).flatten(1) > 0).double()
    kernel = codes @ codes.T + (1 - codes) @ (1 - codes).T
    assert _naswot(net, x) == pytest.approx(torch.linalg.slogdet(kernel)[1].item())
    assert not net[2]._forward_hooks  # hooks removed


def test_grad_norm_and_snip_follow_their_definitions():
    net = tiny(bn=False)
    x, y = torch.randn(4, 1, 4, 4), torch.tensor([0, 1, 1, 0])
    F.cross_entropy(net(x), y).backward()
    weights = [net[0].weight, net[3].weight]
    norm = sum(w.grad.norm().item() for w in weights)
    snip = sum((w * w.grad).abs().sum().item() for w in weights)
    assert _grad_norm(net, x, y) == pytest.approx(norm, rel=1e-6)
    assert _snip(net, x, y) == pytest.approx(snip, rel=1e-6)


def test_zico_is_the_log_of_mean_over_std_per_layer():
    net = tiny(bn=False)
    batches = [(torch.randn(4, 1, 4, 4), torch.tensor([0, 1, 1, 0])) for _ in range(3)]
    grads = []
    for x, y in batches:
        net.zero_grad()
        F.cross_entropy(net(x), y).backward()
        grads.append([net[0].weight.grad.clone(), net[3].weight.grad.clone()])
    expected = 0.0
    for layer in zip(*grads, strict=True):
        g = torch.stack(layer).flatten(1).double()
        std, mean = g.std(0, correction=0), g.abs().mean(0)
        expected += math.log((mean[std > 0] / std[std > 0]).sum().item())
    assert _zico(net, batches) == pytest.approx(expected, rel=1e-6)
    same = [batches[0]] * 2  # identical gradients: no weight varies, so no layer adds anything
    assert _zico(net, same) == 0.0


def test_scores_are_seeded_and_every_block_kind_works():
    native = load_data("digits")  # 8x8: a quarter of the work of the 16x16 fixture
    a = zero_cost_scores("cifar_resnet20_bsconvs_p1d4", native, seed=1, batch_size=32)
    b = zero_cost_scores("cifar_resnet20_bsconvs_p1d4", native, seed=1, batch_size=32)
    c = zero_cost_scores("cifar_resnet20_bsconvs_p1d4", native, seed=2, batch_size=32)
    assert list(a) == [*ZERO_COST_SCORES, "seconds"]
    for name in ZERO_COST_SCORES:
        assert math.isfinite(a[name]) and a[name] == b[name] != c[name]
    mbv2 = zero_cost_scores(nbm.arch("10112121"), native, ["naswot", "zico"], batch_size=16)
    assert set(mbv2) == {"naswot", "zico", "seconds"}


def test_bad_input_is_refused_with_the_value_and_the_fix(digits):
    with pytest.raises(BsnasError, match="unknown zero-cost score 'nope'; choose from synflow"):
        zero_cost_scores("cifar_resnet20", digits, ["nope"])
    with pytest.raises(BsnasError, match="batch_size must be an integer >= 2, but got 1"):
        zero_cost_scores("cifar_resnet20", digits, batch_size=1)
    with pytest.raises(BsnasError, match="more than the .* training images; lower --batch-size"):
        zero_cost_scores("cifar_resnet20", digits, batch_size=5000)
    with pytest.raises(BsnasError, match="resolution 8x8 is smaller than the network's total stride 32"):
        zero_cost_scores("mobilenetv1_w1d4", load_data("digits"), "naswot")
    assert set(zero_cost_scores("cifar_resnet20", digits, "naswot")) == {"naswot", "seconds"}  # one name as a str


def test_cli_prints_the_scores_and_one_line_errors(capsys):
    assert main(["zero-cost", "cifar_resnet20", "--data", "digits", "--resolution", "16", "--scores",
                 "synflow,snip", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["rows"][0]) == {"arch", "flops", "params", "synflow", "snip", "seconds"}
    assert main(["zero-cost", "cifar_resnet20", "--data", "digits", "--scores", "synflow,bogus"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown zero-cost score 'bogus'" in err
    assert main(["zero-cost", "--data", "digits"]) == 1
    assert "no architecture to score" in capsys.readouterr().err
    assert main(["zero-cost", "--random", "3", "--data", "digits"]) == 1
    assert "--random needs --space" in capsys.readouterr().err
    assert main(["zero-cost", "cifar_resnet20", "--data", "digits", "--scores", "naswot", "--sort", "snip"]) == 1
    assert "--sort 'snip' is not among the scores computed (naswot)" in capsys.readouterr().err


def test_cli_ranks_random_members_of_a_space_by_a_score(capsys):
    assert main(["zero-cost", "--space", "nas_bench_macro", "--random", "4", "--data", "digits", "--scores",
                 "naswot,grad_norm", "--sort", "naswot", "--batch-size", "16", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert len({r["arch"] for r in rows}) == 4
    assert [r["naswot"] for r in rows] == sorted((r["naswot"] for r in rows), reverse=True)
