"""Time per architecture: analytic ``bsnas.count`` vs fvcore vs thop, over the CIFAR baselines at 32x32.

Run: ``python benchmarks/bench_count.py [--filter TEXT] [--repeat N]`` (``--filter ""`` adds the
ImageNet-size families, also counted at 32x32 so the three methods stay comparable).
All three run side by side in one process on the same models, so the
ratios hold even on a noisy shared machine. fvcore and thop times exclude
building the model (the analytic count never builds one).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

import bsnas
from bsnas.nn.profiling import fvcore_flops, thop_flops


def best_time(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--filter", default="cifar_", help="baselines whose name contains this (default cifar_)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N for the analytic count")
    args = parser.parse_args()
    names = [n for n in bsnas.list_baselines() if args.filter in n]
    rows = []
    for name in names:
        record = bsnas.baseline(name)
        t_count, cost = best_time(lambda record=record: bsnas.count(record.arch), args.repeat)
        model = bsnas.build_model(record)
        t_fv, fv = best_time(lambda model=model: fvcore_flops(model), 1)
        t_thop, _ = best_time(lambda model=model: thop_flops(model), 1)
        params = sum(p.numel() for p in model.parameters())
        rows.append((name, t_count, t_fv, t_thop, cost.flops == fv and cost.params == params))
        print(f"{name:45s} count {t_count * 1e3:8.3f} ms  fvcore {t_fv * 1e3:8.1f} ms  thop {t_thop * 1e3:8.1f} ms"
              f"  agree={rows[-1][4]}", flush=True)
    median = lambda i: statistics.median(r[i] for r in rows)  # noqa: E731
    speedups = [r[2] / r[1] for r in rows]
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(rows)} architectures")
    print("| method | median ms / arch | median speed-up vs fvcore |")
    print("|---|---|---|")
    print(f"| analytic `bsnas.count` | {median(1) * 1e3:.3f} | {statistics.median(speedups):.0f}× |")
    print(f"| fvcore `FlopCountAnalysis` | {median(2) * 1e3:.1f} | 1× |")
    print(f"| thop `profile` | {median(3) * 1e3:.1f} | {statistics.median(r[2] / r[3] for r in rows):.2f}× |")
    print(f"min speed-up {min(speedups):.0f}×; analytic == fvcore and sum(numel): "
          f"{sum(r[4] for r in rows)}/{len(rows)} ({100 * sum(r[4] for r in rows) / len(rows):.0f}%)")


if __name__ == "__main__":
    main()
