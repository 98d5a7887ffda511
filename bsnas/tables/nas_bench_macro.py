"""NAS-Bench-Macro (Su et al., "Prioritized Architecture Sampling with Monto-Carlo Tree Search", CVPR 2021).

6,561 networks of MobileNetV2 blocks, each trained from scratch on CIFAR-10 for 50 epochs three times.
A network is an 8-digit key, one digit per layer: ``0`` an identity (a 1×1 conv and BN where it changes
the stride or the width), ``1`` an inverted residual with expansion 3 and kernel 3, ``2`` one with
expansion 6 and kernel 5. The space ``search_spaces/nas_bench_macro.yaml`` builds them: its parameters
``s1.b0.layer`` ... ``s3.b2.layer`` are the digits, in key order.

An identity after a stage's first layer computes nothing, so keys that differ only in where such identities
sit are one network: the 6,561 keys are 3,969 networks, and the table stores identical results for the keys
of one network. bsnas's ``Arch`` drops such identities, so each network has one architecture string and a
search evaluates it once; :func:`canonical_key` names it.

The table (``bsnas/assets/nas-bench-macro_cifar10.json``, Apache-2.0, licence beside it) holds per key the
three test accuracies (%), their mean and standard deviation, ``params`` and ``flops``. The parameters
equal :func:`bsnas.count`'s for every network. The stored FLOPs count only the multiply-adds of the convs
and the classifier; bsnas counts as fvcore does, which adds 2 per BatchNorm output element and 1 per input
element of the global average pooling, so :func:`bsnas.count` is larger by exactly those
(:func:`table_flops`, from :func:`bsnas.arch.tally.multiply_adds`, gives the table's convention).

>>> from bsnas import count
>>> from bsnas.tables import nas_bench_macro
>>> count(nas_bench_macro.arch("00000000")).params == nas_bench_macro.entry("00000000").params
True
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from importlib import resources
from typing import NamedTuple

from bsnas.arch.codec import encode_arch
from bsnas.arch.spec import Arch
from bsnas.arch.tally import multiply_adds
from bsnas.errors import BsnasError
from bsnas.space.choices import parameter_names, params_of, walk
from bsnas.space.schema import SearchSpace, load_space

__all__ = ["LAYERS", "STAGE_DEPTHS", "TABLE_FILE", "Entry", "arch", "canonical_key", "entry", "key_of", "keys",
           "networks", "space", "table", "table_flops", "table_hash"]

TABLE_FILE = "assets/nas-bench-macro_cifar10.json"
#: What each digit of a key means.
LAYERS = ("identity", "inverted residual, expansion 3, kernel 3", "inverted residual, expansion 6, kernel 5")
_KEY = re.compile(r"^[012]{8}$")
#: Layers per stage; the first of each halves the map and doubles the width, so it is never the identity.
STAGE_DEPTHS = (2, 3, 3)


class Entry(NamedTuple):
    """One network's row: three CIFAR-10 test accuracies in [0, 1] (the table stores %), their mean and std."""

    key: str
    accuracies: tuple[float, float, float]
    mean: float
    std: float
    params: int
    flops: int


@functools.cache
def _raw() -> bytes:
    return resources.files("bsnas").joinpath(TABLE_FILE).read_bytes()


@functools.cache
def table() -> dict[str, Entry]:
    """Every network of the table by key."""
    rows = json.loads(_raw())
    return {k: Entry(k, tuple(a / 100 for a in r["test_acc"]), r["mean_acc"] / 100, r["std"] / 100, r["params"],
                     r["flops"]) for k, r in rows.items()}


def table_hash() -> str:
    """SHA-256 of the shipped table file (a study answered from it records this)."""
    return hashlib.sha256(_raw()).hexdigest()


@functools.cache
def space() -> SearchSpace:
    """The bsnas space of the table's networks."""
    return load_space("nas_bench_macro")


def keys() -> list[str]:
    """All 6,561 keys, in order."""
    return sorted(table())


def check_key(key: object) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise BsnasError(f"a NAS-Bench-Macro key is 8 digits, each 0 (identity), 1 (inverted residual e3 k3) or "
                         f"2 (inverted residual e6 k5), such as '01201201', but got {key!r}")
    return key


def arch(key: str) -> Arch:
    """The architecture of an 8-digit key."""
    digits = dict(zip(parameter_names(space()), (int(d) for d in check_key(key)), strict=True))
    return walk(space(), lambda name, options: options[0] if len(options) == 1 else digits[name])


def key_of(architecture: Arch) -> str:
    """The canonical key (:func:`canonical_key`) of an architecture of the table's space (a
    :class:`~bsnas.errors.SpaceError` if it is none)."""
    params = params_of(space(), architecture)
    return "".join(str(params[name]) for name in parameter_names(space()))


def canonical_key(key: str) -> str:
    """The key :func:`key_of` gives for ``key``'s network: within each stage the identities after its first
    layer move to the end (an identity there is no layer at all, so ``210`` and ``201`` are one network,
    and the table stores the same results for both). 6,561 keys are 3,969 networks."""
    out, i = [], 0
    for depth in STAGE_DEPTHS:
        stage = check_key(key)[i:i + depth]
        rest = [d for d in stage[1:] if d != "0"]
        out.append(stage[0] + "".join(rest) + "0" * (depth - 1 - len(rest)))
        i += depth
    return "".join(out)


def networks() -> list[str]:
    """The canonical key of each of the 3,969 distinct networks, in order."""
    return sorted({canonical_key(k) for k in keys()})


@functools.cache
def _keys_by_string() -> dict[str, str]:
    return {encode_arch(arch(k)): k for k in networks()}


def key_of_string(arch_string: str) -> str | None:
    """The key of a canonical architecture string, or None when it is not one of the table's networks."""
    return _keys_by_string().get(arch_string)


def entry(key: str) -> Entry:
    """The table's row for ``key``."""
    return table()[check_key(key)]


def table_flops(architecture: Arch, input_size: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10) -> int:
    """FLOPs as the table counts them: the multiply-adds of the convs and the classifier only."""
    return multiply_adds(architecture, input_size, num_classes)
