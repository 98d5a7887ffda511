"""The canonical string form of an architecture.

Grammar
-------
An architecture string is segments joined by ``:``; the first segment is
the stem, the last the head, and every segment between is one stage::

    arch    := stem ":" stage (":" stage)* ":" head
    stage   := group ("-" group)*
    group   := block ("_r" N)?          # N copies; only the first keeps its stride
    block   := KIND "_" token ("_" token)*
    stem    := "stem" ("_dbn")? "_" token ("_" token)* ("_mp" K)?
    head    := "head" ("_" token)*

Block kinds (``KIND``): ``conv`` (conv–BN–act), ``basic`` (ResNet basic
block), ``pre`` (pre-activation basic block), ``ir`` (inverted residual),
``skip`` (an identity layer, written ``skip_s2_c64``: only stride and width;
a 1×1 conv and BN project where it changes either).

Block tokens, each at most once (``mp`` in the stem only):

=========== ========================================================
``reg``     conv type: regular (also ``dsc``, ``bsu``, ``bss``)
``p0.25``   BSConv-S middle-width ratio (``bss`` in conv/basic/pre)
``k3``      kernel size (odd)
``s2``      stride
``c32``     output width
``m96``     expanded (middle) width of an ``ir`` block
``se4``     squeeze-excitation to ``mid // 4`` channels (``ir`` only)
``relu``    activation (``relu6``, ``hswish``, ``swish``, ``hsigmoid``,
            ``sigmoid``, ``linear``)
``nobn``    no BatchNorm after the conv (``conv`` blocks only)
``r3``      repeat (groups only)
``mp3``     stem only: 3×3 max-pool, stride 2, after the stem conv
=========== ========================================================

The stem is a ``conv`` block without the kind word and two stem-only
tokens: ``dbn`` (a BatchNorm on the input, written first) and ``mp3`` (a
3×3 max-pool with stride 2 and padding 1 after the conv, written last; any
odd kernel K as ``mpK``, padding K // 2). The ImageNet ResNets' stem is
``stem_dbn_reg_k7_s2_c64_relu_mp3``. Head tokens: ``bn`` (BN + act on the
last stage output), ``c1280`` (1×1 conv–BN–act), ``se4``, an activation
(needed exactly when ``bn`` or ``c`` is given) and ``d0.2`` (dropout).

:func:`encode_arch` writes tokens in the order of the table, omits
defaults, and merges runs of equal stride-1 blocks into ``_rN``, so every
architecture has exactly one string. :func:`decode_arch` accepts tokens in
any order and rejects unknown, duplicate, missing and impossible ones,
quoting the token and the whole string.

Example (a ResNet-8 with BSConv-U blocks)::

    >>> from bsnas import decode_arch, encode_arch
    >>> s = ("stem_dbn_reg_k3_s1_c16_relu:basic_bsu_k3_s1_c16_relu:"
    ...      "basic_bsu_k3_s2_c32_relu_r2:basic_bsu_k5_s2_c64_relu:head")
    >>> arch = decode_arch(s)
    >>> [len(stage) for stage in arch.stages]
    [1, 2, 1]
    >>> arch.stages[1][1].stride, arch.stages[2][0].kernel
    (1, 5)
    >>> encode_arch(arch) == s
    True
"""

from __future__ import annotations

import re
from dataclasses import replace

from bsnas.arch.names import ACTIVATIONS, BLOCK_KINDS, OP_CODES
from bsnas.arch.spec import Arch, Block, Head, Stem
from bsnas.errors import ArchError

__all__ = ["decode_arch", "encode_arch", "encode_block"]

_OPS_BY_CODE = {code: op for op, code in OP_CODES.items()}
_NUMBER = re.compile(r"^(se|mp|[kscmprd])([0-9]+(?:\.[0-9]+)?)$")  # ASCII digits only
_INT_KEYS = {"k": "kernel", "s": "stride", "c": "width", "m": "mid", "se": "se", "r": "repeat", "mp": "pool"}
_FLOAT_KEYS = {"p": "p", "d": "dropout"}


def _fmt(value: float) -> str:
    return repr(float(value))


def _block_tokens(block: Block) -> list[str]:
    if block.kind == "skip":
        return [f"s{block.stride}", f"c{block.width}"]
    tokens = [OP_CODES[block.op]]
    if block.p is not None:
        tokens.append(f"p{_fmt(block.p)}")
    tokens += [f"k{block.kernel}", f"s{block.stride}", f"c{block.width}"]
    if block.mid is not None:
        tokens.append(f"m{block.mid}")
    if block.se is not None:
        tokens.append(f"se{block.se}")
    tokens.append(block.act)
    if not block.bn:
        tokens.append("nobn")
    return tokens


def _encode_stage(stage: tuple[Block, ...]) -> str:
    groups, i = [], 0
    while i < len(stage):
        first, n = stage[i], 1
        follower = replace(first, stride=1)
        while i + n < len(stage) and stage[i + n] == follower:
            n += 1
        groups.append(encode_block(first) + (f"_r{n}" if n > 1 else ""))
        i += n
    return "-".join(groups)


def encode_block(block: Block) -> str:
    """One block as it reads inside a stage, such as ``ir_dsc_k3_s2_c64_m96_relu`` or ``skip_s1_c64``."""
    return "_".join([block.kind, *_block_tokens(block)])


def _encode_head(head: Head) -> str:
    tokens = ["head"]
    if head.bn:
        tokens.append("bn")
    if head.width is not None:
        tokens.append(f"c{head.width}")
    if head.se is not None:
        tokens.append(f"se{head.se}")
    if head.act is not None:
        tokens.append(head.act)
    if head.dropout:
        tokens.append(f"d{_fmt(head.dropout)}")
    return "_".join(tokens)


def encode_arch(arch: Arch) -> str:
    """The one canonical string of ``arch`` (see the module docstring)."""
    stem = ["stem"] + (["dbn"] if arch.stem.data_bn else []) + _block_tokens(arch.stem.conv)
    if arch.stem.pool is not None:
        stem.append(f"mp{arch.stem.pool}")
    return ":".join(["_".join(stem), *(_encode_stage(s) for s in arch.stages), _encode_head(arch.head)])


class _Parser:
    """Parses one string; every error quotes the offending token and the string."""

    def __init__(self, text: str):
        self.text = text

    def fail(self, message: str) -> ArchError:
        return ArchError(f"{message} in architecture string {self.text!r}")

    def fields(self, part: str, flags: tuple[str, ...]) -> dict:
        """Turn ``a_b_k3`` into a dict; flags and words map to themselves."""
        out: dict = {}
        for token in part.split("_"):
            key, value = self.token(token, part, flags)
            if key in out:
                raise self.fail(f"duplicate {key} token {token!r} in {part!r}")
            out[key] = value
        return out

    def token(self, token: str, part: str, flags: tuple[str, ...]):
        if token in _OPS_BY_CODE:
            return "op", _OPS_BY_CODE[token]
        if token in ACTIVATIONS:
            return "act", token
        if token in flags:
            return token, True
        match = _NUMBER.match(token)
        if match and match.group(1) in _INT_KEYS and "." not in match.group(2):
            return _INT_KEYS[match.group(1)], int(match.group(2))
        if match and match.group(1) in _FLOAT_KEYS:
            return _FLOAT_KEYS[match.group(1)], float(match.group(2))
        raise self.fail(f"unknown token {token!r} in {part!r} (valid: conv types "
                        f"{'/'.join(_OPS_BY_CODE)}, activations {'/'.join(ACTIVATIONS)}, "
                        f"k<int> s<int> c<int> m<int> se<int> p<float> r<int> mp<int> (stem) d<float> (head)"
                        f"{' ' + ' '.join(flags) if flags else ''})")

    def block(self, part: str, fields: dict, kind: str) -> Block:
        for key in ("op", "kernel", "stride", "width", "act"):
            if key not in fields:
                raise self.fail(f"missing {key} in block {part!r}")
        if "dropout" in fields:
            raise self.fail(f"token d (dropout) belongs in the head, not in block {part!r}")
        if "pool" in fields:
            raise self.fail(f"token mp{fields['pool']} (max-pool) belongs in the stem, after its conv tokens, "
                            f"not in block {part!r}")
        try:
            return Block(kind=kind, op=fields["op"], kernel=fields["kernel"], stride=fields["stride"],
                         width=fields["width"], act=fields["act"], mid=fields.get("mid"),
                         p=fields.get("p"), se=fields.get("se"), bn=not fields.get("nobn", False))
        except ArchError as err:
            raise self.fail(f"{err} (block {part!r})") from None

    def skip(self, part: str, fields: dict) -> Block:
        extra = sorted(set(fields) - {"stride", "width"})
        if extra:
            raise self.fail(f"a skip block takes only s<int> and c<int> (and r<int>), but {part!r} has {extra}")
        for key in ("stride", "width"):
            if key not in fields:
                raise self.fail(f"missing {key} in block {part!r}")
        try:
            return Block.skip(fields["stride"], fields["width"])
        except ArchError as err:
            raise self.fail(f"{err} (block {part!r})") from None

    def group(self, part: str) -> list[Block]:
        kind, _, rest = part.partition("_")
        if kind not in BLOCK_KINDS:
            raise self.fail(f"unknown block kind {kind!r} in {part!r}; valid kinds are {', '.join(BLOCK_KINDS)}")
        fields = self.fields(rest, ("nobn",)) if rest else {}
        repeat = fields.pop("repeat", 1)
        if repeat < 1:
            raise self.fail(f"repeat must be >= 1, but got r{repeat} in {part!r}")
        if kind == "skip":
            first = self.skip(part, fields)
        else:
            first = self.block(part, fields, kind)
        return [first] + [replace(first, stride=1)] * (repeat - 1)

    def stem(self, part: str) -> Stem:
        word, _, rest = part.partition("_")
        if word != "stem":
            raise self.fail(f"the first segment must start with 'stem', but got {part!r}")
        fields = self.fields(rest, ("dbn", "nobn"))
        data_bn, pool = fields.pop("dbn", False), fields.pop("pool", None)
        if "repeat" in fields:
            raise self.fail(f"the stem cannot repeat, but got {part!r}")
        conv = self.block(part, fields, "conv")
        try:
            return Stem(conv=conv, data_bn=data_bn, pool=pool)
        except ArchError as err:
            raise self.fail(f"{err} (stem {part!r})") from None

    def head(self, part: str) -> Head:
        word, _, rest = part.partition("_")
        if word != "head":
            raise self.fail(f"the last segment must start with 'head', but got {part!r}")
        fields = self.fields(rest, ("bn",)) if rest else {}
        names = {"bn": "bn", "width": "width", "act": "act", "se": "se", "dropout": "dropout"}
        extra = set(fields) - set(names)
        if extra:
            raise self.fail(f"head tokens may be bn, c<int>, se<int>, an activation and d<float>, "
                            f"but {part!r} has {sorted(extra)}")
        try:
            return Head(**fields)
        except ArchError as err:
            raise self.fail(f"{err} (head {part!r})") from None

    def arch(self) -> Arch:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ArchError(f"an architecture string must be a non-empty str, but got {self.text!r}")
        parts = self.text.strip().split(":")
        if len(parts) < 3:
            raise self.fail("need at least 'stem...:<stage>:head...' (3 segments joined by ':'), "
                            f"but got {len(parts)}")
        stages = []
        signed = re.search(r"(?:^|_)([a-z]+)-([0-9])", self.text)
        if signed:
            raise self.fail(f"token '{signed.group(1)}-{signed.group(2)}...' has a minus sign: values are "
                            "non-negative ASCII numbers, and '-' only separates the blocks of a stage")
        for part in parts[1:-1]:
            if not part:
                raise self.fail("empty stage (two ':' in a row)")
            stages.append(tuple(b for group in part.split("-") for b in self.group(group)))
        return Arch(stem=self.stem(parts[0]), stages=tuple(stages), head=self.head(parts[-1]))


def decode_arch(text: str) -> Arch:
    """Parse an architecture string (see the module docstring)."""
    return _Parser(text).arch()
