"""Size and cost range of a search space, computed exactly without enumerating it.

Costs are additive over blocks, and a block's cost depends only on its own
choices, its input width and the feature-map size (fixed per stage by the
strides). A dynamic programme over stages, keyed by the width entering the
stage, therefore gives the exact minimum and maximum FLOPs and params. The
block choices come from the same table that sampling reads
(:data:`bsnas.space.choices.BLOCK_CHOICES`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

from bsnas.arch.spec import Block, Head
from bsnas.arch.tally import block_cost, head_cost
from bsnas.space.choices import BLOCK_CHOICES, STEM_CHOICES, assignments, make_block, make_stem, parameter_names
from bsnas.space.schema import SearchSpace, StageSpace

__all__ = ["SpaceStats", "describe_space"]


class SpaceStats(NamedTuple):
    name: str
    size: int  # distinct parameter assignments, i.e. architectures
    min_flops: int
    max_flops: int
    min_params: int
    max_params: int
    input_size: tuple[int, int, int]
    parameters: list[str]


def _stem_variants(space: SearchSpace) -> Iterator[Block]:
    for values in assignments(STEM_CHOICES, space.stem, "conv"):
        yield make_stem(values, space.stem.stride)


def _block_variants(st: StageSpace, in_width: int, width: int, stride: int) -> Iterator[Block]:
    """Blocks of stage ``st`` by cost: the stage's activation does not change it, so the first stands for all."""
    for t in st.templates:
        for values in assignments(BLOCK_CHOICES, t, t.block):
            yield make_block(t.block, values, stride, width, st.act[0], in_width)


def _size(space: SearchSpace) -> int:
    total = sum(1 for _ in assignments(STEM_CHOICES, space.stem, "conv")) * len(space.head.width)
    for st in space.stages:
        per_block = sum(1 for t in st.templates for _ in assignments(BLOCK_CHOICES, t, t.block))
        total *= len(st.width) * len(st.act) * sum(per_block ** d for d in st.depth)
    return total


def describe_space(space: SearchSpace, input_size: tuple[int, int, int] | None = None,
                   num_classes: int | None = None) -> SpaceStats:
    """Size, exact FLOPs/params range and parameter names of ``space`` at ``input_size``."""
    c, h, w = input_size or space.input_size
    classes = num_classes or space.num_classes
    base_flops, base_params = (2 * c * h * w, 2 * c) if space.stem.data_bn else (0, 0)
    # state: width entering the next stage -> [min flops, max flops, min params, max params]
    states: dict[int, list[int]] = {}
    hw = (h, w)
    for b in _stem_variants(space):
        f, p, out_hw = block_cost(b, c, (h, w))
        _merge(states, b.width, [f, f, p, p])
    hw = out_hw
    for st in space.stages:
        out_hw = ((hw[0] - 1) // st.stride + 1, (hw[1] - 1) // st.stride + 1)
        new: dict[int, list[int]] = {}
        for in_width, acc in states.items():
            for width in st.width:
                first = [block_cost(b, in_width, hw)[:2] for b in _block_variants(st, in_width, width, st.stride)]
                rest = [block_cost(b, width, out_hw)[:2] for b in _block_variants(st, width, width, 1)]
                lo, hi = min(st.depth) - 1, max(st.depth) - 1
                _merge(new, width, [
                    acc[0] + min(f for f, _ in first) + lo * min(f for f, _ in rest),
                    acc[1] + max(f for f, _ in first) + hi * max(f for f, _ in rest),
                    acc[2] + min(p for _, p in first) + lo * min(p for _, p in rest),
                    acc[3] + max(p for _, p in first) + hi * max(p for _, p in rest)])
        states, hw = new, out_hw
    totals = [math.inf, -math.inf, math.inf, -math.inf]
    for in_width, acc in states.items():
        for width in space.head.width:
            has_act = space.head.bn or width is not None
            head = Head(space.head.bn, width, space.head.act if has_act else None,
                        space.head.se if width is not None else None)
            f, p = head_cost(head, in_width, hw, classes)
            _merge_total(totals, [acc[0] + f, acc[1] + f, acc[2] + p, acc[3] + p])
    return SpaceStats(space.name, _size(space), base_flops + totals[0], base_flops + totals[1],
                      base_params + totals[2], base_params + totals[3], (c, h, w), parameter_names(space))


def _merge(states: dict[int, list[int]], key: int, value: list[int]) -> None:
    if key not in states:
        states[key] = value
    else:
        _merge_total(states[key], value)


def _merge_total(acc: list, value: list[int]) -> None:
    acc[0], acc[1] = min(acc[0], value[0]), max(acc[1], value[1])
    acc[2], acc[3] = min(acc[2], value[2]), max(acc[3], value[3])
