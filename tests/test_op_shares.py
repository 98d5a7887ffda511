"""Conv-type shares on the Pareto front against all trained trials, by blocks and by FLOPs."""

from __future__ import annotations

import dataclasses
import json
import math

import optuna
import pytest

import bsnas
from bsnas.results.op_shares import arch_op_weights, format_op_shares, op_shares, op_shares_json

optuna.logging.set_verbosity(optuna.logging.WARNING)

# Digits-sized inputs, 1×4×4, so every FLOP count below is small enough to check by hand.
SIZE = (1, 4, 4)
A = "stem_reg_k3_s1_c4_relu:conv_dsc_k3_s1_c8_relu:head"  # front
B = "stem_reg_k3_s1_c4_relu:conv_bsu_k3_s1_c8_relu:head"  # dominated by A
C = "stem_bsu_k3_s1_c4_relu:conv_bsu_k3_s1_c8_relu:head"  # front
D = "stem_bss_p0.5_k3_s1_c4_relu:conv_bss_p0.5_k3_s1_c8_relu:head"  # never trained: must not count

# Block FLOPs on a 4×4 map (16 positions; no stride): conv out·in/groups·k²·16, BN 2·channels·16.
STEM_REG = 4 * 1 * 9 * 16 + 2 * 4 * 16  # 704
STEM_BSU = 4 * 1 * 16 + 4 * 9 * 16 + 2 * 4 * 16  # pw 1→4, dw 3×3, BN: 768
CONV_DSC = 4 * 9 * 16 + 2 * 4 * 16 + 8 * 4 * 16 + 2 * 8 * 16  # dw, inner BN, pw 4→8, BN: 1472
CONV_BSU = 8 * 4 * 16 + 8 * 9 * 16 + 2 * 8 * 16  # pw 4→8, dw 3×3 (no inner BN), BN: 1920


def study_of(trials, data_info=True):
    """trials: (arch, accuracy, flops attribute, status)."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.set_metric_names(["accuracy", "flops"])
    if data_info:
        study.set_user_attr("data_info", {"input_size": list(SIZE)})
    for arch, acc, flops, status in trials:
        attrs = {"arch": arch, "accuracy": acc, "flops": flops, "params": 10, "status": status,
                 "conv_mix": bsnas.decode_arch(arch).conv_mix()}
        study.add_trial(optuna.trial.create_trial(values=[acc, flops], user_attrs=attrs))
    return study


@pytest.fixture
def study():
    return study_of([(A, 0.90, 100, "trained"), (B, 0.80, 200, "trained"), (C, 0.95, 300, "trained"),
                     (C, 0.95, 300, "reused"), (D, 0.99, 50, "infeasible"), (D, 0.99, 50, "stopped")])


def shares(df, column):
    return dict(zip(df.op, df[column], strict=True))


def test_hand_computed_block_flops_match_the_cost_model():
    for arch, parts in ((A, [STEM_REG, CONV_DSC]), (B, [STEM_REG, CONV_BSU]), (C, [STEM_BSU, CONV_BSU])):
        rows = bsnas.count_stages(arch, SIZE, 10)
        assert [r.flops for r in rows[:2]] == parts


def test_by_blocks(study):
    df = op_shares(study, "blocks")
    assert list(df.op) == ["regular", "dsc", "bsconv_u", "bsconv_s"]
    assert df.attrs["front"] == 2 and df.attrs["trained"] == 3
    # Front A (reg, dsc) and C (bsu, bsu); all trained A, B (reg, bsu), C. Each architecture weighs the same.
    assert shares(df, "front_share") == pytest.approx({"regular": 1 / 4, "dsc": 1 / 4, "bsconv_u": 1 / 2,
                                                       "bsconv_s": 0})
    assert shares(df, "all_share") == pytest.approx({"regular": 1 / 3, "dsc": 1 / 6, "bsconv_u": 1 / 2,
                                                     "bsconv_s": 0})
    enrichment = shares(df, "enrichment")
    assert [enrichment["regular"], enrichment["dsc"], enrichment["bsconv_u"]] == pytest.approx([0.75, 1.5, 1.0])
    assert math.isnan(enrichment["bsconv_s"])  # never trained: no ratio


def test_by_flops(study):
    df = op_shares(study, "flops")
    a_total, b_total = STEM_REG + CONV_DSC, STEM_REG + CONV_BSU
    front = {"regular": STEM_REG / a_total / 2, "dsc": CONV_DSC / a_total / 2, "bsconv_u": 1 / 2, "bsconv_s": 0}
    every = {"regular": (STEM_REG / a_total + STEM_REG / b_total) / 3, "dsc": CONV_DSC / a_total / 3,
             "bsconv_u": (CONV_BSU / b_total + 1) / 3, "bsconv_s": 0}
    assert shares(df, "front_share") == pytest.approx(front)
    assert shares(df, "all_share") == pytest.approx(every)
    assert shares(df, "enrichment")["dsc"] == pytest.approx(front["dsc"] / every["dsc"])
    assert sum(df.front_share) == pytest.approx(1) and sum(df.all_share) == pytest.approx(1)


def test_only_trained_trials_count():
    df = op_shares(study_of([(A, 0.9, 100, "trained"), (D, 0.99, 50, "reused"), (D, 0.99, 50, "stopped")]))
    assert shares(df, "front_share") == pytest.approx({"regular": 0.5, "dsc": 0.5, "bsconv_u": 0, "bsconv_s": 0})
    with pytest.raises(bsnas.BsnasError, match="has no trained trials"):
        op_shares(study_of([(D, 0.99, 50, "infeasible")]))


def test_bad_requests_say_what_to_do(study):
    with pytest.raises(bsnas.BsnasError, match="by blocks or flops, but got 'params'"):
        op_shares(study, "params")
    no_size = study_of([(A, 0.9, 100, "trained")], data_info=False)
    with pytest.raises(bsnas.BsnasError, match="stores no data_info.input_size"):
        op_shares(no_size, "flops")
    assert op_shares(no_size, "flops", input_size=SIZE).front_share.sum() == pytest.approx(1)


STEM_POOL = "pool" in {f.name for f in dataclasses.fields(bsnas.Stem)}


@pytest.mark.parametrize("arch", ["cifar_resnet20_bsconvs_p1d4", "cifar_mobilenetv3_small_w1",
                                  "cifar_wrn16_2_bsconvu"]
                         + (["stem_dbn_reg_k7_s2_c16_relu_mp3:basic_bsu_k3_s1_c16_relu:head"] if STEM_POOL else []))
def test_block_flops_add_up_to_the_model_without_data_bn_and_head(arch):
    record = bsnas.as_record(arch)
    c, h, w = record.input_size
    flops = sum(arch_op_weights(record.arch, "flops", record.input_size).values())
    rows = bsnas.count_stages(record)
    data_bn = 2 * c * h * w if record.arch.stem.data_bn else 0
    assert flops == bsnas.count(record).flops - rows[-1].flops - data_bn
    assert sum(arch_op_weights(record.arch, "blocks").values()) == sum(record.arch.conv_mix().values())


def test_what_the_cli_prints(study):
    df = op_shares(study, "blocks")
    table = format_op_shares(df)
    assert table.splitlines()[0].startswith("conv types by blocks: share on the front (2 architectures)")
    assert [line.split() for line in table.splitlines()[2:]] == [
        ["regular", "25.0%", "33.3%", "0.75"], ["dsc", "25.0%", "16.7%", "1.50"],
        ["bsconv_u", "50.0%", "50.0%", "1.00"], ["bsconv_s", "0.0%", "0.0%", "-"]]
    data = json.loads(format_op_shares(df, "json"))
    assert data == op_shares_json(df) and data["rows"][3]["enrichment"] is None
    assert "| op " in format_op_shares(df, "markdown")
    assert format_op_shares(df, "csv").startswith("op,front_share,all_share,enrichment")
    assert "at 1x4x4" in format_op_shares(op_shares(study, "flops"))
