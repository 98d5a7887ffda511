"""Training throughput: bsnas's proxy loop against a plain hand-written PyTorch loop.

Run: ``python benchmarks/bench_train.py [--data npz:../shared/data/cifar10/train.npz] [--images 3200]``.
For each model, in one process and interleaved, it measures training
images/s of

* ``plain``: DataLoader over a TensorDataset of normalised float images,
  NCHW, shuffle, SGD (what a user would write by hand), no augmentation;
* ``bsnas``: :func:`bsnas.train_proxy` with its defaults (uint8 tensors
  in memory, batch crop+flip augmentation, channels_last), and the same
  loop in NCHW and at batch 128 for comparison.

All use the same model, batch size and thread count. Each figure is the
best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import bsnas
from bsnas.data import load_data
from bsnas.training import ProxyConfig, train_proxy

MODELS = ["cifar_resnet20_bsconvu", "cifar_mobilenetv2_w1d4_bsconvs_p1d6", "cifar_mobilenetv3_small_w7d20",
          "cifar_wrn16_1_bsconvs_p1d4"]


def plain_loop(arch, data, batch: int, images: int) -> float:
    torch.manual_seed(0)
    model = bsnas.build_model(arch, data.num_classes, data.input_size[0])
    x = data.normalize(data.train_x[:images])
    loader = DataLoader(TensorDataset(x, data.train_y[:images]), batch_size=batch, shuffle=True, drop_last=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    model.train()
    seen, start = 0, time.perf_counter()
    for xb, yb in loader:
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += len(yb)
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="npz:../shared/data/cifar10/train.npz")
    parser.add_argument("--images", type=int, default=3200, help="training images per measurement (one epoch)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--models", nargs="*", default=MODELS)
    args = parser.parse_args()
    data = load_data(args.data, val_size=500)
    base = ProxyConfig(epochs=1, subset=args.images, batch_size=args.batch_size, device="cpu", lr=0.05)
    variants = {
        "bsnas": base,
        "bsnas NCHW": dataclasses.replace(base, channels_last=False),
        "bsnas b128 NCHW": dataclasses.replace(base, channels_last=False, batch_size=128),
    }
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; data {args.data}, {args.images} images, batch {args.batch_size}")
    header = ["model", "plain img/s", *(f"{k} img/s" for k in variants), "bsnas / plain"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for name in args.models:
        arch = bsnas.baseline(name).arch
        best = {k: 0.0 for k in ["plain", *variants]}
        for _ in range(args.repeat):
            best["plain"] = max(best["plain"], plain_loop(arch, data, args.batch_size, args.images))
            for key, config in variants.items():
                best[key] = max(best[key], train_proxy(arch, data, config).images_per_sec)
        cells = [f"{best[k]:.0f}" for k in best]
        print(f"| {name} | " + " | ".join(cells) + f" | {best['bsnas'] / best['plain']:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
