"""The latency commands of the ``bsnas`` CLI: ``latency`` (measure networks end to end) and ``latency-table``
(build a per-block lookup table, and check its predictions against end-to-end measurements)."""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from bsnas.cli.common import FORMATS, add_arch_list_args, described, emit, size_arg
from bsnas.errors import BsnasError

__all__ = ["add_latency_commands"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, but got {text!r}")
    return value


def _settings(p: argparse.ArgumentParser) -> None:
    from bsnas.latency.timing import BACKENDS

    p.add_argument("--backend", default="torch", help=f"how the network runs: {' or '.join(BACKENDS)} (default "
                   "torch: eager, channels-last, inference mode; onnxruntime: its CPU provider)")
    p.add_argument("--threads", type=_positive, default=1, help="intra-op threads, pinned (default 1)")
    p.add_argument("--batch", type=_positive, default=1, help="images per call (default 1)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda[:N] or auto (torch backend only)")


def _archs(args: argparse.Namespace) -> list:
    from bsnas.arch.resolve import as_record
    from bsnas.space import load_space, random_archs

    if args.random and not args.space:
        raise BsnasError("--random needs --space to draw from, e.g. --space mobilenet")
    specs = [as_record(a) for a in args.archs]  # records keep their input size and classes
    names = list(args.archs)
    if args.random:
        drawn = random_archs(load_space(args.space), args.random, args.seed)
        specs += drawn
        names += [f"{args.space}-{i}" for i in range(len(drawn))]
    if not specs:
        raise BsnasError("no architecture to measure; give ARCH strings or baseline names, or --space NAME --random K")
    return list(zip(names, specs, strict=True))


def _input_size(args: argparse.Namespace, default: tuple[int, int, int]) -> tuple[int, int, int]:
    size = args.input_size
    if size is None:
        return tuple(default)
    return (default[0], size, size) if isinstance(size, int) else tuple(size)


def cmd_latency(args: argparse.Namespace) -> None:
    from bsnas.arch.cost import count
    from bsnas.arch.resolve import as_record
    from bsnas.latency import measure_latency
    from bsnas.latency.fingerprint import describe

    rows, fingerprint = [], None
    for name, arch in _archs(args):
        record = as_record(arch)
        size = _input_size(args, record.input_size)
        lat = measure_latency(record, backend=args.backend, threads=args.threads, batch=args.batch, input_size=size,
                              device=args.device, min_time=args.min_time)
        fingerprint = lat.fingerprint
        t = lat.timing
        rows.append({"name": name if len(name) <= 40 else name[:37] + "...", "median_ms": round(t.median_ms, 4),
                     "iqr_ms": round(t.iqr_ms, 4), "q1_ms": round(t.q1_ms, 4), "q3_ms": round(t.q3_ms, 4),
                     "runs": t.runs, "mflops": round(count(record.arch, size, record.num_classes).flops / 1e6, 3),
                     "input_size": "x".join(map(str, size))})
    df = pd.DataFrame(rows)
    if args.format == "json":
        emit(df, "json", {"fingerprint": fingerprint})
    else:
        emit(df, args.format, {"measured with": describe(fingerprint)} if args.format == "table" else None)


def cmd_latency_table_build(args: argparse.Namespace) -> None:
    from bsnas.latency import LatencyTable
    from bsnas.latency.fingerprint import describe
    from bsnas.latency.measure import network_ms
    from bsnas.space import load_space, random_archs

    space = load_space(args.space)
    size = _input_size(args, space.input_size)
    if min(size[1:]) < space.total_stride:
        raise BsnasError(f"--input-size {size[1]}x{size[2]} is smaller than the space's total stride "
                         f"{space.total_stride}")
    table = LatencyTable.new(args.backend, args.threads, args.batch, args.device)
    show = args.format == "table" and sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if show:
            print(f"\rmeasuring units: {done}/{total}", end="", file=sys.stderr, flush=True)

    measured = table.build(space, size, space.num_classes, rounds=args.rounds, progress=progress)
    if show:
        print(file=sys.stderr)
    if args.calibrate:
        archs = random_archs(space, args.calibrate, seed=args.seed)
        table.calibrate(archs, size, space.num_classes,
                        lambda a: network_ms(a, size, space.num_classes, table.fingerprint, args.device))
    table.save(args.out)
    fit = table.fit
    summary = {"table": str(args.out), "space": space.name, "input_size": "x".join(map(str, size)),
               "units": len(table.units), "measured": measured, "measured with": describe(table.fingerprint),
               "fit": (f"latency = {fit['intercept_ms']:.4f} ms + {fit['slope']:.4f} x sum of units, on "
                       f"{fit['networks']} networks, R^2 {fit.get('r2', float('nan')):.3f}") if fit["networks"]
               else "none (--calibrate 0): the plain sum of units"}
    if args.format == "json":
        emit(pd.DataFrame([]), "json", {**summary, "fingerprint": table.fingerprint, "fit": fit})
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")


def cmd_latency_table_check(args: argparse.Namespace) -> None:
    import numpy as np
    from scipy.stats import spearmanr

    from bsnas.arch.cost import count
    from bsnas.arch.resolve import as_record
    from bsnas.latency import LatencyTable
    from bsnas.latency.measure import network_ms
    from bsnas.space import load_space

    table, warnings = LatencyTable.load_here(args.table, allow_foreign=args.allow_foreign_table, device=args.device)
    for line in warnings:
        print(line, file=sys.stderr)
    space = load_space(args.space) if args.space else None
    size = _input_size(args, space.input_size if space else (3, 32, 32))
    rows = []
    for name, arch in _archs(args):
        classes = space.num_classes if space else 10
        arch = as_record(arch).arch
        predicted = table.predict(arch, size, classes)
        measured = network_ms(arch, size, classes, table.fingerprint, args.device)
        rows.append({"name": name, "predicted_ms": round(predicted, 4), "measured_ms": round(measured, 4),
                     "error": round((predicted - measured) / measured, 4),
                     "mflops": round(count(arch, size, classes).flops / 1e6, 3)})
    df = pd.DataFrame(rows)
    errors = np.abs(df["error"].to_numpy())
    summary = {"median_abs_error": round(float(np.median(errors)), 4),
               "p90_abs_error": round(float(np.percentile(errors, 90)), 4)}
    if len(df) > 2:
        summary["spearman"] = round(float(spearmanr(df["predicted_ms"], df["measured_ms"])[0]), 4)
        summary["flops_spearman"] = round(float(spearmanr(df["mflops"], df["measured_ms"])[0]), 4)
    emit(df, args.format, summary)


def _add_latency(sub) -> None:
    p = described(sub, "latency", "measure networks' inference latency on this machine",
                  "Build each network (freshly initialised, eval mode) and time it end to end on this machine: "
                  "warm-up, then calls until at least 50 and --min-time seconds, with the thread count pinned. "
                  "Prints the median and interquartile range in ms, with the machine's fingerprint (CPU, "
                  "versions, backend, threads, batch). On CUDA each call is timed with CUDA events.",
                  "bsnas latency cifar_resnet20 cifar_resnet20_bsconvu --backend onnxruntime --threads 1")
    add_arch_list_args(p, seed=0)
    _settings(p)
    p.add_argument("--input-size", type=size_arg, default=None, metavar="H|C,H,W",
                   help="input size (default: the network's own, 32x32 for a bare string)")
    p.add_argument("--min-time", type=float, default=0.5, help="seconds of timed calls per network (default 0.5)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    p.set_defaults(func=cmd_latency)


def _add_latency_table(sub) -> None:
    p = described(sub, "latency-table", "build or check a per-block latency lookup table",
                  "build: measure every unit (stem, each block at each input size it can meet, head) that a space "
                  "can produce, then fit the per-network overhead on --calibrate random networks measured end to "
                  "end. check: compare a table's predictions with end-to-end measurements.",
                  "bsnas latency-table build --space resnet --backend torch --threads 1 --out runs/resnet_torch.json")
    actions = p.add_subparsers(dest="action", required=True, metavar="build|check",
                               help="build: measure a space's units into a table file; check: compare a table's "
                                    "predictions with measured end-to-end latency")
    b = described(actions, "build", "measure every unit of a space into a table file",
                  "Measure every unit a space can produce at the input size, pooled over --rounds passes, then fit "
                  "the per-network overhead on --calibrate random networks measured end to end.",
                  "bsnas latency-table build --space resnet --backend onnxruntime --out runs/resnet_ort.json")
    b.add_argument("--space", required=True, help="search space (a name in search_spaces/ or a YAML file)")
    b.add_argument("--input-size", type=size_arg, default=None, metavar="H|C,H,W",
                   help="deployment input size (default: the space's)")
    _settings(b)
    b.add_argument("--out", required=True, help="the table file to write (JSON)")
    b.add_argument("--rounds", type=_positive, default=3, help="passes over the units, pooled (default 3)")
    b.add_argument("--calibrate", type=int, default=20, metavar="N",
                   help="random networks measured end to end to fit the overhead (default 20; 0: none)")
    b.add_argument("--seed", type=int, default=0, help="seed of the calibration networks (default 0)")
    b.add_argument("--format", choices=FORMATS[:2], default="table", help="table (default) or json")
    b.set_defaults(func=cmd_latency_table_build)
    c = described(actions, "check", "compare a table's predictions with measured end-to-end latency",
                  "Predict each network from the table and measure it end to end under the table's settings; print "
                  "both, the error, and the Spearman of prediction and of FLOPs against the measurement.",
                  "bsnas latency-table check runs/resnet_ort.json --space resnet --random 20")
    c.add_argument("table", help="a table file from latency-table build")
    add_arch_list_args(c, seed=1)
    c.add_argument("--input-size", type=size_arg, default=None, metavar="H|C,H,W")
    c.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    c.add_argument("--allow-foreign-table", action="store_true",
                   help="use a table measured on another device or setup (with a warning)")
    c.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    c.set_defaults(func=cmd_latency_table_check)


def add_latency_commands(sub) -> None:
    _add_latency(sub)
    _add_latency_table(sub)
