from __future__ import annotations

import dataclasses
import random

import pytest

import bsnas
from bsnas import ArchError, Block, decode_arch, encode_arch
from tests.conftest import random_arch

RESNET8 = "stem_dbn_reg_k3_s1_c16_relu:basic_bsu_k3_s1_c16_relu:basic_bss_p0.25_k3_s2_c32_relu_r2:head"


@pytest.mark.parametrize("name", bsnas.list_baselines())
def test_every_baseline_round_trips(name):
    arch = bsnas.baseline(name).arch
    text = encode_arch(arch)
    assert decode_arch(text) == arch
    assert encode_arch(decode_arch(text)) == text


def test_random_architectures_round_trip():
    rng = random.Random(1)
    for _ in range(300):
        arch = random_arch(rng)
        assert decode_arch(encode_arch(arch)) == arch


def test_one_string_per_architecture():
    shuffled = "stem_relu_c16_s1_k3_reg_dbn:basic_relu_c16_k3_s1_bsu:basic_s2_k3_relu_c32_p0.250_bss_r2:head"
    assert encode_arch(decode_arch(shuffled)) == RESNET8
    explicit = RESNET8.replace("_r2", "-basic_bss_p0.25_k3_s1_c32_relu")
    assert decode_arch(explicit) == decode_arch(RESNET8)
    assert encode_arch(decode_arch(explicit)) == RESNET8
    # Different architectures give different strings.
    rng = random.Random(2)
    archs = {random_arch(rng) for _ in range(200)}
    assert len({encode_arch(a) for a in archs}) == len(archs)


def test_repeat_keeps_stride_only_on_first_block():
    arch = decode_arch(RESNET8)
    assert [b.stride for b in arch.stages[1]] == [2, 1]
    assert arch.stages[1][0].p == 0.25


@pytest.mark.parametrize(
    "text,fragment",
    [
        (RESNET8.replace("_relu:basic_bsu", "_relu:basic_bsu_q7"), "unknown token 'q7'"),
        (RESNET8.replace("basic_bsu_k3", "basic_bsu_k3_k5"), "duplicate kernel token 'k5'"),
        (RESNET8.replace("basic_bsu_k3_s1_c16", "basic_bsu_k3_s1"), "missing width"),
        (RESNET8.replace("basic_bsu_k3", "basic_bsu_k4"), "kernel must be odd"),
        (RESNET8.replace("basic_bsu", "basic_bsu_m8"), "mid applies to ir blocks only"),
        (RESNET8.replace("bss_p0.25", "bss"), "needs a float p"),
        (RESNET8.replace("basic_bsu", "basic_bsu_p0.5"), "p applies to bsconv_s"),
        (RESNET8.replace("basic_bsu", "wide_bsu"), "unknown block kind 'wide'"),
        (RESNET8.replace(":head", ":head_c64"), "needs an activation"),
        (RESNET8.replace(":head", ""), "last segment must start with 'head'"),
        (RESNET8.replace("stem_", "steam_"), "first segment must start with 'stem'"),
        (RESNET8.replace("_r2", "_r0"), "repeat must be >= 1"),
        ("stem_reg_k3_s1_c8_relu:ir_dsc_k3_s1_c8_m3_se4_relu:head", "se4 squeezes 3 channels to 0"),
        ("stem_reg_k3_s1_c8_relu::head", "empty stage"),
        ("stem_reg_k3_s1_c8_relu:head", "3 segments"),
        (RESNET8.replace("c16_relu:", "c16_relu_d0.2:"), "belongs in the head"),
        (RESNET8.replace("s2", "s0"), "stride must be an integer in [1, 4]"),
    ],
)
def test_errors_quote_the_token_and_the_whole_string(text, fragment):
    with pytest.raises(ArchError) as info:
        decode_arch(text)
    message = str(info.value)
    assert fragment in message
    assert repr(text) in message


def test_empty_and_non_string_input():
    for bad in ("", "   ", None, 42):
        with pytest.raises(ArchError, match="non-empty str"):
            decode_arch(bad)


def test_dataclasses_are_frozen_and_validated():
    block = Block("conv", "regular", 3, 1, 8, "relu")
    with pytest.raises(dataclasses.FrozenInstanceError):
        block.width = 4
    with pytest.raises(ArchError, match="conv type must be one of"):
        Block("conv", "depthwise", 3, 1, 8, "relu")
    with pytest.raises(ArchError, match="activation must be one of"):
        Block("conv", "regular", 3, 1, 8, "gelu")
    with pytest.raises(ArchError, match="width must be an integer >= 1, but got 0"):
        Block("conv", "regular", 3, 1, 0, "relu")
