"""The choices of a search space, in one table that sampling, statistics and replay all read.

A space is walked define-by-run: the stem's choices, then per stage its
depth, width and activation, then per block of that depth the block's
choices, then the head's width. Which block choices exist depends on the
block kind and the conv type already chosen (``p`` only for BSConv-S in
conv/basic/pre blocks; ``expansion`` and ``se`` only in ``ir`` blocks):
:data:`BLOCK_CHOICES` and :data:`STEM_CHOICES` say so, once.

:func:`walk` builds an architecture from any ``choose(name, options)``
callback: :func:`sample_arch` answers with an Optuna trial,
:func:`random_archs` with a seeded random sampler, and
:mod:`bsnas.space.stats` enumerates the same table to count the space.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import optuna

from bsnas.arch.codec import encode_arch, encode_block
from bsnas.arch.spec import Arch, Block, Head, Stem
from bsnas.arch.widths import expanded_width
from bsnas.errors import SpaceError
from bsnas.space.schema import SearchSpace, StageSpace

__all__ = ["BLOCK_CHOICES", "STAGE_CHOICES", "STEM_CHOICES", "Choice", "assignments", "make_block", "make_stem",
           "parameter_names", "params_of", "random_archs", "sample_arch", "walk"]

Chooser = Callable[[str, tuple], Any]


class Choice(NamedTuple):
    """One choice: its parameter name suffix, the space field holding the options, and when it exists."""

    key: str
    field: str
    applies: Callable[[str, str | None], bool]  # (block kind, conv type chosen so far) -> exists


def _always(kind: str, op: str | None) -> bool:
    return True


STEM_CHOICES = (
    Choice("op", "ops", _always),
    Choice("kernel", "kernel", _always),
    Choice("width", "width", _always),
    Choice("act", "act", _always),
    Choice("p", "p", lambda kind, op: op == "bsconv_s"),
)
STAGE_CHOICES = (Choice("depth", "depth", _always), Choice("width", "width", _always), Choice("act", "act", _always))
def _has_conv(kind: str, op: str | None) -> bool:
    return kind != "skip"


BLOCK_CHOICES = (
    Choice("op", "ops", _has_conv),
    Choice("kernel", "kernel", _has_conv),
    Choice("p", "p", lambda kind, op: op == "bsconv_s" and kind != "ir"),
    Choice("expansion", "expansion", lambda kind, op: kind == "ir"),
    Choice("se", "se", lambda kind, op: kind == "ir"),
)


def _choose_all(choose: Chooser, prefix: str, table: tuple[Choice, ...], options: object, kind: str) -> dict:
    values: dict[str, Any] = {}
    for c in table:
        if c.applies(kind, values.get("op")):
            values[c.key] = choose(prefix + c.key, getattr(options, c.field))
    return values


def make_block(kind: str, values: dict, stride: int, width: int, act: str, in_width: int) -> Block:
    """The block for one assignment of :data:`BLOCK_CHOICES` values."""
    if kind == "skip":
        return Block.skip(stride, width)
    mid = expanded_width(in_width, values["expansion"]) if "expansion" in values else None
    return Block(kind, values["op"], values["kernel"], stride, width, act, mid=mid, p=values.get("p"),
                 se=values.get("se"))


def walk(space: SearchSpace, choose: Chooser) -> Arch:
    """Build the architecture that ``choose(name, options) -> value`` picks, define-by-run."""
    stem = make_stem(_choose_all(choose, "stem.", STEM_CHOICES, space.stem, "conv"), space.stem.stride)
    in_width, stages = stem.width, []
    for i, st in enumerate(space.stages, 1):
        sv = _choose_all(choose, f"s{i}.", STAGE_CHOICES, st, st.block)
        blocks = []
        for j in range(sv["depth"]):
            t = st.layers[choose(f"s{i}.b{j}.layer", tuple(range(len(st.layers))))] if st.layers else st
            values = _choose_all(choose, f"s{i}.b{j}.", BLOCK_CHOICES, t, t.block)
            blocks.append(make_block(t.block, values, st.stride if j == 0 else 1, sv["width"], sv["act"], in_width))
            in_width = sv["width"]
        stages.append(tuple(blocks))
    head_width = choose("head.width", space.head.width)
    has_act = space.head.bn or head_width is not None
    head = Head(bn=space.head.bn, width=head_width, act=space.head.act if has_act else None,
                se=space.head.se if head_width is not None else None, dropout=space.head.dropout)
    return Arch(Stem(stem, space.stem.data_bn), tuple(stages), head)


def sample_arch(trial, space: SearchSpace) -> Arch:
    """Sample an architecture define-by-run; ``optuna.trial.FixedTrial(trial.params)`` replays it.

    A choice with one option is pinned: it is not a parameter.
    """
    return walk(space, lambda name, options: options[0] if len(options) == 1 else
                trial.suggest_categorical(name, list(options)))


def assignments(table: tuple[Choice, ...], options: object, kind: str) -> Iterator[dict]:
    """Every assignment of ``table``'s values that ``options`` (a stem or stage space) allows."""

    def expand(i: int, values: dict) -> Iterator[dict]:
        if i == len(table):
            yield values
            return
        c = table[i]
        if not c.applies(kind, values.get("op")):
            yield from expand(i + 1, values)
            return
        for option in getattr(options, c.field):
            yield from expand(i + 1, {**values, c.key: option})

    yield from expand(0, {})


def make_stem(values: dict, stride: int) -> Block:
    """The stem block for one assignment of :data:`STEM_CHOICES` values."""
    return Block("conv", values["op"], values["kernel"], stride, values["width"], values["act"], p=values.get("p"))


def _exposed(prefix: str, table: tuple[Choice, ...], options: object, kind: str, ops: tuple[str, ...]) -> list[str]:
    return [prefix + c.key for c in table
            if len(getattr(options, c.field)) > 1 and any(c.applies(kind, op) for op in ops)]


def parameter_names(space: SearchSpace) -> list[str]:
    """Every Optuna parameter the space can expose (pinned choices are not parameters)."""
    names = _exposed("stem.", STEM_CHOICES, space.stem, "conv", space.stem.ops)
    for i, st in enumerate(space.stages, 1):
        names += _exposed(f"s{i}.", STAGE_CHOICES, st, st.block, st.ops)
        for j in range(max(st.depth)):
            if len(st.layers) > 1:
                names.append(f"s{i}.b{j}.layer")
            for t in st.templates:
                names += [n for n in _exposed(f"s{i}.b{j}.", BLOCK_CHOICES, t, t.block, t.ops) if n not in names]
    return names + (["head.width"] if len(space.head.width) > 1 else [])


def random_archs(space: SearchSpace, k: int, seed: int = 0) -> list[Arch]:
    """``k`` distinct architectures drawn uniformly per choice (Optuna's RandomSampler, seeded)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    archs: dict[str, Arch] = {}
    for _ in range(k * 50):
        arch = sample_arch(study.ask(), space)
        archs.setdefault(encode_arch(arch), arch)
        if len(archs) == k:
            break
    return list(archs.values())


def _template_block(t: StageSpace, block: Block, in_width: int) -> Block:
    """The block layer template ``t`` builds at ``block``'s place."""
    values = {c.key: getattr(t, c.field)[0] for c in BLOCK_CHOICES if c.applies(t.block, t.ops[0])}
    return make_block(t.block, values, block.stride, block.width, block.act, in_width)


def _arch_value(arch: Arch, name: str, in_widths: dict[tuple[int, int], int], options: tuple,
                space: SearchSpace) -> object:
    """The value architecture ``arch`` takes for the parameter ``name`` of a space walk."""
    part, _, key = name.partition(".")
    if part == "stem":
        return {"op": arch.stem.conv.op, "kernel": arch.stem.conv.kernel, "width": arch.stem.conv.width,
                "act": arch.stem.conv.act, "p": arch.stem.conv.p}[key]
    if part == "head":
        return arch.head.width
    stage = int(part[1:])
    if stage > len(arch.stages):
        raise SpaceError(f"{name}: the architecture has {len(arch.stages)} stages, the space more")
    blocks = arch.stages[stage - 1]
    layers = space.stages[stage - 1].layers if stage <= len(space.stages) else ()
    skip = next((k for k, t in enumerate(layers) if t.block == "skip"), None)
    if key in ("depth", "width", "act"):
        acts = [b.act for b in blocks if b.kind != "skip"]  # a skip layer has no activation: any will do
        depth = len(blocks)
        if skip is not None and key == "depth":  # Arch drops identities: the shallowest depth holding the rest
            depth = min((d for d in options if d >= depth), default=depth)
        return {"depth": depth, "width": blocks[0].width, "act": acts[0] if acts else options[0]}[key]
    index_text, _, field = key.partition(".")
    index = int(index_text[1:])
    if field == "layer" and index >= len(blocks):  # a dropped identity: the canonical place is the end
        return skip
    block = blocks[index]
    if field == "layer":  # the index of the first layer that builds this very block
        in_width = in_widths[(stage, index)]
        return next((k for k, t in enumerate(layers) if _template_block(t, block, in_width) == block),
                    f"{encode_block(block)} (no layer builds it)")
    if field == "expansion":  # the option whose expanded width is the block's
        in_width = in_widths[(stage, int(index_text[1:]))]
        return next((e for e in options if expanded_width(in_width, e) == block.mid), f"mid {block.mid}")
    return {"op": block.op, "kernel": block.kernel, "p": block.p, "se": block.se}[field]


def params_of(space: SearchSpace, arch: Arch) -> dict[str, object]:
    """The parameters that make :func:`sample_arch` return ``arch`` (the inverse of sampling).

    An architecture the space cannot express raises :class:`~bsnas.errors.SpaceError` naming the first
    parameter (block and field) that does not fit, its value and what the space allows.
    """
    in_widths = {(fb.stage, fb.index): fb.in_channels for fb in arch.flat_blocks()}
    params: dict[str, object] = {}

    def choose(name: str, options: tuple) -> object:
        value = _arch_value(arch, name, in_widths, options, space)
        if value not in options:
            raise SpaceError(f"space {space.name!r} cannot express this architecture: {name} is {value!r}, but the "
                             f"space allows {list(options)}")
        if len(options) > 1:
            params[name] = value
        return value

    rebuilt = walk(space, choose)
    if rebuilt != arch:
        raise SpaceError(f"space {space.name!r} cannot express this architecture: {_first_difference(rebuilt, arch)}")
    return params


def _first_difference(got: Arch, want: Arch) -> str:
    if len(got.stages) != len(want.stages):
        return f"it has {len(want.stages)} stages, the space {len(got.stages)}"
    if got.stem != want.stem:
        return f"the stem is {encode_arch(want).split(':')[0]!r}, the space gives {encode_arch(got).split(':')[0]!r}"
    for i, (a, b) in enumerate(zip(got.stages, want.stages, strict=True), 1):
        for j, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                field = next(f for f in ("kind", "op", "kernel", "stride", "width", "act", "mid", "p", "se", "bn")
                             if getattr(x, f) != getattr(y, f))
                return f"s{i}.b{j}.{field} is {getattr(y, field)!r}, the space gives {getattr(x, field)!r}"
    return f"the head is {want.head}, the space gives {got.head}"
