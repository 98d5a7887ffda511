"""Exact analytic FLOPs and parameters of an :class:`~bsnas.arch.spec.Arch`, from the data alone.

The convention is fvcore's (``fvcore.nn.FlopCountAnalysis`` on the model
in eval mode): one multiply-add is one FLOP. Counted:

* convolutions: ``out_channels × in_channels/groups × k² × H_out × W_out``
  (biases add nothing);
* the linear classifier: ``in × out``;
* BatchNorm (eval, affine): 2 FLOPs per element;
* global average pooling (also inside squeeze-excitation): 1 per input element.

Activations, residual additions, the SE multiplication and the stem's
max-pool (fvcore has no handle for ``aten::max_pool2d``) count 0.
Parameters are ``sum(p.numel() for p in model.parameters())``.
The formulas mirror :mod:`bsnas.nn.blocks` and :mod:`bsnas.nn.model`; the tests
check them against fvcore on every baseline and hundreds of random
architectures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from bsnas.arch.spec import Arch, Block, FlatBlock, Head
from bsnas.arch.widths import bsconv_s_mid_channels

__all__ = ["Cost", "StageCost", "activation_count", "block_cost", "head_cost", "multiply_adds", "stage_costs"]


class Cost(NamedTuple):
    flops: int
    params: int


class StageCost(NamedTuple):
    """One row of a per-stage profile: ``name`` is ``stem``, ``s1``, ``s2``, ... or ``head``."""

    name: str
    blocks: int
    out_shape: tuple[int, int, int]
    flops: int
    params: int


class _Tally:
    """Accumulates FLOPs and params while tracking the feature-map size."""

    def __init__(self, h: int, w: int, norms_and_pools: bool = True):
        self.h, self.w = h, w
        self.norms_and_pools = norms_and_pools  # False: conv and linear multiply-adds only
        self.flops = self.params = 0
        self.activations = 0  # values every conv and BN output holds per image (kept for the backward pass)

    def conv(self, cin: int, cout: int, k: int, s: int = 1, groups: int = 1, bias: bool = False) -> None:
        self.h, self.w = (self.h - 1) // s + 1, (self.w - 1) // s + 1
        weights = cout * (cin // groups) * k * k
        self.flops += weights * self.h * self.w
        self.params += weights + (cout if bias else 0)
        self.activations += cout * self.h * self.w

    def max_pool(self, k: int | None) -> None:
        """The stem's stride-2 max-pool with same padding: it only shrinks the map (0 FLOPs, no params)."""
        if k is not None:
            self.h, self.w = (self.h - 1) // 2 + 1, (self.w - 1) // 2 + 1

    def bn(self, c: int) -> None:
        self.flops += 2 * c * self.h * self.w * self.norms_and_pools
        self.params += 2 * c
        self.activations += c * self.h * self.w

    def se(self, c: int, divisor: int) -> None:
        squeeze = c // divisor
        self.flops += c * self.h * self.w * self.norms_and_pools + 2 * c * squeeze
        self.params += 2 * c * squeeze + squeeze + c

    def head(self, head: Head, width: int, num_classes: int) -> None:
        if head.bn:
            self.bn(width)
        if head.width is not None:
            self.conv(width, head.width, 1)
            self.bn(head.width)
            width = head.width
            if head.se is not None:
                self.se(width, head.se)
        self.flops += width * self.h * self.w * self.norms_and_pools + width * num_classes
        self.params += width * num_classes + num_classes
        self.h = self.w = 1

    def block_conv(self, b: Block, cin: int, cout: int, s: int) -> None:
        if b.op == "regular":
            self.conv(cin, cout, b.kernel, s)
        elif b.op == "dsc":
            self.conv(cin, cin, b.kernel, s, groups=cin)
            self.bn(cin)
            self.conv(cin, cout, 1)
        elif b.op == "bsconv_u":
            self.conv(cin, cout, 1)
            self.conv(cout, cout, b.kernel, s, groups=cout)
        else:
            mid = bsconv_s_mid_channels(cin, b.p)
            self.conv(cin, mid, 1)
            self.bn(mid)
            self.conv(mid, cout, 1)
            self.bn(cout)
            self.conv(cout, cout, b.kernel, s, groups=cout)

    def block(self, b: Block, cin: int) -> None:
        h, w = self.h, self.w
        if b.kind == "skip":
            if b.stride != 1 or cin != b.width:
                self.conv(cin, b.width, 1, b.stride)
                self.bn(b.width)
        elif b.kind == "conv":
            self.block_conv(b, cin, b.width, b.stride)
            if b.bn:
                self.bn(b.width)
        elif b.kind in ("basic", "pre"):
            pre = b.kind == "pre"
            if pre:
                self.bn(cin)
            self.block_conv(b, cin, b.width, b.stride)
            self.bn(b.width)
            self.block_conv(b, b.width, b.width, 1)
            if not pre:
                self.bn(b.width)
            if b.stride != 1 or cin != b.width:
                out_hw, (self.h, self.w) = (self.h, self.w), (h, w)
                self.conv(cin, b.width, 1, b.stride)
                if not pre:
                    self.bn(b.width)
                self.h, self.w = out_hw
        else:
            self.inverted_residual(b, cin)

    def inverted_residual(self, b: Block, cin: int) -> None:
        if b.op in ("dsc", "bsconv_s"):
            self.conv(cin, b.mid, 1)
            self.bn(b.mid)
            self.conv(b.mid, b.mid, b.kernel, b.stride, groups=b.mid)
        elif b.op == "bsconv_u":
            self.conv(cin, b.mid, 1)
            self.conv(b.mid, b.mid, b.kernel, b.stride, groups=b.mid)
        else:
            self.conv(cin, b.mid, b.kernel, b.stride)
        self.bn(b.mid)
        if b.se is not None:
            self.se(b.mid, b.se)
        self.conv(b.mid, b.width, 1)
        self.bn(b.width)


def _run(arch: Arch, tally: _Tally, in_channels: int) -> Iterator[FlatBlock]:
    """Tally every block of ``arch`` in order (the stem's max-pool after the stem), yielding each when done."""
    for fb in arch.flat_blocks(in_channels):
        tally.block(fb.block, fb.in_channels)
        if fb.stage == 0:
            tally.max_pool(arch.stem.pool)
        yield fb


def stage_costs(arch: Arch, input_size: tuple[int, int, int], num_classes: int) -> list[StageCost]:
    """Per-stage FLOPs and params: ``stem``, ``s1`` ... ``sN``, ``head`` (pool and classifier included)."""
    c, h, w = input_size
    tally, rows = _Tally(h, w), []
    done = Cost(0, 0)

    def close(name: str, blocks: int, channels: int) -> None:
        nonlocal done
        rows.append(StageCost(name, blocks, (channels, tally.h, tally.w),
                              tally.flops - done.flops, tally.params - done.params))
        done = Cost(tally.flops, tally.params)

    if arch.stem.data_bn:
        tally.bn(c)
    for fb in _run(arch, tally, c):
        stage = arch.stages[fb.stage - 1] if fb.stage else (arch.stem.conv,)
        if fb.index == len(stage) - 1:
            close(f"s{fb.stage}" if fb.stage else "stem", len(stage), fb.block.width)
    tally.head(arch.head, arch.stages[-1][-1].width, num_classes)
    close("head", 0, num_classes)
    return rows


def block_cost(block: Block, in_channels: int, hw: tuple[int, int]) -> tuple[int, int, tuple[int, int]]:
    """(FLOPs, params, output height and width) of one block fed ``in_channels`` × ``hw``."""
    tally = _Tally(*hw)
    tally.block(block, in_channels)
    return tally.flops, tally.params, (tally.h, tally.w)


def head_cost(head: Head, in_channels: int, hw: tuple[int, int], num_classes: int) -> tuple[int, int]:
    """(FLOPs, params) of the head, pooling and classifier."""
    tally = _Tally(*hw)
    tally.head(head, in_channels, num_classes)
    return tally.flops, tally.params


def activation_count(arch: Arch, input_size: tuple[int, int, int]) -> int:
    """Values the conv and BN outputs of one image hold: the bulk of training memory per image."""
    c, h, w = input_size
    tally = _Tally(h, w)
    for _ in _run(arch, tally, c):
        pass
    return tally.activations + c * h * w


def multiply_adds(arch: Arch, input_size: tuple[int, int, int], num_classes: int) -> int:
    """The multiply-adds of the convs and linear layers only: the FLOPs of tables such as NAS-Bench-Macro,
    which count neither BatchNorm nor pooling (fvcore's count, :func:`bsnas.count`, adds both)."""
    c, h, w = input_size
    tally = _Tally(h, w, norms_and_pools=False)
    for _ in _run(arch, tally, c):
        pass
    tally.head(arch.head, arch.stages[-1][-1].width, num_classes)
    return tally.flops
