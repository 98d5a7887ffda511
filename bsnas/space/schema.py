"""Search spaces as YAML data files, validated on load, sampled define-by-run.

A space file (see ``search_spaces/``)::

    name: tiny
    input_size: [1, 8, 8]       # where `bsnas spaces` counts FLOPs (a search uses the data's)
    num_classes: 10
    stem: {data_bn: true, ops: [regular], kernel: 3, width: [8, 16], stride: 1, act: relu}
    stages:
      - block: conv             # conv | basic | pre | ir | skip
        stride: 1
        depth: [1, 2]           # searched per stage
        width: [16, 24]         # searched per stage
        ops: [regular, dsc, bsconv_u, bsconv_s]   # searched per block; pin with one value
        kernel: [3, 5]          # per block
        p: [0.25, 0.5]          # per block, BSConv-S middle-width ratio
        expansion: [3, 6]       # per block, ir only: mid = round(in_width * expansion)
        se: [null, 4]           # per block, ir only: squeeze divisor or none
        act: relu               # per stage
      - stride: 2               # a stage of named layers: each block is one of them, parameter sX.bY.layer
        depth: 2
        width: 32
        layers:                 # each pins block, ops, kernel, p, expansion and se to one value
          - {block: skip}       # identity; a 1x1 conv + BN where it changes the stride or the width
          - {block: ir, ops: dsc, kernel: 3, expansion: 3}
    head: {bn: false, width: [null, 64], act: relu, se: null, dropout: 0.0}

Every value is a scalar (pinned) or a list of choices. Sampling
(:mod:`bsnas.space.choices`) names Optuna parameters ``stem.width``,
``s2.depth``, ``s2.width``, ``s2.act``, ``s2.b0.op``, ``s2.b0.kernel``,
``s2.b0.p``, ``s2.b0.expansion``, ``s2.b0.se``, ``s3.b0.layer`` (the index
of the layer) and ``head.width`` (stages from 1, blocks from 0); pinned values
are not parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bsnas.arch.names import ACTIVATIONS, BLOCK_KINDS, CONV_TYPES, MAX_KERNEL
from bsnas.arch.widths import expanded_width
from bsnas.errors import SpaceError

__all__ = ["HeadSpace", "SearchSpace", "StageSpace", "StemSpace", "find_spaces", "load_space"]

#: The built-in spaces: inside the installed package, or the repository's search_spaces/ (their source).
SPACES_DIR = next((p for p in (Path(__file__).resolve().parents[1] / "search_spaces",
                               Path(__file__).resolve().parents[2] / "search_spaces") if p.is_dir()),
                  Path(__file__).resolve().parents[1] / "search_spaces")


@dataclass(frozen=True)
class StemSpace:
    data_bn: bool
    ops: tuple[str, ...]
    kernel: tuple[int, ...]
    width: tuple[int, ...]
    stride: int
    act: tuple[str, ...]
    p: tuple[float, ...]


@dataclass(frozen=True)
class StageSpace:
    block: str
    stride: int
    depth: tuple[int, ...]
    width: tuple[int, ...]
    ops: tuple[str, ...]
    kernel: tuple[int, ...]
    p: tuple[float, ...]
    expansion: tuple[float, ...]
    se: tuple[int | None, ...]
    act: tuple[str, ...]
    #: Named layers: each block of the stage is one of these (fully pinned, same stride, width and act as the
    #: stage), chosen by the parameter ``sX.bY.layer``, the template's index. Empty: the fields above.
    layers: tuple[StageSpace, ...] = ()

    @property
    def templates(self) -> tuple[StageSpace, ...]:
        """What one block of the stage draws from: its layers, or the stage itself."""
        return self.layers or (self,)


@dataclass(frozen=True)
class HeadSpace:
    bn: bool
    width: tuple[int | None, ...]
    act: str
    se: int | None
    dropout: float


@dataclass(frozen=True)
class SearchSpace:
    name: str
    description: str
    input_size: tuple[int, int, int]
    num_classes: int
    stem: StemSpace
    stages: tuple[StageSpace, ...]
    head: HeadSpace
    path: str = ""

    @property
    def total_stride(self) -> int:
        """Product of all strides: fixed per stage, so every architecture of the space shares it."""
        stride = self.stem.stride
        for stage in self.stages:
            stride *= stage.stride
        return stride


class _Reader:
    """Reads one mapping, reporting errors with the file and the field path."""

    def __init__(self, path: str, node: Any, where: str, keys: set[str]):
        self.path, self.where = path, where
        if not isinstance(node, dict):
            self.fail("", node, "expected a mapping of keys to values")
        unknown = sorted(set(node) - keys)
        if unknown:
            self.fail(unknown[0], node[unknown[0]], f"unknown key; allowed keys are {', '.join(sorted(keys))}")
        self.node = node

    def fail(self, key: str, value: Any, rule: str):
        field = f"{self.where}.{key}" if self.where and key else (self.where or key)
        raise SpaceError(f"{self.path}: {field}: got {value!r}; {rule}")

    def choices(self, key: str, ok, rule: str, default: Any = ...) -> tuple:
        if key not in self.node:
            if default is ...:
                self.fail(key, None, f"missing; {rule}")
            value = default
        else:
            value = self.node[key]
        values = tuple(value) if isinstance(value, list) else (value,)
        if not values:
            self.fail(key, value, "give at least one choice")
        for v in values:
            if not ok(v):
                self.fail(key, v, rule)
        if len(set(values)) != len(values):
            self.fail(key, value, "choices must not repeat")
        return values

    def one(self, key: str, ok, rule: str, default: Any = ...) -> Any:
        values = self.choices(key, ok, rule, default)
        if len(values) != 1:
            self.fail(key, list(values), f"a single value, not a list; {rule}")
        return values[0]


def _int(low: int, high: int | None = None):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low and (high is None or v <= high)


_KERNEL = (lambda v: _int(1, MAX_KERNEL)(v) and v % 2 == 1, f"kernel sizes are odd integers in 1..{MAX_KERNEL}")
_OPS = (lambda v: v in CONV_TYPES, f"conv types are {', '.join(CONV_TYPES)}")
_ACT = (lambda v: v in ACTIVATIONS, f"activations are {', '.join(ACTIVATIONS)}")
_P = (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1, "p is a number in [0, 1]")
_WIDTH = (_int(1), "widths are integers >= 1")
_STRIDE = (_int(1, 4), "strides are integers in 1..4")


def _stem(path: str, node: Any) -> StemSpace:
    r = _Reader(path, node, "stem", {"data_bn", "ops", "kernel", "width", "stride", "act", "p"})
    return StemSpace(r.one("data_bn", lambda v: isinstance(v, bool), "data_bn is true or false", True),
                     r.choices("ops", *_OPS, ["regular"]), r.choices("kernel", *_KERNEL, [3]),
                     r.choices("width", *_WIDTH), r.one("stride", *_STRIDE, 1), r.choices("act", *_ACT, ["relu"]),
                     tuple(float(p) for p in r.choices("p", *_P, [0.25])))


_BLOCK_KEYS = ("block", "ops", "kernel", "p", "expansion", "se")


def _block_fields(r: _Reader) -> tuple:
    """(kind, ops, kernel, p, expansion, se) of a stage or a layer template."""
    kind = r.one("block", lambda v: v in BLOCK_KINDS, f"block kinds are {', '.join(BLOCK_KINDS)}")
    if kind != "ir":
        for key in ("expansion", "se"):
            if key in r.node:
                r.fail(key, r.node[key], "applies to ir blocks only")
    if kind == "skip":
        for key in ("ops", "kernel", "p"):
            if key in r.node:
                r.fail(key, r.node[key], "a skip layer has no conv type, kernel or p; give only block: skip")
        return kind, ("regular",), (1,), (0.25,), (1.0,), (None,)
    expansion = r.choices("expansion", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0,
                          "expansion ratios are positive numbers", [1] if kind != "ir" else ...)
    return (kind, r.choices("ops", *_OPS), r.choices("kernel", *_KERNEL),
            tuple(float(p) for p in r.choices("p", *_P, [0.25])), tuple(float(e) for e in expansion),
            r.choices("se", lambda v: v is None or _int(1)(v), "se is null or a squeeze divisor >= 1", [None]))


def _layer(path: str, node: Any, where: str, stage: dict) -> StageSpace:
    r = _Reader(path, node, where, set(_BLOCK_KEYS))
    for key in _BLOCK_KEYS:
        if isinstance(r.node.get(key), list) and len(r.node[key]) != 1:
            r.fail(key, r.node[key], "a layer pins every field to one value; list more layers instead")
    kind, ops, kernel, p, expansion, se = _block_fields(r)
    return StageSpace(kind, stage["stride"], stage["depth"], stage["width"], ops, kernel, p, expansion, se,
                      stage["act"])


def _stage(path: str, node: Any, i: int) -> StageSpace:
    r = _Reader(path, node, f"stages[{i}]", {*_BLOCK_KEYS, "stride", "depth", "width", "act", "layers"})
    shared = {"stride": r.one("stride", *_STRIDE, 1),
              "depth": r.choices("depth", _int(1, 64), "depths are integers in 1..64"),
              "width": r.choices("width", *_WIDTH), "act": r.choices("act", *_ACT, ["relu"])}
    if "layers" not in r.node:
        kind, ops, kernel, p, expansion, se = _block_fields(r)
        return StageSpace(kind, shared["stride"], shared["depth"], shared["width"], ops, kernel, p, expansion, se,
                          shared["act"])
    given = [key for key in _BLOCK_KEYS if key in r.node]
    if given:
        r.fail(given[0], r.node[given[0]], "a stage with layers gives block, ops, kernel, p, expansion and se "
                                           "in each layer, not beside them")
    nodes = r.node["layers"]
    if not isinstance(nodes, list) or not nodes:
        r.fail("layers", nodes, "give a list of at least one layer, each a mapping such as {block: skip}")
    layers = tuple(_layer(path, n, f"stages[{i}].layers[{k}]", shared) for k, n in enumerate(nodes))
    if len(set(layers)) != len(layers):
        r.fail("layers", nodes, "layers must not repeat")
    first = layers[0]
    return StageSpace(first.block, shared["stride"], shared["depth"], shared["width"], first.ops, first.kernel,
                      first.p, first.expansion, first.se, shared["act"], layers)


def _head(path: str, node: Any) -> HeadSpace:
    r = _Reader(path, node if node is not None else {}, "head", {"bn", "width", "act", "se", "dropout"})
    return HeadSpace(r.one("bn", lambda v: isinstance(v, bool), "bn is true or false", False),
                     r.choices("width", lambda v: v is None or _int(1)(v), "widths are null or integers >= 1",
                               [None]),
                     r.one("act", *_ACT, "relu"), r.one("se", lambda v: v is None or _int(1)(v),
                                                        "se is null or a squeeze divisor >= 1", None),
                     float(r.one("dropout", lambda v: isinstance(v, (int, float)) and 0 <= v < 1,
                                 "dropout is a number in [0, 1)", 0.0)))


def load_space(path: str | Path) -> SearchSpace:
    """Read and validate a space file; a bare name such as ``tiny`` is looked up in ``search_spaces/``."""
    path = Path(path)
    if not path.exists() and path.suffix == "" and (SPACES_DIR / f"{path}.yaml").exists():
        path = SPACES_DIR / f"{path}.yaml"
    if not path.is_file():
        names = ", ".join(p.stem for p in find_spaces())
        raise SpaceError(f"no search space file at {str(path)!r}; give a YAML path or one of: {names}")
    try:
        node = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SpaceError(f"{path}: not valid YAML ({err})") from None
    where = str(path)
    r = _Reader(where, node, "", {"name", "description", "input_size", "num_classes", "stem", "stages", "head"})
    stages = r.node.get("stages")
    if not isinstance(stages, list) or not stages:
        r.fail("stages", stages, "give a list of at least one stage")
    size = r.node.get("input_size", [3, 32, 32])
    if not (isinstance(size, list) and len(size) == 3 and all(_int(1)(x) for x in size)):
        r.fail("input_size", size, "input_size is [channels, height, width] of positive integers")
    space = SearchSpace(str(r.one("name", lambda v: isinstance(v, str) and v, "a non-empty name", path.stem)),
                        str(r.node.get("description", "")), tuple(size),
                        r.one("num_classes", _int(2), "num_classes is an integer >= 2", 10),
                        _stem(where, r.node.get("stem")), tuple(_stage(where, s, i) for i, s in enumerate(stages)),
                        _head(where, r.node.get("head")), where)
    _check_se(space)
    return space


def _check_se(space: SearchSpace) -> None:
    """Every squeeze-excitation must keep at least one channel for every width the space allows."""
    prev = min(space.stem.width)
    for i, st in enumerate(space.stages):
        for t in st.templates:
            divisors = [s for s in t.se if s is not None]
            smallest_mid = expanded_width(min(prev, *t.width), min(t.expansion))
            if divisors and smallest_mid < max(divisors):
                raise SpaceError(f"{space.path}: stages[{i}].se: got {max(divisors)}; the smallest expanded width "
                                 f"here is {smallest_mid}, which se{max(divisors)} squeezes to 0 channels; "
                                 "use a smaller divisor or larger widths")
        prev = min(st.width)
    widths = [w for w in space.head.width if w is not None]
    if space.head.se is not None and widths and min(widths) < space.head.se:
        raise SpaceError(f"{space.path}: head.se: got {space.head.se}; head width {min(widths)} would be "
                         "squeezed to 0 channels")


def find_spaces(folder: str | Path = SPACES_DIR) -> list[Path]:
    return sorted(Path(folder).glob("*.yaml"))
