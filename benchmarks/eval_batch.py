"""Which batch size scores a proxy's validation images fastest on the CPU?

Scores 2,000 CIFAR-10 validation images at 16x16 (the recommended proxy with ``--val-subset 2000``) with
freshly built networks of the ``resnet`` space under 20 MFLOPs, at each batch size in turn (interleaved,
best of ``--repeats`` per network and size), and reports the median over networks of the seconds per
scoring and the ratio to bsnas's CPU default.

Run: ``python benchmarks/eval_batch.py [--networks 6]`` (about a minute on 2 cores); ``--quick``: 2 networks,
best of 1.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import optuna
import torch

from bsnas.arch.cost import count
from bsnas.data.split import load_data
from bsnas.nn.model import build_model
from bsnas.space.choices import sample_arch
from bsnas.space.schema import load_space
from bsnas.training.engine import eval_batch_size, evaluate

DATA = "npz:../shared/data/cifar10/train.npz"
SIZES = (64, 128, 256, 512, 1000, 2000)


def networks(n: int, seed: int) -> list:
    space, study = load_space("resnet"), optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    archs = []
    while len(archs) < n:
        arch = sample_arch(study.ask(), space)
        if count(arch, (3, 32, 32), 10).flops <= 20_000_000:
            archs.append(arch)
    return archs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--networks", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2 networks, best of 1: a smoke check")
    args = parser.parse_args()
    if args.quick:
        args.networks, args.repeats = 2, 1
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    torch.set_num_threads(os.cpu_count() or 1)
    data = load_data(args.data, resolution=16).with_val_subset(2000)
    default = eval_batch_size(torch.device("cpu"))
    seconds = {b: [] for b in SIZES}
    for arch in networks(args.networks, seed=1):
        model = build_model(arch, data.num_classes).to(memory_format=torch.channels_last)
        evaluate(model, data, data.val_x, data.val_y, batch_size=default)  # warm-up
        best = {b: float("inf") for b in SIZES}
        for _ in range(args.repeats):
            for b in SIZES:
                start = time.perf_counter()
                evaluate(model, data, data.val_x, data.val_y, batch_size=b)
                best[b] = min(best[b], time.perf_counter() - start)
        for b in SIZES:
            seconds[b].append(best[b])
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}; "
          f"{len(data.val_y)} images at 16x16, {args.networks} networks, best of {args.repeats}\n")
    print(f"| batch size | seconds per scoring, median | relative to {default} (bsnas's CPU default) |")
    print("|---|---|---|")
    base = np.median(seconds[default])
    for b in SIZES:
        print(f"| {b} | {np.median(seconds[b]):.3f} | {np.median(seconds[b]) / base:.2f}x |")


if __name__ == "__main__":
    main()
