"""What sampling one architecture costs with Optuna's TPE and with bsnas's snapshot TPE, on SQLite.

Three ways (``multivariate=True, group=True, constant_liar=True``, the same seed) sample the ``resnet``
space in their own SQLite study, side by side in one process, one trial each in turn, with the same
made-up objective values: Optuna's ``TPESampler`` with ``sample_arch`` (each parameter its own commit),
bsnas's ``SnapshotTPESampler`` with ``sample_arch``, and ``SnapshotTPESampler`` with ``sample_and_store``
(the sampler's joint choices stored in one transaction, what a search does). Reports milliseconds per
trial (from ``ask`` to the last parameter) over windows of trials, and whether all chose the same
architectures.

Run: ``python benchmarks/tpe_sampling.py [--trials 60]`` (under a minute on 2 cores); ``--quick``: 20 trials.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
import warnings

import numpy as np
import optuna

from bsnas.samplers import sample_and_store
from bsnas.samplers.tpe import SnapshotTPESampler
from bsnas.space.choices import sample_arch
from bsnas.space.schema import load_space
from bsnas.storage import open_storage

WAYS = {"optuna TPESampler, sample_arch": (optuna.samplers.TPESampler, sample_arch),
        "bsnas SnapshotTPESampler, sample_arch": (SnapshotTPESampler, sample_arch),
        "bsnas SnapshotTPESampler, sample_and_store (a search)": (SnapshotTPESampler, sample_and_store)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="20 trials: a smoke check")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.window = 20, 10
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    space = load_space("resnet")
    with tempfile.TemporaryDirectory() as tmp:
        studies = {name: optuna.create_study(
            storage=open_storage(f"sqlite:///{tmp}/{i}.db"), directions=["maximize", "minimize"],
            sampler=cls(multivariate=True, group=True, constant_liar=True, seed=0))
            for i, (name, (cls, _)) in enumerate(WAYS.items())}
        ms = {name: [] for name in studies}
        chosen = {name: [] for name in studies}
        for i in range(args.trials):
            values = [((i * 7) % 13) / 13, float((i * 5) % 11)]
            for name, study in studies.items():
                start = time.perf_counter()
                trial = study.ask()
                WAYS[name][1](trial, space)
                ms[name].append(1000 * (time.perf_counter() - start))
                chosen[name].append(trial.params)
                study.tell(trial, values)
    same = all(chosen[n] == chosen[next(iter(chosen))] for n in chosen)
    windows = [(lo, min(lo + args.window, args.trials)) for lo in range(0, args.trials, args.window)]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, optuna {optuna.__version__}; "
          f"resnet space, SQLite, {args.trials} trials\n")
    print("| sampler | " + " | ".join(f"ms per trial, trials {lo + 1}-{hi} (median)" for lo, hi in windows) + " |")
    print("|---|" + "---|" * len(windows))
    for name in studies:
        print(f"| {name} | " + " | ".join(f"{np.median(ms[name][lo:hi]):.1f}" for lo, hi in windows) + " |")
    print(f"\nsame architectures from all: {same}")


if __name__ == "__main__":
    main()
