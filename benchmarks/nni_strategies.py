"""NNI's regularized evolution against Optuna's TPE and NSGA-II on one space and proxy, at equal trial counts.

Each sampler trains the same number of architectures of the ``tiny`` space on the embedded digits with the
quickstart's proxy (10 epochs), for several seeds, and the table gives the hypervolume of each front
(``bsnas.hypervolume``: normalised error and FLOPs, reference point (1, 1)).

Run: ``python benchmarks/nni_strategies.py`` (about 10 minutes on 2 cores; ``--quick`` for one seed of 8 trials).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np
import optuna
import torch

import bsnas
from bsnas.study import SearchConfig, run_search

SAMPLERS = ["tpe", "nsga2", "random", "nni-evolution", "nni-random", "nni-tpe"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--samplers", nargs="*", default=SAMPLERS)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    trials, seeds = (8, 1) if args.quick else (args.trials, args.seeds)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    rows = {}
    with tempfile.TemporaryDirectory() as root:
        for sampler in args.samplers:
            for seed in range(seeds):
                start = time.perf_counter()
                cfg = SearchConfig.from_options(space="tiny", data="digits", trials=trials, epochs=10, seed=seed,
                                                sampler=sampler, study=f"{sampler}-{seed}", runs_dir=root)
                hv = bsnas.hypervolume(run_search(cfg))
                rows.setdefault(sampler, []).append(hv)
                print(f"{sampler} seed {seed}: hypervolume {hv:.4f} ({time.perf_counter() - start:.0f}s)", flush=True)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}; tiny space on "
          f"digits, {trials} trained architectures per search, 10-epoch proxy, {seeds} seeds\n")
    print("| sampler | hypervolume, median (range) |\n|---|---|")
    for sampler, values in rows.items():
        print(f"| `{sampler}` | {np.median(values):.4f} ({min(values):.4f} to {max(values):.4f}) |")


if __name__ == "__main__":
    main()
