from __future__ import annotations

import random

import pytest

from bsnas import CONV_TYPES, Arch, Block, Head, Stem

ACTS = ("relu", "relu6", "hswish", "swish", "linear")


def random_block(rng: random.Random, kind: str | None = None, op: str | None = None) -> Block:
    kind = kind or rng.choice(("conv", "basic", "pre", "ir"))
    op = op or rng.choice(CONV_TYPES)
    width = rng.choice((4, 6, 8, 12, 16))
    mid = rng.choice((4, 8, 12, 24)) if kind == "ir" else None
    se = rng.choice((None, 2, 4)) if kind == "ir" else None
    p = rng.choice((0.125, 0.25, 0.5, 1.0)) if op == "bsconv_s" and kind != "ir" else None
    bn = rng.random() < 0.8 if kind == "conv" else True
    return Block(kind, op, rng.choice((1, 3, 5, 7)), rng.choice((1, 1, 2)), width, rng.choice(ACTS),
                 mid=mid, p=p, se=se, bn=bn)


def random_arch(rng: random.Random) -> Arch:
    stem = random_block(rng, kind="conv")
    stages = tuple(tuple(random_block(rng) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(1, 3)))
    width = rng.choice((None, 16, 24))
    head_bn = rng.random() < 0.3
    head = Head(bn=head_bn, width=width, act=rng.choice(ACTS) if (head_bn or width) else None,
                se=rng.choice((None, 4)) if width else None, dropout=rng.choice((0.0, 0.2)))
    return Arch(Stem(stem, data_bn=rng.random() < 0.5), stages, head)


@pytest.fixture
def rng() -> random.Random:
    return random.Random(0)
