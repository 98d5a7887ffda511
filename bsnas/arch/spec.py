"""Architectures as data: a frozen, validated dataclass tree.

An :class:`Arch` is a :class:`Stem`, a tuple of stages (each a tuple of
:class:`Block`) and a :class:`Head`. Every field is concrete (no
multipliers, no repeats), so two equal architectures are equal objects and
have one canonical string (see :mod:`bsnas.arch.codec`).

:meth:`Arch.flat_blocks` is the single "unify" step that the model builder
and the cost model both read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from bsnas.arch.names import ACTIVATIONS, BLOCK_KINDS, CONV_TYPES, MAX_KERNEL
from bsnas.errors import ArchError

__all__ = ["Arch", "Block", "FlatBlock", "Head", "Stem"]


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ArchError(message)


def _check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
    ok = ok and (high is None or value <= high)
    limit = f">= {low}" if high is None else f"in [{low}, {high}]"
    _check(ok, f"{name} must be an integer {limit}, but got {value!r}")


@dataclass(frozen=True)
class Block:
    """One block. ``mid`` is the expanded width of an ``ir`` block; ``p`` the
    BSConv-S middle-width ratio (``bsconv_s`` in ``conv``/``basic``/``pre``
    blocks only); ``se`` the squeeze divisor of an ``ir`` block's
    squeeze-excitation; ``bn=False`` drops the BN of a ``conv`` block."""

    kind: str
    op: str
    kernel: int
    stride: int
    width: int
    act: str
    mid: int | None = None
    p: float | None = None
    se: int | None = None
    bn: bool = True

    @classmethod
    def skip(cls, stride: int, width: int) -> Block:
        """An identity layer (a 1×1 projection where it changes the stride or the width)."""
        return cls("skip", "regular", 1, stride, width, "linear")

    def __post_init__(self) -> None:
        _check(self.kind in BLOCK_KINDS, f"block kind must be one of {BLOCK_KINDS}, but got {self.kind!r}")
        if self.kind == "skip":
            _check((self.op, self.kernel, self.act, self.mid, self.p, self.se, self.bn) ==
                   ("regular", 1, "linear", None, None, None, True),
                   f"a skip block has only a stride and a width (op='regular', kernel=1, act='linear' and no "
                   f"mid, p, se or bn=False), but got {self!r}")
        _check(self.op in CONV_TYPES, f"conv type must be one of {CONV_TYPES}, but got {self.op!r}")
        _check(self.act in ACTIVATIONS, f"activation must be one of {ACTIVATIONS}, but got {self.act!r}")
        _check_int("kernel", self.kernel, 1, MAX_KERNEL)
        _check(self.kernel % 2 == 1, f"kernel must be odd (same padding), but got {self.kernel}")
        _check_int("stride", self.stride, 1, 4)
        _check_int("width", self.width, 1)
        if self.kind == "ir":
            _check_int("mid (expanded width of an ir block)", self.mid, 1)
        else:
            _check(self.mid is None, f"mid applies to ir blocks only, but a {self.kind} block got mid={self.mid}")
            _check(self.se is None, f"se applies to ir blocks only, but a {self.kind} block got se={self.se}")
        if self.op == "bsconv_s" and self.kind != "ir":
            _check(isinstance(self.p, float) and 0.0 <= self.p <= 1.0,
                   f"a bsconv_s {self.kind} block needs a float p in [0, 1], but got p={self.p!r}")
        else:
            _check(self.p is None, f"p applies to bsconv_s conv/basic/pre blocks only, but a {self.op} "
                                   f"{self.kind} block got p={self.p}")
        if self.se is not None:
            _check_int("se (squeeze divisor)", self.se, 1)
            _check(self.mid // self.se >= 1, f"se{self.se} squeezes {self.mid} channels to 0; "
                                              f"use a smaller divisor or a larger mid")
        _check(self.bn or self.kind == "conv", f"bn=False applies to conv blocks only, not {self.kind}")


@dataclass(frozen=True)
class Stem:
    """Optional data BatchNorm over the input, then one ``conv`` block, then optionally a
    ``pool``×``pool`` max-pool with stride 2 and same padding (``pool // 2``), as in the
    ImageNet ResNets' stem (7×7 conv, 3×3 max-pool)."""

    conv: Block
    data_bn: bool = True
    pool: int | None = None

    def __post_init__(self) -> None:
        _check(isinstance(self.conv, Block) and self.conv.kind == "conv",
               f"the stem must be a conv block, but got {self.conv!r}")
        if self.pool is not None:
            _check_int("stem max-pool kernel (pool)", self.pool, 1, MAX_KERNEL)
            _check(self.pool % 2 == 1, f"stem max-pool kernel must be odd (same padding), but got "
                                       f"pool={self.pool}; use 3 as the ResNets do")


@dataclass(frozen=True)
class Head:
    """``bn``: BN + ``act`` on the last stage's output (pre-activation nets).
    ``width``: a 1×1 conv–BN–``act`` to that many channels, optionally
    followed by squeeze-excitation ``se``. Then global average pooling,
    ``dropout`` and a linear classifier."""

    bn: bool = False
    width: int | None = None
    act: str | None = None
    se: int | None = None
    dropout: float = 0.0

    def __post_init__(self) -> None:
        needs_act = self.bn or self.width is not None
        _check(needs_act == (self.act is not None),
               f"the head needs an activation exactly when it has bn or a width, but got "
               f"bn={self.bn}, width={self.width}, act={self.act!r}")
        _check(self.act is None or self.act in ACTIVATIONS,
               f"activation must be one of {ACTIVATIONS}, but got {self.act!r}")
        if self.width is not None:
            _check_int("head width", self.width, 1)
        if self.se is not None:
            _check(self.width is not None, "head se needs a head width (the conv it follows)")
            _check_int("head se (squeeze divisor)", self.se, 1)
            _check(self.width // self.se >= 1, f"head se{self.se} squeezes {self.width} channels to 0")
        _check(isinstance(self.dropout, float) and 0.0 <= self.dropout < 1.0,
               f"dropout must be a float in [0, 1), but got {self.dropout!r}")


class FlatBlock(NamedTuple):
    """A block with its position and input width: what builders and counters read."""

    stage: int  # 0 is the stem
    index: int
    in_channels: int
    block: Block


def _without_identities(stages: tuple[tuple[Block, ...], ...], width: int) -> tuple[tuple[Block, ...], ...]:
    """``stages`` without the ``skip`` blocks that are the identity (stride 1, width unchanged): they compute
    nothing, so ``[ir, skip]`` and ``[skip, ir]`` are one network with one string. A stage of nothing but
    identities keeps one."""
    out = []
    for stage in stages:
        kept = []
        for b in stage:
            if not (b.kind == "skip" and b.stride == 1 and b.width == width):
                kept.append(b)
            width = b.width
        out.append(tuple(kept) or stage[:1])
    return tuple(out)


@dataclass(frozen=True)
class Arch:
    """Stem, stages, head. A ``skip`` block that is the identity (stride 1, width unchanged) is dropped on
    construction, so one network has one ``Arch`` and one string."""

    stem: Stem
    stages: tuple[tuple[Block, ...], ...]
    head: Head = field(default_factory=Head)

    def __post_init__(self) -> None:
        _check(isinstance(self.stages, tuple) and len(self.stages) >= 1,
               f"an architecture needs a tuple of at least one stage, but got {self.stages!r}")
        for i, stage in enumerate(self.stages, 1):
            _check(isinstance(stage, tuple) and len(stage) >= 1 and all(isinstance(b, Block) for b in stage),
                   f"stage {i} must be a non-empty tuple of Block, but got {stage!r}")
        _check(isinstance(self.stem, Stem), f"the stem must be a Stem, but got {self.stem!r}")
        object.__setattr__(self, "stages", _without_identities(self.stages, self.stem.conv.width))

    def flat_blocks(self, in_channels: int = 3) -> Iterator[FlatBlock]:
        """Stem then every stage block, each with the width it receives."""
        yield FlatBlock(0, 0, in_channels, self.stem.conv)
        width = self.stem.conv.width
        for s, stage in enumerate(self.stages, 1):
            for b, block in enumerate(stage):
                yield FlatBlock(s, b, width, block)
                width = block.width

    @property
    def out_channels(self) -> int:
        """Width of the features the classifier sees."""
        return self.head.width if self.head.width is not None else self.stages[-1][-1].width

    @property
    def total_stride(self) -> int:
        """Product of all strides, the stem's max-pool (stride 2) included."""
        stride = 1 if self.stem.pool is None else 2
        for fb in self.flat_blocks():
            stride *= fb.block.stride
        return stride

    def conv_mix(self) -> dict[str, int]:
        """How many blocks use each conv type (stem included; ``skip`` blocks have none)."""
        mix = dict.fromkeys(CONV_TYPES, 0)
        for fb in self.flat_blocks():
            if fb.block.kind != "skip":
                mix[fb.block.op] += 1
        return mix
