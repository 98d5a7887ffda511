"""Helpers shared by the CLI modules: printing tables, common options."""

from __future__ import annotations

import argparse
import json

import pandas as pd

__all__ = ["FORMATS", "add_data_args", "emit", "input_size_arg", "val_size"]

#: ``--format`` values of commands that print a table.
FORMATS = ("table", "json", "csv")


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


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="digits", help="dataset spec: digits, npz:PATH, folder:PATH, cifar10:PATH, ...")
    p.add_argument("--val-size", type=float, default=0.2, help="validation fraction (or count if >= 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")


def val_size(value: float) -> float | int:
    return int(value) if value >= 1 else value
