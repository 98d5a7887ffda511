"""The ``bsnas`` command line. Errors print one line and exit 2; ``--debug`` shows the traceback."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from bsnas import __version__
from bsnas.baselines import baseline, list_baselines
from bsnas.codec import decode_arch
from bsnas.cost import count_stages
from bsnas.errors import BsnasError
from bsnas.record import ArchRecord, load_record

__all__ = ["main", "resolve_arch"]


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


def _emit(df: pd.DataFrame, fmt: str, extra: dict | None = None) -> None:
    if fmt == "json":
        payload = {**(extra or {}), "rows": df.to_dict(orient="records")}
        print(json.dumps(payload, indent=2))
    elif fmt == "csv":
        print(df.to_csv(index=False), end="")
    else:
        for key, value in (extra or {}).items():
            print(f"{key}: {value}")
        print(df.to_string(index=False))


def _size(text: str) -> tuple[int, int, int]:
    try:
        size = tuple(int(v) for v in text.lower().replace("x", ",").split(","))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected C,H,W such as 3,32,32, but got {text!r}")
    return size


def cmd_profile(args: argparse.Namespace) -> None:
    record = resolve_arch(args.arch, args.num_classes, args.input_size)
    rows = count_stages(record.arch, record.input_size, record.num_classes)
    df = pd.DataFrame([{"stage": r.name, "blocks": r.blocks, "out_shape": "x".join(map(str, r.out_shape)),
                        "flops": r.flops, "params": r.params} for r in rows])
    flops, params = int(df.flops.sum()), int(df.params.sum())
    extra = {"arch": record.arch_string, "input_size": list(record.input_size),
             "num_classes": record.num_classes, "flops": flops, "params": params}
    if args.verify:
        from bsnas.profiling import fvcore_flops

        model = record.build()
        extra["fvcore_flops"] = fvcore_flops(model, record.input_size)
        extra["built_params"] = sum(p.numel() for p in model.parameters())
        if (extra["fvcore_flops"], extra["built_params"]) != (flops, params):
            raise BsnasError(f"analytic count ({flops}, {params}) differs from the built model "
                             f"({extra['fvcore_flops']}, {extra['built_params']}); please report this bug")
    _emit(df, args.format, extra)


def cmd_baselines(args: argparse.Namespace) -> None:
    rows = []
    for name in list_baselines():
        if args.filter and args.filter not in name:
            continue
        record = baseline(name, args.num_classes)
        cost = record.count()
        rows.append({"name": name, "mflops": round(cost.flops / 1e6, 2), "params": cost.params,
                     "flops": cost.flops})
    if not rows:
        raise BsnasError(f"no baseline name contains {args.filter!r}; run `bsnas baselines` to list them")
    _emit(pd.DataFrame(rows), args.format)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bsnas", description=__doc__)
    parser.add_argument("--version", action="version", version=f"bsnas {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fmt = {"choices": ("table", "json", "csv"), "default": "table", "help": "output format"}

    p = sub.add_parser("profile", help="FLOPs, params and a per-stage table of one architecture")
    p.add_argument("arch", help="architecture string, baseline name or JSON record")
    p.add_argument("--num-classes", type=int, default=None, help="override the record's class count")
    p.add_argument("--input-size", type=_size, default=None, metavar="C,H,W", help="override the input size")
    p.add_argument("--verify", action="store_true", help="also build the model and count it with fvcore")
    p.add_argument("--format", **fmt)
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("baselines", help="the BSConv paper's CIFAR model families with FLOPs and params")
    p.add_argument("--filter", default="", help="only names containing this text")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--format", **fmt)
    p.set_defaults(func=cmd_baselines)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (BsnasError, OSError) as err:
        if args.debug:
            raise
        print(f"bsnas: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bsnas: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
