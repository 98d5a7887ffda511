"""Is the proxy's rank error biased by block style, against a longer reference of our own?

Networks that mix basic-block and inverted-residual styles: the paper's small CIFAR baselines (ResNet-20
plain and BSConv-U, MobileNetV1 and V2 at width 1/4, plain and BSConv) and random members of the ``resnet``
and ``mobilenet`` spaces under 20 MFLOPs at 32x32. The reference trains each for 10 epochs on 20,000
images at 32x32 (SGD, one-cycle) under 2 seeds; the proxy is the README's recommended CIFAR-10 proxy (16x16,
AdamW, 4 epochs on 2,400 images). Both are scored on the same stratified 10,000 validation images of
the CIFAR-10 training file.

Reported: the reference's own seed-pair Spearman (its noise); then for the proxy, FLOPs alone and the
zero-cost scores NASWOT and grad-norm (at 32x32): Spearman and Kendall against the reference mean, and the
mean signed rank error (score's rank minus the reference's, as a share of the networks) by block style.
Without bias both styles are near 0.

Run: ``python benchmarks/proxy_bias.py`` (6 to 8 hours on one core; each (network, recipe, seed) run is
cached in ``runs/proxy_bias/``, so it resumes where it stopped, and a partial run reports on the networks
done) or ``--quick`` (4 networks, tiny recipes: a smoke check, not a measurement). Writes
``benchmarks/results/proxy_bias[_quick].json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch
from proxy_vs_table import DATA, ROOT, train
from scipy.stats import kendalltau, rankdata, spearmanr

import bsnas
from bsnas.data import load_data
from bsnas.space import load_space, random_archs
from bsnas.training.zero_cost import zero_cost_scores

BASELINES = ["cifar_resnet20", "cifar_resnet20_bsconvu", "cifar_mobilenetv1_w1d4", "cifar_mobilenetv1_w1d4_bsconvu",
             "cifar_mobilenetv2_w1d4", "cifar_mobilenetv2_w1d4_bsconvs_p1d6"]
REFERENCE = dict(resolution=32, epochs=10, subset=20_000, optimizer="sgd")
PROXY = dict(resolution=16, epochs=4, subset=2400, optimizer="adamw")
QUICK_REFERENCE = dict(resolution=32, epochs=1, subset=1000, optimizer="sgd")
QUICK_PROXY = dict(resolution=16, epochs=1, subset=600, optimizer="adamw")


def networks(per_space: int, quick: bool) -> list[tuple[str, str]]:
    """(name, architecture string) pairs: the baselines, then random members of each space."""
    chosen = [(name, bsnas.baseline(name).arch_string) for name in (BASELINES[::3] if quick else BASELINES)]
    for space in ("resnet", "mobilenet"):
        pool = [a for a in random_archs(load_space(space), 400, seed=11) if bsnas.count(a).flops <= 20e6]
        chosen += [(f"{space}-{i}", bsnas.encode_arch(a)) for i, a in enumerate(pool[:per_space])]
    return chosen


def style(arch_string: str) -> str:
    blocks = [b for stage in bsnas.decode_arch(arch_string).stages for b in stage]
    inverted = sum(b.kind == "ir" for b in blocks)
    return "inverted residual" if inverted * 2 >= len(blocks) else "basic / plain"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 networks, tiny recipes (a smoke check)")
    parser.add_argument("--per-space", type=int, default=None, help="random networks per space (default 3)")
    parser.add_argument("--data", default=DATA)
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    reference, proxy = (QUICK_REFERENCE, QUICK_PROXY) if args.quick else (REFERENCE, PROXY)
    nets = networks(args.per_space or (1 if args.quick else 3), args.quick)
    cache = ROOT / "runs" / "proxy_bias"
    cache.mkdir(parents=True, exist_ok=True)
    datas = {r: load_data(args.data, resolution=r, val_size=10_000, seed=0) for r in (16, 32)}
    start = time.perf_counter()
    rows = []
    for i, (name, text) in enumerate(nets):
        row = {"name": name, "arch": text, "style": style(text), "mflops": bsnas.count(text).flops / 1e6}
        for label, recipe, seeds in (("proxy", proxy, (0,)), ("reference", reference, (0, 1))):
            tag = "r{resolution}-e{epochs}-n{subset}-{optimizer}".format(**recipe)
            runs = []
            for seed in seeds:
                path = cache / f"{tag}_{name}_seed{seed}.json"
                if not path.exists():
                    path.write_text(json.dumps(train(text, recipe, datas[recipe["resolution"]], seed)))
                runs.append(json.loads(path.read_text()))
            row[label] = [r["acc"] for r in runs]
            row[f"{label}_seconds"] = sum(r["seconds"] for r in runs)
        row.update({k: v for k, v in zero_cost_scores(text, datas[32], ["naswot", "grad_norm"]).items()
                    if k != "seconds"})
        rows.append(row)
        print(f"[{i + 1}/{len(nets)}] {name} ({row['style']}, {row['mflops']:.1f} MFLOPs): proxy {row['proxy']}, "
              f"reference {row['reference']}", flush=True)
    ref = np.array([r["reference"] for r in rows])
    truth = ref.mean(axis=1)
    styles = sorted({r["style"] for r in rows})

    def judged(score: np.ndarray) -> dict:
        error = (rankdata(score) - rankdata(truth)) / len(rows)
        return {"spearman": float(spearmanr(score, truth).statistic),
                "kendall": float(kendalltau(score, truth).statistic),
                "rank_error_by_style": {s: float(np.mean([e for e, r in zip(error, rows, strict=True)
                                                          if r["style"] == s])) for s in styles}}

    result = {"command": " ".join(["python benchmarks/proxy_bias.py", *sys.argv[1:]]),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
              "reference": reference, "proxy": proxy, "rows": rows,
              "reference_seed_pair_spearman": float(spearmanr(ref[:, 0], ref[:, 1]).statistic),
              "judged": {name: judged(np.array([r[key] if key != "proxy" else r[key][0] for r in rows]))
                         for name, key in (("proxy", "proxy"), ("FLOPs alone", "mflops"), ("naswot", "naswot"),
                                           ("grad_norm", "grad_norm"))},
              "cost_ratio": sum(r["proxy_seconds"] for r in rows) / (sum(r["reference_seconds"] for r in rows) / 2),
              "seconds_this_run": round(time.perf_counter() - start, 1)}
    out = ROOT / "benchmarks" / "results" / f"proxy_bias{'_quick' if args.quick else ''}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\n{len(rows)} networks; the reference's seed-pair Spearman {result['reference_seed_pair_spearman']:.3f}\n")
    print("| ranking by | Spearman | Kendall | " + " | ".join(
        f"rank error, {s} ({sum(r['style'] == s for r in rows)} networks)" for s in styles) + " |")
    print("|---|---|---|" + "---|" * len(styles))
    for name, j in result["judged"].items():
        print(f"| {name} | {j['spearman']:.3f} | {j['kendall']:.3f} | " + " | ".join(
            f"{v:+.3f}" for v in j["rank_error_by_style"].values()) + " |")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
