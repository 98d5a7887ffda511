"""The units a latency table measures: the stem, each block at its input size, and the head.

A network is cut where :class:`~bsnas.nn.model.BsnasNet` runs its modules one after another: the stem
(data BN, conv, max-pool), every stage block, and the tail (head, global pool, classifier). A unit's key
names all that its latency depends on: the block's canonical string (kind, conv type, widths, kernel,
stride, expansion, SE, activation) and the shape of its input. :func:`space_units` lists every unit a
search space can produce at one input size, stage by stage, following the widths that can enter each
stage (as :func:`bsnas.space.describe_space` does for FLOPs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from torch import nn

from bsnas.arch.codec import encode_block
from bsnas.arch.spec import Arch, Block, Head
from bsnas.arch.tally import block_cost
from bsnas.nn.blocks import create_block
from bsnas.nn.model import head_module
from bsnas.space.choices import BLOCK_CHOICES, STEM_CHOICES, assignments, make_block, make_stem
from bsnas.space.schema import SearchSpace

__all__ = ["Unit", "arch_units", "space_units"]


@dataclass(frozen=True)
class Unit:
    """One measured piece of a network: its table key, its input (C, H, W) and how to build it."""

    key: str
    shape: tuple[int, int, int]
    build: Callable[[], nn.Module]
    block: Block | None = None  # the stem's conv or the stage block; None for the head


def _pooled(hw: tuple[int, int]) -> tuple[int, int]:
    return (hw[0] - 1) // 2 + 1, (hw[1] - 1) // 2 + 1


def _stem_unit(conv: Block, data_bn: bool, pool: int | None, c: int, hw: tuple[int, int]) -> tuple[Unit, tuple]:
    def build() -> nn.Module:
        seq = nn.Sequential()
        if data_bn:
            seq.add_module("data_bn", nn.BatchNorm2d(c))
        seq.add_module("conv", create_block(c, conv))
        if pool is not None:
            seq.add_module("pool", nn.MaxPool2d(pool, stride=2, padding=pool // 2))
        return seq

    out = block_cost(conv, c, hw)[2]
    key = f"stem:{'bn-' if data_bn else ''}{encode_block(conv)}{f'-pool{pool}' if pool else ''}@{c}x{hw[0]}x{hw[1]}"
    return Unit(key, (c, *hw), build, conv), (_pooled(out) if pool is not None else out)


def _block_unit(block: Block, c: int, hw: tuple[int, int]) -> tuple[Unit, tuple]:
    return (Unit(f"block:{encode_block(block)}@{c}x{hw[0]}x{hw[1]}", (c, *hw), lambda: create_block(c, block), block),
            block_cost(block, c, hw)[2])


def _head_unit(head: Head, c: int, hw: tuple[int, int], num_classes: int) -> Unit:
    def build() -> nn.Module:
        width = head.width if head.width is not None else c
        return nn.Sequential(head_module(head, c), nn.AdaptiveAvgPool2d(1), nn.Flatten(1),
                             nn.Linear(width, num_classes))

    fields = f"bn{int(head.bn)}-w{head.width}-{head.act}-se{head.se}-classes{num_classes}"
    return Unit(f"head:{fields}@{c}x{hw[0]}x{hw[1]}", (c, *hw), build)


def arch_units(arch: Arch, input_size: tuple[int, int, int], num_classes: int) -> list[Unit]:
    """The units of ``arch`` at ``input_size``, in the order the network runs them."""
    c, h, w = input_size
    blocks = iter(arch.flat_blocks(c))
    stem = next(blocks)
    unit, hw = _stem_unit(stem.block, arch.stem.data_bn, arch.stem.pool, c, (h, w))
    units = [unit]
    for fb in blocks:
        unit, hw = _block_unit(fb.block, fb.in_channels, hw)
        units.append(unit)
    units.append(_head_unit(arch.head, arch.stages[-1][-1].width, hw, num_classes))
    return units


def _stage_blocks(space: SearchSpace, s: int, in_width: int, width: int, stride: int) -> Iterator[Block]:
    st = space.stages[s]
    for act in st.act:
        for t in st.templates:
            for values in assignments(BLOCK_CHOICES, t, t.block):
                yield make_block(t.block, values, stride, width, act, in_width)


def space_units(space: SearchSpace, input_size: tuple[int, int, int], num_classes: int) -> list[list[Unit]]:
    """Every unit ``space`` can produce at ``input_size``, grouped by position: the stem's, then two groups
    per stage (its first block, which may change the stride and width, and the blocks after it), then the
    head's. Each unit appears once in its group."""
    c, h, w = input_size
    groups: list[dict[str, Unit]] = [{}]
    widths: set[int] = set()
    hw = (h, w)
    for values in assignments(STEM_CHOICES, space.stem, "conv"):
        unit, out = _stem_unit(make_stem(values, space.stem.stride), space.stem.data_bn, None, c, (h, w))
        groups[0][unit.key] = unit
        widths.add(values["width"])
    hw = out
    for s, st in enumerate(space.stages):
        first: dict[str, Unit] = {}
        rest: dict[str, Unit] = {}
        out_hw = hw
        for in_width in sorted(widths):
            for width in st.width:
                for block in _stage_blocks(space, s, in_width, width, st.stride):
                    unit, out_hw = _block_unit(block, in_width, hw)
                    first[unit.key] = unit
        for width in st.width:
            if max(st.depth) > 1:
                for block in _stage_blocks(space, s, width, width, 1):
                    unit, _ = _block_unit(block, width, out_hw)
                    rest[unit.key] = unit
        groups += [first, rest]
        widths, hw = set(st.width), out_hw
    heads: dict[str, Unit] = {}
    for in_width in sorted(widths):
        for width in space.head.width:
            has_act = space.head.bn or width is not None
            head = Head(space.head.bn, width, space.head.act if has_act else None,
                        space.head.se if width is not None else None)
            unit = _head_unit(head, in_width, hw, num_classes)
            heads[unit.key] = unit
    groups.append(heads)
    return [list(g.values()) for g in groups]
