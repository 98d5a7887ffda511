"""How much of a search's wall time is not training? At the recommended CIFAR-10 proxy.

Runs the same search twice, side by side in one process: validation on the whole split (the old default)
and on a stratified subset (``--val-subset 2000``, the recommendation), each for N trained architectures
of the ``resnet`` space under 20 MFLOPs, and reports the sum of training time (the optimiser steps) against
the search's wall time from the end of its first trained trial to the end of its last trial, and the
median per trained trial of the share outside training, and of the part of it spent scoring the
validation images (the trial's ``eval_time``). The time before that window (loading the data, creating
the study, the first trained trial with its one-off costs) is reported apart, as start-up.

Run: ``python benchmarks/trial_overhead.py [--trials 20]`` on a quiet machine (about 6 minutes on 2 cores);
``--quick`` runs 6 trials (about a minute).
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
    start = time.perf_counter()
    run_search(cfg, on_trial=lambda study, t: marks.append((time.perf_counter(), t)))
    trained = [i for i, (_, t) in enumerate(marks) if t.user_attrs.get("status") == "trained"]
    # The window runs from the end of the first trained trial (which pays once-per-process costs, such as
    # torch's lazy imports at the first optimiser) to the end of the last trial; every trial in it counts.
    first = trained[0]
    wall = marks[-1][0] - marks[first][0]
    train = sum(marks[i][1].user_attrs["train_time"] for i in trained[1:])
    steady = [marks[i][1] for i in trained[1:]]
    walls = [(t.datetime_complete - t.datetime_start).total_seconds() for t in steady]
    per_trial = [1 - t.user_attrs["train_time"] / w for t, w in zip(steady, walls, strict=True)]
    scoring = [t.user_attrs["eval_time"] / w for t, w in zip(steady, walls, strict=True)]
    return {"val images": "all" if val_subset is None else val_subset, "trials": len(marks) - first - 1,
            "trained": len(trained) - 1, "start-up s": round(marks[first][0] - start, 1), "wall s": round(wall, 1),
            "training s": round(train, 1), "outside training": f"{1 - train / wall:.1%}",
            "median per trial": f"{np.median(per_trial):.1%}", "scoring": f"{np.median(scoring):.1%}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="6 trials, a smoke check")
    args = parser.parse_args()
    if args.quick:
        args.trials = 6
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    root = tempfile.mkdtemp(prefix="bsnas-overhead-")
    try:
        rows = [measure(args.data, args.trials, v, root) for v in (None, 2000)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}; proxy {PROXY}\n")
    print("| validation images | start-up s | trials in the window (trained) | wall s | training s | "
          "outside training | median per trained trial | of which scoring |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['val images']} | {r['start-up s']} | {r['trials']} ({r['trained']}) | {r['wall s']} | "
              f"{r['training s']} | {r['outside training']} | {r['median per trial']} | {r['scoring']} |")


if __name__ == "__main__":
    main()
