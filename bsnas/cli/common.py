"""Helpers shared by the CLI modules: printing tables, common options."""

from __future__ import annotations

import argparse
import json

import pandas as pd

__all__ = ["FORMATS", "add_arch_list_args", "add_data_args", "add_format_arg", "add_recipe_args", "described",
           "emit", "input_size_arg", "size_arg", "split_size_arg"]

#: ``--format`` values of commands that print a table.
FORMATS = ("table", "json", "csv")


def add_format_arg(p) -> None:
    """``--format table|json|csv``, table by default: the same option on every command that prints data."""
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")


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


def size_arg(text: str) -> int | tuple[int, int, int]:
    """``224`` (a square image, the data's channels) or ``3,224,224``."""
    if text.strip().isdigit() and int(text) >= 1:
        return int(text)
    return input_size_arg(text)


def input_size_arg(text: str) -> tuple[int, int, int]:
    try:
        size = tuple(int(v) for v in text.lower().replace("x", ",").split(","))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected C,H,W such as 3,32,32, but got {text!r}")
    return size


def add_arch_list_args(p: argparse.ArgumentParser, seed: int | None = None) -> None:
    """``ARCH...`` (strings, baseline names, records) and ``--space NAME --random K`` (and ``--seed``, when
    ``seed`` gives its default): the networks a command works on."""
    p.add_argument("archs", nargs="*", help="architecture strings, baseline names or JSON records")
    p.add_argument("--space", default=None, help="search space to draw --random architectures from")
    p.add_argument("--random", type=int, default=0, metavar="K", help="add K random architectures of --space")
    if seed is not None:
        p.add_argument("--seed", type=int, default=seed, help=f"seed of --random (default {seed})")


def described(sub, name: str, summary: str, description: str, example: str) -> argparse.ArgumentParser:
    """A subcommand with a one-line summary (in ``bsnas --help``), a paragraph and an example (in its --help)."""
    return sub.add_parser(name, help=summary, description=f"{description}\n\nexample:\n  {example}",
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def split_size_arg(text: str) -> float | int:
    """A split size: a fraction strictly between 0 and 1, or a whole number of images."""
    try:
        count = int(text)
    except ValueError:
        count = None
    if count is not None:
        if count >= 1:
            return count
    else:
        try:
            fraction = float(text)
        except ValueError:
            fraction = None
        if fraction is not None and 0 < fraction < 1:
            return fraction
    raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1) such as 0.2 or a whole number of images "
                                     f"such as 500, but got {text!r}")


def add_recipe_args(p: argparse.ArgumentParser, what: str) -> None:
    """The training options proxy, train and search share; ``what`` names the training in the help."""
    from bsnas.training.config import AMP

    p.add_argument("--resolution", type=int, default=None,
                   help=f"{what} images are resized to R x R (default: as read)")
    p.add_argument("--batch-size", type=int, default=64, help=f"{what} batch size (default 64)")
    p.add_argument("--lr", type=float, default=None, help=f"{what} peak learning rate (default 0.1 SGD, 3e-3 AdamW)")
    p.add_argument("--amp", choices=AMP, default=None, help="mixed precision (on CUDA; bf16 also on CPUs)")


def add_data_args(p: argparse.ArgumentParser, required: bool = False) -> None:
    if required:  # checked by the command: some modes need no data
        p.add_argument("--data", default=None, help="dataset spec: digits (the embedded 8x8 digits), npz:PATH, "
                       "folder:PATH, cifar10:PATH, ... (required, except with --evaluator table)")
    else:
        p.add_argument("--data", default="digits",
                       help="dataset spec: digits (default), npz:PATH, folder:PATH, cifar10:PATH, ...")
    p.add_argument("--val-size", type=split_size_arg, default=0.2,
                   help="validation split: a fraction in (0, 1) or a number of images (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the training and the sampler (default 0)")
    p.add_argument("--device", default="auto", help="where training runs: auto (CUDA when present; default), cpu "
                   "or cuda[:N]")
