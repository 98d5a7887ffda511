"""Latency on this machine: how repeatable a measurement is, how well the lookup table predicts, and what
a MFLOP costs in each conv type.

1. **Repeatability** (``repeat``): ``bsnas latency`` run as 5 separate processes on a few baselines, each
   backend; the coefficient of variation of their medians.
2. **Table accuracy** (``tables``): for each space (``resnet``, ``mobilenet`` at 32x32; ``mobilenet224`` at
   224x224) and backend (torch eager, ONNX Runtime's CPU provider), 1 thread, batch 1: build the table
   (every unit, pooled over ``--rounds`` passes), fit the overhead on 20 random networks measured end to
   end (seed 100), then predict 50 other random networks (seed 7) and measure them end to end. Each network
   is measured twice, in two passes of interleaved rounds (each pass 2 rounds over all networks): the
   table is judged against pass A, and pass B against pass A is the measurement's own noise floor, which
   no table can beat on this machine. Reports the median and 90th-percentile absolute relative error, the
   Spearman of prediction and of FLOPs against the measured latency.
3. **Latency per MFLOP by conv type** (``per_mflop``): every block unit of the resnet and mobilenet
   tables, grouped by conv type: median latency per MFLOP, and ``docs/latency_vs_flops.png``
   (latency against FLOPs, coloured by conv type, one panel per backend).

Run: ``python benchmarks/latency.py`` (about an hour of one core; the mobilenet224 tables were built with
``--spaces mobilenet224 --rounds 1`` to fit the session) or ``--quick`` (the resnet space only, 10
networks, one pass per unit: a smoke check, a few minutes). Tables and measurements are cached in
``runs/latency/`` and a rerun only does what is missing. Run nothing else meanwhile: these are wall-clock
measurements. Writes ``benchmarks/results/latency[_quick].json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

import bsnas
from bsnas.arch.tally import block_cost
from bsnas.latency import LatencyTable
from bsnas.latency.fingerprint import cpu_model
from bsnas.latency.timing import Timing, call_times
from bsnas.latency.units import space_units
from bsnas.nn.model import build_model
from bsnas.space import load_space, random_archs

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "runs" / "latency"
SPACES = {"resnet": (3, 32, 32), "mobilenet": (3, 32, 32), "mobilenet224": (3, 224, 224)}
BACKENDS = ("torch", "onnxruntime")
REPEAT_BASELINES = ("cifar_resnet20", "cifar_resnet20_bsconvu", "cifar_resnet20_bsconvs_p1d4",
                    "cifar_mobilenetv2_w1d4")
E2E = {"warmup": 5, "min_runs": 20, "min_time": 0.15}
#: Blocks of 2 to 5 MFLOPs: where all four conv types have many blocks, to compare them at like cost.
BAND = (2e6, 5e6)


def repeat(backends, invocations: int) -> dict:
    """The medians of ``invocations`` separate ``bsnas latency`` processes per backend, and their CV."""
    out = {}
    for backend in backends:
        medians: dict[str, list[float]] = {b: [] for b in REPEAT_BASELINES}
        for _ in range(invocations):
            run = subprocess.run([sys.executable, "-m", "bsnas", "latency", *REPEAT_BASELINES, "--backend", backend,
                                  "--format", "json"], capture_output=True, text=True, check=True)
            for row in json.loads(run.stdout)["rows"]:
                medians[row["name"]].append(row["median_ms"])
        out[backend] = {b: {"medians_ms": v, "mean_ms": float(np.mean(v)),
                            "cv": float(np.std(v, ddof=1) / np.mean(v))} for b, v in medians.items()}
        print(f"repeat {backend}: " + ", ".join(f"{b} CV {r['cv']:.3f}" for b, r in out[backend].items()), flush=True)
    return out


def interleaved(archs, size, classes, backend: str, rounds: int) -> list[float]:
    """End-to-end medians of ``archs``, each pooled over ``rounds`` rounds that go over all of them in turn."""
    models = [build_model(a, num_classes=classes, in_channels=size[0]) for a in archs]
    times: list[list[float]] = [[] for _ in archs]
    for _ in range(rounds):
        for i, model in enumerate(models):
            times[i] += call_times(model, (1, *size), backend=backend, threads=1, **E2E)
    return [Timing.of(t).median_ms for t in times]


def table_for(space_name: str, backend: str, rounds: int, calibrate: int) -> LatencyTable:
    path = CACHE / f"{space_name}_{backend}.json"
    if path.exists():
        return LatencyTable.load(path)[0]
    space, size = load_space(space_name), SPACES[space_name]
    table = LatencyTable.new(backend=backend)
    start = time.perf_counter()
    table.build(space, size, space.num_classes, rounds=rounds)
    built = time.perf_counter() - start
    archs = random_archs(space, calibrate, seed=100)
    measured = iter(interleaved(archs, size, space.num_classes, backend, 2))
    table.calibrate(archs, size, space.num_classes, lambda a: next(measured))
    table.fit["build_seconds"] = round(built, 1)
    table.fit["rounds"] = rounds
    table.fit["calibrate_seconds"] = round(time.perf_counter() - start - built, 1)
    table.save(path)
    print(f"table {space_name}/{backend}: {len(table.units)} units in {built:.0f} s; fit {table.fit}", flush=True)
    return table


def check(space_name: str, backend: str, networks: int, table: LatencyTable) -> dict:
    path = CACHE / f"{space_name}_{backend}_check{networks}.json"
    if path.exists():
        return json.loads(path.read_text())
    space, size = load_space(space_name), SPACES[space_name]
    archs = random_archs(space, networks, seed=7)
    predicted = [table.predict(a, size, space.num_classes) for a in archs]
    start = time.perf_counter()
    a, b = (interleaved(archs, size, space.num_classes, backend, 2) for _ in range(2))
    flops = [bsnas.count(x, size, space.num_classes).flops for x in archs]
    result = {"predicted_ms": predicted, "measured_ms": a, "measured_again_ms": b, "flops": flops,
              "seconds": round(time.perf_counter() - start, 1)}
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))
    return result


def judge(result: dict) -> dict:
    keys = ("predicted_ms", "measured_ms", "measured_again_ms", "flops")
    p, a, b, f = (np.asarray(result[k], float) for k in keys)
    err, noise = np.abs(p - a) / a, np.abs(b - a) / a
    return {"networks": len(a), "median_abs_error": float(np.median(err)),
            "p90_abs_error": float(np.percentile(err, 90)),
            "spearman": float(spearmanr(p, a)[0]), "flops_spearman": float(spearmanr(f, a)[0]),
            "noise_median_abs_diff": float(np.median(noise)), "noise_p90_abs_diff": float(np.percentile(noise, 90)),
            "noise_spearman": float(spearmanr(b, a)[0]), "measured_ms_range": [float(a.min()), float(a.max())]}


def per_mflop(tables: dict) -> dict:
    """Median latency per MFLOP of each conv type's block units, per backend, and the points to plot."""
    out, points = {}, {}
    for (space_name, backend), table in tables.items():
        if space_name == "mobilenet224":
            continue
        space, size = load_space(space_name), SPACES[space_name]
        for group in space_units(space, size, space.num_classes)[1:-1]:
            for unit in group:
                if unit.block is None or unit.block.kind == "skip" or unit.key not in table.units:
                    continue
                flops = block_cost(unit.block, unit.shape[0], unit.shape[1:])[0]
                points.setdefault(backend, {}).setdefault(unit.block.op, []).append((flops, table.units[unit.key]))
    for backend, by_op in points.items():
        out[backend] = {}
        for op, v in by_op.items():
            f, ms = np.array(v, float).T
            band = (f >= BAND[0]) & (f <= BAND[1])
            out[backend][op] = {"blocks": len(v), "median_ms_per_mflop": float(np.median(ms / (f / 1e6))),
                                "median_ms": float(np.median(ms)), "median_mflops": float(np.median(f / 1e6)),
                                "band_blocks": int(band.sum()), "band_median_ms": float(np.median(ms[band])),
                                "band_median_mflops": float(np.median(f[band] / 1e6))}
    return out, points


def plot(points: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bsnas.results.plots import COLOURS

    fig, axes = plt.subplots(1, len(points), figsize=(6 * len(points), 4.5), squeeze=False)
    for ax, (backend, by_op) in zip(axes[0], points.items(), strict=True):
        for op, v in by_op.items():
            f, ms = np.array(v).T
            ax.scatter(f / 1e6, ms, s=8, alpha=0.5, color=COLOURS.get(op), label=op)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("block MFLOPs")
        ax.set_ylabel("block latency (ms, 1 thread, batch 1)")
        ax.set_title(f"resnet + mobilenet blocks at 32x32, {backend}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="resnet only, 10 networks, one pass per unit")
    parser.add_argument("--spaces", default=None, help=f"comma list of {', '.join(SPACES)}")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--networks", type=int, default=None, help="random networks judged per space (default 50)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="passes over the units when a table is built (default 3; 1 with --quick)")
    parser.add_argument("--skip-repeat", action="store_true",
                        help="leave out the 5-invocation repeatability (keeping the results file's last one)")
    args = parser.parse_args()
    global CACHE
    if args.quick:
        CACHE = CACHE / "quick"
    torch.set_num_threads(1)
    spaces = args.spaces.split(",") if args.spaces else (["resnet"] if args.quick else list(SPACES))
    backends = args.backends.split(",")
    networks = args.networks or (10 if args.quick else 50)
    start = time.perf_counter()
    summary = {"command": " ".join(["python benchmarks/latency.py", *sys.argv[1:]]),
               "machine": {"cpu": cpu_model(), "logical_cores": os.cpu_count(), "threads": 1, "batch": 1,
                           "python": platform.python_version(), "torch": torch.__version__}}
    out = ROOT / "benchmarks" / "results" / f"latency{'_quick' if args.quick else ''}.json"
    if not args.skip_repeat:
        summary["repeat"] = repeat(backends, 5 if not args.quick else 2)
    elif out.exists():  # keep the last measured repeatability
        summary["repeat"] = json.loads(out.read_text()).get("repeat")
    rounds, calibrate = (1, 5) if args.quick else (3, 20)
    rounds = args.rounds or rounds
    tables = {(s, b): table_for(s, b, rounds, calibrate) for s in spaces for b in backends}
    earlier = json.loads(out.read_text()) if out.exists() else {}
    summary["earlier_commands"] = [*earlier.get("earlier_commands", []), earlier["command"]] if earlier else []
    summary["tables"] = {**earlier.get("tables", {}),  # a run of some spaces keeps the others' results
                         **{f"{s}/{b}": {"units": len(t.units), "fit": t.fit, **judge(check(s, b, networks, t))}
                            for (s, b), t in tables.items()}}
    for key, row in summary["tables"].items():
        if key.split("/")[0] not in spaces:
            continue
        print(f"{key}: median error {row['median_abs_error']:.3f}, p90 {row['p90_abs_error']:.3f}, Spearman "
              f"{row['spearman']:.3f} (FLOPs {row['flops_spearman']:.3f}); noise floor "
              f"{row['noise_median_abs_diff']:.3f}"
              f" / {row['noise_p90_abs_diff']:.3f}, Spearman {row['noise_spearman']:.3f}", flush=True)
    summary["per_mflop"], points = per_mflop(tables)
    if not points:
        summary["per_mflop"] = earlier.get("per_mflop", {})
    if points and not args.quick:
        plot(points, ROOT / "docs" / "latency_vs_flops.png")
    for backend, by_op in summary["per_mflop"].items():
        print(f"{backend}: " + ", ".join(f"{op} {r['median_ms_per_mflop']:.4f} ms/MFLOP" for op, r in by_op.items()))
        print(f"{backend}, blocks of 2 to 5 MFLOPs: " + ", ".join(
            f"{op} {r['band_median_ms']:.3f} ms at {r['band_median_mflops']:.2f} MFLOPs ({r['band_blocks']} blocks)"
            for op, r in by_op.items()))
    summary["seconds"] = round(time.perf_counter() - start, 1)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)} in {summary['seconds']} s")


if __name__ == "__main__":
    main()
