"""Proxy training throughput at 224x224 and at 112x112 for small ImageNet-size networks (CPU or CUDA).

Upsamples a few CIFAR-10 images to 224 (the images' content does not change the speed), then trains each
network for one epoch of ``--images`` images with bsnas's proxy loop at both resolutions, best of
``--repeat``, and prints images per second. With ``--amp`` it also measures mixed precision.

Run: ``python benchmarks/bench_train_224.py [--device auto] [--amp bf16]`` (about 5 minutes on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import numpy as np
import torch

import bsnas
from bsnas.data import load_data
from bsnas.training import ProxyConfig, resolve_device, train_proxy

MODELS = ["mobilenetv3_small_w7d20", "mobilenetv2_w1d4_bsconvs_p1d6"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="npz:../shared/data/cifar10/train.npz")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", choices=("bf16", "fp16"), default=None, help="also measure this precision")
    parser.add_argument("--models", nargs="*", default=MODELS)
    args = parser.parse_args()
    device = resolve_device(args.device)
    source = np.load(args.data.removeprefix("npz:"))
    idx = np.random.default_rng(0).permutation(len(source["y"]))[:args.images + 64]
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.npz"
        np.savez(small, x=source["x"][idx], y=source["y"][idx])
        datas = {r: load_data(f"npz:{small}", resolution=r, val_size=64, device=device) for r in (224, 112)}
    precisions = [None] + ([args.amp] if args.amp else [])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{os.cpu_count()} CPU cores"
    print(f"machine: {platform.machine()}, {name}, torch {torch.__version__}; {args.images} images per epoch, "
          f"batch {args.batch_size}, best of {args.repeat}\n")
    header = [f"{r}px{' ' + (amp or 'fp32')} img/s" for r in datas for amp in precisions]
    print("| model | MFLOPs at 224 | " + " | ".join(header) + " |\n|" + "---|" * (len(header) + 2))
    for model in args.models:
        cells = []
        for data in datas.values():
            for amp in precisions:
                config = ProxyConfig(epochs=1, subset=args.images, batch_size=args.batch_size, device=str(device),
                                     optimizer="adamw", amp=amp)
                best = max(train_proxy(model, data, config).images_per_sec for _ in range(args.repeat))
                cells.append(f"{best:.1f}")
        flops = bsnas.count(model, (3, 224, 224), 10).flops / 1e6
        print(f"| {model} | {flops:.1f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
