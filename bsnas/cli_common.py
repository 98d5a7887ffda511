"""Helpers shared by the CLI modules: reading an ARCH argument, printing tables, common options."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from bsnas.baselines import baseline
from bsnas.codec import decode_arch
from bsnas.errors import BsnasError
from bsnas.record import ArchRecord, load_record

__all__ = ["add_proxy_args", "emit", "input_size_arg", "resolve_arch", "val_size"]


def resolve_arch(spec: str, num_classes: int | None = None,
                 input_size: tuple[int, int, int] | None = None) -> ArchRecord:
    """An ARCH argument: a JSON record path, a baseline name or an architecture string.

    ``num_classes`` and ``input_size``, when given, override the record's.
    """
    if spec.endswith(".json") or Path(spec).is_file():
        record = load_record(spec)
    elif spec.startswith("cifar_"):
        record = baseline(spec)
    elif spec.startswith("stem"):
        record = ArchRecord(decode_arch(spec))
    else:
        raise BsnasError(f"cannot read architecture {spec!r}: give a record file (*.json), a baseline name "
                         "(see `bsnas baselines`) or an architecture string starting with 'stem'")
    return ArchRecord(record.arch, input_size or record.input_size, num_classes or record.num_classes,
                      record.name, record.extra)


def emit(df: pd.DataFrame, fmt: str, extra: dict | None = None) -> None:
    if fmt == "json":
        payload = {**(extra or {}), "rows": df.to_dict(orient="records")}
        print(json.dumps(payload, indent=2))
    elif fmt == "csv":
        print(df.to_csv(index=False), end="")
    else:
        for key, value in (extra or {}).items():
            print(f"{key}: {value}")
        print(df.to_string(index=False))


def input_size_arg(text: str) -> tuple[int, int, int]:
    try:
        size = tuple(int(v) for v in text.lower().replace("x", ",").split(","))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected C,H,W such as 3,32,32, but got {text!r}")
    return size


def add_proxy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="digits", help="dataset spec: digits, npz:PATH, folder:PATH, cifar10:PATH, ...")
    p.add_argument("--val-size", type=float, default=0.2, help="validation fraction (or count if >= 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")


def val_size(value: float) -> float | int:
    return int(value) if value >= 1 else value


