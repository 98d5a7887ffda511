"""The architecture commands of the ``bsnas`` CLI: profile, baselines, proxy, proxy-check and zero-cost."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from bsnas.arch.baselines import baseline, list_baselines
from bsnas.arch.cost import count_stages
from bsnas.arch.resolve import as_record
from bsnas.cli.common import (
    FORMATS,
    add_arch_list_args,
    add_data_args,
    add_format_arg,
    add_recipe_args,
    described,
    emit,
    input_size_arg,
)
from bsnas.errors import BsnasError
from bsnas.training.config import OPTIMIZERS

__all__ = ["add_model_commands"]


def cmd_profile(args: argparse.Namespace) -> None:
    record = as_record(args.arch, num_classes=args.num_classes, input_size=args.input_size)
    rows = count_stages(record.arch, record.input_size, record.num_classes)
    df = pd.DataFrame([{"stage": r.name, "blocks": r.blocks, "out_shape": "x".join(map(str, r.out_shape)),
                        "flops": r.flops, "params": r.params} for r in rows])
    flops, params = int(df.flops.sum()), int(df.params.sum())
    extra = {"arch": record.arch_string, "input_size": list(record.input_size),
             "num_classes": record.num_classes, "flops": flops, "params": params}
    if args.verify:
        from bsnas.nn.model import build_model
        from bsnas.nn.profiling import fvcore_flops

        model = build_model(record)
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
        record = baseline(name) if args.num_classes is None else baseline(name, args.num_classes)
        cost = record.count()
        rows.append({"name": name, "input": "x".join(map(str, record.input_size)), "mflops": round(cost.flops / 1e6, 2),
                     "params": cost.params, "flops": cost.flops})
    if not rows:
        raise BsnasError(f"no baseline name contains {args.filter!r}; run `bsnas baselines` to list them")
    emit(pd.DataFrame(rows), args.format)


def cmd_proxy(args: argparse.Namespace) -> None:
    from bsnas.data.split import load_data
    from bsnas.training import ProxyConfig, resolve_device, train_proxy

    config = ProxyConfig(epochs=args.epochs, subset=args.subset, batch_size=args.batch_size, seed=args.seed,
                         optimizer=args.optimizer, lr=args.lr, label_smoothing=args.label_smoothing,
                         device=args.device, amp=args.amp)
    data = load_data(args.data, resolution=args.resolution, val_size=args.val_size, seed=args.seed,
                     test_spec=args.test_data, device=resolve_device(args.device))
    record = as_record(args.arch, num_classes=data.num_classes, input_size=data.input_size)
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


def _random_archs(args: argparse.Namespace) -> list:
    """The ``--random K`` architectures of ``--space`` (none without ``--random``)."""
    if not args.random:
        return []
    if not args.space:
        raise BsnasError("--random needs --space to draw from, e.g. --space mobilenet")
    from bsnas.space import load_space, random_archs

    return random_archs(load_space(args.space), args.random, args.seed)


def cmd_proxy_check(args: argparse.Namespace) -> None:
    from bsnas.training.proxy_check import parse_budget, proxy_check

    specs = list(args.archs)
    if args.archs_file:
        specs += [line.strip() for line in Path(args.archs_file).read_text().splitlines()
                  if line.strip() and not line.startswith("#")]
    if args.baselines:
        specs += [n for n in list_baselines() if args.baselines in n]
    archs = [as_record(s).arch for s in specs] + _random_archs(args)
    check = proxy_check(archs, args.data, parse_budget(args.proxy), parse_budget(args.reference),
                        args.val_size, args.seed, progress=args.format == "table")
    def num(v: float) -> float | None:  # a constant column leaves the correlation undefined
        return None if v != v else round(v, 4)

    summary = {"spearman": num(check.spearman), "kendall": num(check.kendall),
               "time_ratio": round(check.time_ratio, 4), "flop_ratio": round(check.flop_ratio, 4),
               "proxy": args.proxy, "reference": args.reference, "data": args.data}
    emit(check.table.round(4), args.format, summary)


def cmd_zero_cost(args: argparse.Namespace) -> None:
    from bsnas.data.split import load_data
    from bsnas.training import resolve_device
    from bsnas.training.zero_cost import zero_cost_scores

    specs = list(args.archs) + _random_archs(args)  # strings, names and records, then Arch objects
    if not specs:
        raise BsnasError("no architecture to score; give ARCH strings or baseline names, or --space NAME --random K")
    names = [s.strip() for s in args.scores.split(",") if s.strip()]
    if args.sort is not None and args.sort not in names:
        raise BsnasError(f"--sort {args.sort!r} is not among the scores computed ({', '.join(names)}); add it to "
                         "--scores or sort by one of those")
    device = resolve_device(args.device)
    data = load_data(args.data, resolution=args.resolution, val_size=args.val_size, seed=args.seed, device=device)
    rows = []
    for spec in specs:
        record = as_record(spec, num_classes=data.num_classes, input_size=data.input_size)
        scores = zero_cost_scores(record.arch, data, names, batch_size=args.batch_size, seed=args.seed, device=device)
        cost = record.count()
        rows.append({"arch": record.arch_string, "flops": cost.flops, "params": cost.params, **scores})
    df = pd.DataFrame(rows)[[*names, "flops", "params", "seconds", "arch"]]  # the long string last
    if args.sort is not None:
        df = df.sort_values(args.sort, ascending=False, kind="stable")
    emit(df, args.format, {"data": args.data, "input_size": list(data.input_size), "seed": args.seed})


def _add_profile(sub) -> None:
    p = described(sub, "profile", "FLOPs, params and a per-stage table of one architecture",
                  "Count an architecture's FLOPs (fvcore's convention: one multiply-add is one FLOP) and "
                  "parameters exactly from its data, without building it, with a per-stage table. --verify "
                  "also builds the model and checks both numbers against fvcore and sum(p.numel()).",
                  "bsnas profile cifar_resnet20_bsconvu --verify")
    p.add_argument("arch", help="architecture string, baseline name or JSON record")
    p.add_argument("--num-classes", type=int, default=None, help="override the record's class count")
    p.add_argument("--input-size", type=input_size_arg, default=None, metavar="C,H,W", help="override the input size")
    p.add_argument("--verify", action="store_true", help="also build the model and count it with fvcore")
    add_format_arg(p)
    p.set_defaults(func=cmd_profile)


def _add_baselines(sub) -> None:
    p = described(sub, "baselines", "the BSConv paper's model families with FLOPs and params",
                  "List the reference zoo's networks that bsnas expresses as architecture data (plain and BSConv "
                  "variants), with exact FLOPs and params at their default input size.",
                  "bsnas baselines --filter resnet20 --format csv")
    p.add_argument("--filter", default="", help="only names containing this text")
    p.add_argument("--num-classes", type=int, default=None, help="count for this many classes (default: the "
                   "family's own, 10 for CIFAR)")
    add_format_arg(p)
    p.set_defaults(func=cmd_baselines)


def _add_proxy(sub) -> None:
    p = described(sub, "proxy", "train one architecture on the proxy task and print its metrics",
                  "Train one architecture briefly, exactly as a search trial would, and print its validation "
                  "accuracy and loss, training time and throughput. Same architecture, data, seed and device "
                  "give the same numbers.",
                  "bsnas proxy cifar_resnet20_bsconvu --data npz:train.npz --epochs 4 --subset 2400 "
                  "--resolution 16 --optimizer adamw")
    p.add_argument("arch", help="architecture string, baseline name or JSON record")
    add_data_args(p)
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--subset", type=int, default=None, help="train on this many images (stratified; default all)")
    add_recipe_args(p, "training")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd", help="optimiser (default sgd)")
    p.add_argument("--label-smoothing", type=float, default=0.0, help="label smoothing (default 0)")
    p.add_argument("--test-data", default=None, help="evaluate on this dataset too (only when given)")
    p.add_argument("--format", choices=FORMATS[:2], default="table", help="table (default) or json")
    p.set_defaults(func=cmd_proxy)


def _add_proxy_check(sub) -> None:
    p = described(sub, "proxy-check", "rank correlation of the proxy against a longer reference budget",
                  "Train every architecture at a cheap proxy budget and at a longer reference budget on the same "
                  "validation split, and report Spearman and Kendall rank correlations with the cost ratios: "
                  "is the proxy faithful on your data?",
                  "bsnas proxy-check --space tiny --random 8 --proxy epochs=2,subset=700 --reference epochs=10")
    p.add_argument("archs", nargs="*", help="architecture strings, baseline names or JSON records")
    p.add_argument("--archs-file", help="a file with one architecture per line")
    p.add_argument("--baselines", default="", help="add the baselines whose names contain this text")
    p.add_argument("--space", default=None, help="search space to draw --random architectures from")
    p.add_argument("--random", type=int, default=0, metavar="K", help="add K random architectures of --space")
    add_data_args(p)
    p.add_argument("--proxy", default="epochs=2", help="proxy budget, e.g. epochs=2,subset=5000,resolution=16")
    p.add_argument("--reference", default="epochs=20", help="reference budget, same keys")
    add_format_arg(p)
    p.set_defaults(func=cmd_proxy_check)


def _add_zero_cost(sub) -> None:
    from bsnas.training.zero_cost import ZERO_COST_SCORES

    p = described(sub, "zero-cost", "zero-cost scores of untrained architectures (synflow, NASWOT, ...)",
                  "Score freshly initialised networks from a few training batches, without training them: "
                  "synflow, NASWOT, grad-norm, SNIP and ZiCo (each described, with its paper, in "
                  "bsnas.training.zero_cost). Higher is meant to predict a more accurate trained network; "
                  "--space NAME --random K --sort naswot ranks K random members of a space.",
                  "bsnas zero-cost --space nas_bench_macro --random 20 --data digits --scores naswot --sort naswot")
    add_arch_list_args(p)
    p.add_argument("--sort", default=None, metavar="SCORE", help="list the networks by this score, highest first")
    add_data_args(p)
    p.add_argument("--scores", default=",".join(ZERO_COST_SCORES),
                   help=f"comma-separated scores (default all: {','.join(ZERO_COST_SCORES)})")
    p.add_argument("--resolution", type=int, default=None, help="images are resized to R x R (default: as read)")
    p.add_argument("--batch-size", type=int, default=64, help="images per batch (default 64; ZiCo uses two)")
    add_format_arg(p)
    p.set_defaults(func=cmd_zero_cost)


def add_model_commands(sub) -> None:
    _add_profile(sub)
    _add_baselines(sub)
    _add_proxy(sub)
    _add_proxy_check(sub)
    _add_zero_cost(sub)
