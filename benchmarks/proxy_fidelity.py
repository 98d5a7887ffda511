"""How faithful are candidate proxies? Rank correlation against one longer reference run.

Run: ``python benchmarks/proxy_fidelity.py [--data npz:../shared/data/cifar10/train.npz]``.
Trains every architecture once at the reference budget (cached in
``runs/proxy_fidelity/``) and at each candidate proxy budget, all scored on
the same stratified validation split, and prints Spearman and Kendall rank
correlations with the cost ratio (wall time and training FLOPs). The
README's default proxy settings come from this table.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
from pathlib import Path

import pandas as pd
import torch

from bsnas import as_record
from bsnas.training.proxy_check import compare, measure, parse_budget

ARCHS = [
    "cifar_mobilenetv3_small_w7d20", "cifar_mobilenetv3_small_w7d20_bsconvs_p1d6",
    "cifar_wrn16_1_bsconvs_p1d4", "cifar_resnet20_bsconvs_p1d8", "cifar_resnet20_bsconvu",
    "cifar_mobilenetv1_w1d4", "cifar_mobilenetv1_w1d4_bsconvu", "cifar_mobilenetv2_w1d4",
    "stem_dbn_reg_k3_s1_c8_relu:conv_dsc_k3_s2_c16_relu:conv_dsc_k3_s2_c32_relu:head",
    "stem_dbn_reg_k3_s1_c16_relu:conv_bsu_k3_s1_c32_relu:conv_bsu_k3_s2_c64_relu-conv_bsu_k3_s1_c64_relu:"
    "conv_bsu_k3_s2_c128_relu:head",
]
PROXIES = ["epochs=2,subset=1250", "epochs=1,subset=2500", "epochs=4,subset=2500,resolution=16",
           "epochs=2,subset=5000,resolution=16"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="npz:../shared/data/cifar10/train.npz")
    parser.add_argument("--reference", default="epochs=10,subset=5000")
    parser.add_argument("--proxies", nargs="*", default=PROXIES)
    parser.add_argument("--archs", nargs="*", default=ARCHS)
    parser.add_argument("--val-size", type=int, default=2000)
    parser.add_argument("--out", default="runs/proxy_fidelity")
    args = parser.parse_args()
    archs = [as_record(a).arch for a in args.archs]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(repr((args.data, args.reference, args.archs, args.val_size)).encode()).hexdigest()[:10]
    cache = out / f"reference-{key}.csv"
    if cache.exists():
        reference = pd.read_csv(cache)
    else:
        reference = measure(archs, args.data, parse_budget(args.reference), args.val_size, progress=True)
        reference.to_csv(cache, index=False)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; data {args.data}; {len(archs)} architectures; "
          f"reference {args.reference} ({reference.seconds.sum():.0f} s, best acc {reference.acc.max():.3f})")
    rows = []
    for text in args.proxies:
        check = compare(measure(archs, args.data, parse_budget(text), args.val_size, progress=True), reference)
        rows.append({"proxy": text, "spearman": round(check.spearman, 3), "kendall": round(check.kendall, 3),
                     "time ratio": round(check.time_ratio, 3), "FLOP ratio": round(check.flop_ratio, 3)})
        check.table.to_csv(out / f"proxy-{key}-{text.replace(',', '_').replace('=', '')}.csv", index=False)
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print("\n| proxy | Spearman | Kendall | time ratio | FLOP ratio |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| `{r['proxy']}` | {r['spearman']} | {r['kendall']} | {r['time ratio']} | {r['FLOP ratio']} |")
    table.to_csv(out / f"summary-{key}.csv", index=False)


if __name__ == "__main__":
    main()
