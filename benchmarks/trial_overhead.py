"""How much of a search's wall time is not training? At the recommended CIFAR-10 proxy.

Runs the same search twice, side by side in one process: validation on the whole split (the old default)
and on a stratified subset (``--val-subset 2000``, the recommendation), each for N trained architectures
of the ``resnet`` space under 20 MFLOPs, and reports the sum of training time (the optimiser steps) against
the search's wall time from its first trial to its last, and the median per trial.

Run: ``python benchmarks/trial_overhead.py [--trials 20]`` on a quiet machine (about 8 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time

import numpy as np
import optuna
import torch

from bsnas.study import SearchConfig, run_search

DATA = "npz:../shared/data/cifar10/train.npz"
PROXY = {"epochs": 4, "subset": 2400, "resolution": 16, "optimizer": "adamw"}


def measure(data: str, trials: int, val_subset: int | None, root: str) -> dict:
    marks = []
    cfg = SearchConfig.from_options(space="resnet", data=data, trials=trials, max_flops=20_000_000, seed=0,
                                    study=f"overhead-{val_subset}", runs_dir=root, val_subset=val_subset, **PROXY)
    run_search(cfg, on_trial=lambda study, t: marks.append((time.perf_counter(), t)))
    trained = [t for _, t in marks if t.user_attrs.get("status") == "trained"]
    wall = marks[-1][0] - marks[0][0]  # from the end of the first trial to the end of the last
    train = sum(t.user_attrs["train_time"] for t in trained[1:])
    per_trial = [1 - t.user_attrs["train_time"] / (t.datetime_complete - t.datetime_start).total_seconds()
                 for t in trained]
    return {"val images": "all" if val_subset is None else val_subset, "trials": len(marks),
            "trained": len(trained), "wall s": round(wall, 1), "training s": round(train, 1),
            "outside training": f"{1 - train / wall:.1%}", "median per trial": f"{np.median(per_trial):.1%}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    root = tempfile.mkdtemp(prefix="bsnas-overhead-")
    try:
        rows = [measure(args.data, args.trials, v, root) for v in (None, 2000)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}; proxy {PROXY}\n")
    print("| validation images | trials (trained) | wall s | training s | outside training | median per trial |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['val images']} | {r['trials']} ({r['trained']}) | {r['wall s']} | {r['training s']} | "
              f"{r['outside training']} | {r['median per trial']} |")


if __name__ == "__main__":
    main()
