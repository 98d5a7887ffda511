"""Is the recommended CIFAR-10 proxy faithful on many networks, and on a validation subset?

Samples networks from the ``resnet`` and ``mobilenet`` spaces (uniformly per choice, seeded) under a FLOPs
budget, trains each at a reference budget and at the recommended proxy, all on one stratified validation
split of the CIFAR-10 training file, and reports Spearman and Kendall rank correlations with bootstrap 90%
intervals (resampling the networks). The proxy's models are scored twice, on the whole validation split and
on a stratified subset of it (``--val-subset``), to check that the cheaper score keeps the ranking.

Run: ``python benchmarks/proxy_faithfulness.py`` (about 45 minutes on 2 cores; ``--quick`` for a smoke check).
Results are cached per network in ``runs/proxy_faithfulness/``, so an interrupted run continues.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

import bsnas
from bsnas.data import load_data
from bsnas.space import load_space, random_archs
from bsnas.training import ProxyConfig, Trainer, evaluate

DATA = "npz:../shared/data/cifar10/train.npz"
PROXY = {"epochs": 4, "subset": 2400, "resolution": 16, "optimizer": "adamw"}
REFERENCE = {"epochs": 6, "subset": 3000, "resolution": None, "optimizer": "sgd"}


def train_and_score(arch, data, recipe: dict, subset_data) -> dict:
    config = ProxyConfig(epochs=recipe["epochs"], subset=recipe["subset"], optimizer=recipe["optimizer"])
    start = time.perf_counter()
    trainer = Trainer(arch, data, config, torch.device("cpu"))
    for _ in range(config.epochs):
        _, diverged = trainer.run_epoch()
        if diverged:
            return {"acc": 0.0, "acc_subset": 0.0, "seconds": time.perf_counter() - start, "diverged": diverged}
    acc = trainer.evaluate(data.val_x, data.val_y)[0]
    acc_subset = evaluate(trainer.model, subset_data, subset_data.val_x, subset_data.val_y)[0]
    return {"acc": acc, "acc_subset": acc_subset, "seconds": time.perf_counter() - start,
            "train_flops": 3 * bsnas.count(arch, data.input_size).flops * trainer.seen}


def bootstrap(x: np.ndarray, y: np.ndarray, stat, n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n):
        idx = rng.integers(0, len(x), len(x))
        if len(set(x[idx])) > 1 and len(set(y[idx])) > 1:
            values.append(stat(x[idx], y[idx]).statistic)
    return float(stat(x, y).statistic), float(np.percentile(values, 5)), float(np.percentile(values, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--per-space", type=int, default=10, help="networks drawn from each space")
    parser.add_argument("--max-flops", default="20M", help="budget the sampled networks satisfy at 32x32")
    parser.add_argument("--val-subset", type=int, default=2000)
    parser.add_argument("--out", default="runs/proxy_faithfulness")
    parser.add_argument("--quick", action="store_true", help="3 networks per space, a short reference")
    args = parser.parse_args()
    reference = dict(REFERENCE, epochs=2, subset=1000) if args.quick else REFERENCE
    per_space = 3 if args.quick else args.per_space
    budget = bsnas.study.parse_amount(args.max_flops)
    torch.manual_seed(0)
    archs = []
    for name in ("resnet", "mobilenet"):
        draws = random_archs(load_space(name), per_space * 400, seed=7)  # most mobilenet samples exceed the budget
        pool = [a for a in draws if bsnas.count(a).flops <= budget]
        archs += pool[:per_space]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = out / f"{'quick' if args.quick else 'full'}-results.jsonl"
    done = {json.loads(line)["arch"]: json.loads(line) for line in cache.read_text().splitlines()} \
        if cache.exists() else {}
    datas = {r: load_data(args.data, resolution=r, val_size=0.2, seed=0) for r in (reference["resolution"],
                                                                                   PROXY["resolution"])}
    subsets = {r: d.with_val_subset(args.val_subset, 0) for r, d in datas.items()}
    for i, arch in enumerate(archs):
        text = bsnas.encode_arch(arch)
        if text in done:
            continue
        row = {"arch": text, "flops": bsnas.count(arch).flops}
        for label, recipe in (("ref", reference), ("proxy", PROXY)):
            scores = train_and_score(arch, datas[recipe["resolution"]], recipe, subsets[recipe["resolution"]])
            row.update({f"{label}_{k}": v for k, v in scores.items()})
        done[text] = row
        with open(cache, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"[{i + 1}/{len(archs)}] ref {row['ref_acc']:.4f} proxy {row['proxy_acc']:.4f} "
              f"({row['ref_seconds']:.0f}s + {row['proxy_seconds']:.0f}s) {text[:80]}", flush=True)
    rows = [done[bsnas.encode_arch(a)] for a in archs]
    ref = np.array([r["ref_acc"] for r in rows])
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}; {len(rows)} "
          f"networks ({per_space} per space, <= {budget / 1e6:g} MFLOPs at 32x32); reference "
          f"{reference['epochs']} epochs x {reference['subset']} images at 32x32 (SGD), proxy {PROXY['epochs']} "
          f"epochs x {PROXY['subset']} images at 16x16 (AdamW); validation split 10,000 images")
    cost = sum(r["proxy_train_flops"] for r in rows) / sum(r["ref_train_flops"] for r in rows)
    print(f"proxy training FLOPs / reference: {cost:.3f}; wall time ratio: "
          f"{sum(r['proxy_seconds'] for r in rows) / sum(r['ref_seconds'] for r in rows):.3f}")
    print("\n| proxy scored on | Spearman (90% CI) | Kendall (90% CI) |\n|---|---|---|")
    for key, label in (("proxy_acc", "all 10,000 validation images"),
                       ("proxy_acc_subset", f"a stratified subset of {args.val_subset}")):
        proxy = np.array([r[key] for r in rows])
        s, s_lo, s_hi = bootstrap(proxy, ref, spearmanr)
        k, k_lo, k_hi = bootstrap(proxy, ref, kendalltau)
        print(f"| {label} | {s:.3f} ({s_lo:.2f} to {s_hi:.2f}) | {k:.3f} ({k_lo:.2f} to {k_hi:.2f}) |")
    print("\n| networks (scored on all validation images) | reference accuracy range | Spearman (90% CI) | "
          "Kendall (90% CI) |\n|---|---|---|---|")
    for i, name in enumerate(("resnet", "mobilenet")):
        part = slice(i * per_space, (i + 1) * per_space)
        proxy, reference_acc = np.array([r["proxy_acc"] for r in rows])[part], ref[part]
        s, s_lo, s_hi = bootstrap(proxy, reference_acc, spearmanr)
        k, k_lo, k_hi = bootstrap(proxy, reference_acc, kendalltau)
        print(f"| the {per_space} from the {name} space | {reference_acc.min():.3f} to {reference_acc.max():.3f} | "
              f"{s:.3f} ({s_lo:.2f} to {s_hi:.2f}) | {k:.3f} ({k_lo:.2f} to {k_hi:.2f}) |")


if __name__ == "__main__":
    main()
