"""The ``bsnas`` command line. Errors print one line and exit 2; ``--debug`` shows the traceback."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from bsnas.baselines import baseline, list_baselines
from bsnas.cli_common import add_proxy_args, emit, input_size_arg, resolve_arch, val_size
from bsnas.cli_study import add_study_commands
from bsnas.codec import encode_arch
from bsnas.cost import count_stages
from bsnas.errors import BsnasError
from bsnas.version import __version__

__all__ = ["main", "resolve_arch"]


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
    emit(df, args.format, extra)


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
    emit(pd.DataFrame(rows), args.format)


def cmd_proxy(args: argparse.Namespace) -> None:
    from bsnas.data import load_data
    from bsnas.proxy import ProxyConfig, resolve_device, train_proxy

    config = ProxyConfig(epochs=args.epochs, subset=args.subset, batch_size=args.batch_size, seed=args.seed,
                         optimizer=args.optimizer, lr=args.lr, label_smoothing=args.label_smoothing,
                         device=args.device)
    data = load_data(args.data, resolution=args.resolution, val_size=val_size(args.val_size), seed=args.seed,
                     test_spec=args.test_data, device=resolve_device(args.device))
    record = resolve_arch(args.arch, data.num_classes, data.input_size)
    result = train_proxy(record.arch, data, config, progress=args.format == "table" and sys.stderr.isatty())
    cost = record.count()
    metrics = {"arch": record.arch_string, "flops": cost.flops, "params": cost.params, **result.to_dict()}
    settings = metrics.pop("settings")
    if args.format == "json":
        print(json.dumps({**metrics, "settings": settings}, indent=2))
    else:
        for key, value in metrics.items():
            if value is not None:
                print(f"{key}: {round(value, 4) if isinstance(value, float) else value}")
    if result.diverged:
        raise BsnasError(f"training diverged: {result.diverged}")


def cmd_proxy_check(args: argparse.Namespace) -> None:
    from bsnas.proxy_check import parse_budget, proxy_check

    specs = list(args.archs)
    if args.archs_file:
        specs += [line.strip() for line in Path(args.archs_file).read_text().splitlines()
                  if line.strip() and not line.startswith("#")]
    if args.baselines:
        specs += [n for n in list_baselines() if args.baselines in n]
    archs = [resolve_arch(s).arch for s in specs]
    if args.random:
        archs += random_archs(args.space, args.random, args.seed)
    check = proxy_check(archs, args.data, parse_budget(args.proxy), parse_budget(args.reference),
                        val_size(args.val_size), args.seed, progress=args.format == "table")
    def num(v: float) -> float | None:  # a constant column leaves the correlation undefined
        return None if v != v else round(v, 4)

    summary = {"spearman": num(check.spearman), "kendall": num(check.kendall),
               "time_ratio": round(check.time_ratio, 4), "flop_ratio": round(check.flop_ratio, 4),
               "proxy": args.proxy, "reference": args.reference, "data": args.data}
    emit(check.table.round(4), args.format, summary)


def random_archs(space_path: str | None, k: int, seed: int) -> list:
    """``k`` distinct architectures drawn uniformly (Optuna's RandomSampler) from a search space."""
    import optuna

    from bsnas.space import load_space, sample_arch

    if not space_path:
        raise BsnasError("--random needs --space to draw from, e.g. --space mobilenet")
    space = load_space(space_path)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    archs: dict[str, object] = {}
    for _ in range(k * 50):
        arch = sample_arch(study.ask(), space)
        archs.setdefault(encode_arch(arch), arch)
        if len(archs) == k:
            break
    return list(archs.values())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bsnas", description="Neural architecture search over blueprint separable convolutions (BSConv). "
        "Errors print one line and exit non-zero; --debug shows the traceback.")
    parser.add_argument("--version", action="version", version=f"bsnas {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fmt = {"choices": ("table", "json", "csv"), "default": "table", "help": "output format"}

    p = sub.add_parser("profile", help="FLOPs, params and a per-stage table of one architecture")
    p.add_argument("arch", help="architecture string, baseline name or JSON record")
    p.add_argument("--num-classes", type=int, default=None, help="override the record's class count")
    p.add_argument("--input-size", type=input_size_arg, default=None, metavar="C,H,W", help="override the input size")
    p.add_argument("--verify", action="store_true", help="also build the model and count it with fvcore")
    p.add_argument("--format", **fmt)
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("baselines", help="the BSConv paper's CIFAR model families with FLOPs and params")
    p.add_argument("--filter", default="", help="only names containing this text")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--format", **fmt)
    p.set_defaults(func=cmd_baselines)

    p = sub.add_parser("proxy", help="train one architecture on the proxy task and print its metrics")
    p.add_argument("arch", help="architecture string, baseline name or JSON record")
    add_proxy_args(p)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--subset", type=int, default=None, help="train on this many images (stratified)")
    p.add_argument("--resolution", type=int, default=None, help="resize images to R x R")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default 0.1 SGD, 3e-3 AdamW)")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--test-data", default=None, help="evaluate on this dataset too (only when given)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_proxy)

    p = sub.add_parser("proxy-check", help="rank correlation of the proxy against a longer reference budget")
    p.add_argument("archs", nargs="*", help="architecture strings, baseline names or JSON records")
    p.add_argument("--archs-file", help="a file with one architecture per line")
    p.add_argument("--baselines", default="", help="add the baselines whose names contain this text")
    p.add_argument("--space", default=None, help="search space to draw --random architectures from")
    p.add_argument("--random", type=int, default=0, metavar="K", help="add K random architectures of --space")
    add_proxy_args(p)
    p.add_argument("--proxy", default="epochs=2", help="proxy budget, e.g. epochs=2,subset=5000,resolution=16")
    p.add_argument("--reference", default="epochs=20", help="reference budget, same keys")
    p.add_argument("--format", **fmt)
    p.set_defaults(func=cmd_proxy_check)

    add_study_commands(sub, fmt)
    for command in sub.choices.values():  # --debug also works after the command
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
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
        print("bsnas: interrupted; run the same command again to resume a search", file=sys.stderr)
        return 130
    except Exception as err:  # a bug or a library failure: still one line unless --debug
        if args.debug:
            raise
        first = (str(err).splitlines() or [""])[0]
        print(f"bsnas: error: unexpected {type(err).__name__}: {first}; rerun with --debug for the traceback",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
