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
cached in ``benchmarks/cache/proxy_bias/``, which is committed, so it resumes where it stopped, in this
session or a later one; every network's proxy and first reference seed come before any second seed, and a
partial run reports on what is done) or ``--quick`` (4 networks, tiny recipes: a smoke check, not a measurement). Writes
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
from proxy_noise import noise
from proxy_vs_table import DATA, ROOT, cache_dir, train
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


def rank_error_by_style(score: np.ndarray, truth: np.ndarray, styles: list[str]) -> dict[str, float]:
    """Mean signed rank error (``score``'s rank minus ``truth``'s, as a share of the networks; + is ranked
    above its due) over the networks of each style, ``styles`` giving each network's."""
    error = (rankdata(score) - rankdata(truth)) / len(truth)
    return {s: float(np.mean([e for e, t in zip(error, styles, strict=True) if t == s])) for s in sorted(set(styles))}


def claim(done) -> bool:
    """Mark ``done``'s run as taken by this process (a ``.running`` file holding its pid); False when a live
    process holds it. A claim left by a process that died is taken over."""
    running = done.with_suffix(".running")
    try:
        with open(running, "x") as f:
            f.write(str(os.getpid()))
        return True
    except FileExistsError:
        try:
            os.kill(int(running.read_text() or 0), 0)
            return False  # its owner is alive
        except (ProcessLookupError, ValueError):
            running.write_text(str(os.getpid()))
            return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 networks, tiny recipes (a smoke check)")
    parser.add_argument("--per-space", type=int, default=None, help="random networks per space (default 3)")
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--threads", type=int, default=max(1, min(2, os.cpu_count() or 1)),
                        help="torch threads (1 when the job is pinned to one core)")
    parser.add_argument("--report-only", action="store_true", help="report on the cached runs, train nothing")
    parser.add_argument("--reverse", action="store_true",
                        help="take the networks in reverse order: a second process on the other core shares the cache")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    reference, proxy = (QUICK_REFERENCE, QUICK_PROXY) if args.quick else (REFERENCE, PROXY)
    nets = networks(args.per_space or (1 if args.quick else 3), args.quick)
    cache = cache_dir("proxy_bias", args.quick)
    datas = {r: load_data(args.data, resolution=r, val_size=10_000, seed=0) for r in (16, 32)}
    start = time.perf_counter()

    def path(name: str, recipe: dict, seed: int):
        return cache / ("r{resolution}-e{epochs}-n{subset}-{optimizer}".format(**recipe) + f"_{name}_seed{seed}.json")

    # every network's proxy and first reference seed before any second seed, so a partial run covers them all
    jobs = ((proxy, 0), (reference, 0), (reference, 1))
    for recipe, seed in (() if args.report_only else jobs):
        for i, (name, text) in (reversed if args.reverse else iter)(list(enumerate(nets))):
            done = path(name, recipe, seed)
            if done.exists() or not claim(done):
                continue
            try:
                run = train(text, recipe, datas[recipe["resolution"]], seed)
                done.write_text(json.dumps(run))
            finally:
                done.with_suffix(".running").unlink(missing_ok=True)
            print(f"[{i + 1}/{len(nets)}] {name} r{recipe['resolution']} seed {seed}: acc {run['acc']:.4f} "
                  f"in {run['seconds']:.0f} s", flush=True)
    rows = []
    for name, text in nets:
        row = {"name": name, "arch": text, "style": style(text), "mflops": bsnas.count(text).flops / 1e6}
        for label, recipe, seeds in (("proxy", proxy, (0,)), ("reference", reference, (0, 1))):
            runs = [json.loads(path(name, recipe, s).read_text()) for s in seeds if path(name, recipe, s).exists()]
            row[label] = [r["acc"] for r in runs]
            row[f"{label}_seconds"] = sum(r["seconds"] for r in runs)
            row[f"{label}_train_flops"] = float(np.mean([r.get("train_flops", 0) for r in runs])) if runs else 0.0
        if not row["proxy"] or not row["reference"]:
            continue  # not yet measured
        row.update({k: v for k, v in zero_cost_scores(text, datas[32], ["naswot", "grad_norm"]).items()
                    if k != "seconds"})
        rows.append(row)
        print(f"{name} ({row['style']}, {row['mflops']:.1f} MFLOPs): proxy {row['proxy']}, "
              f"reference {row['reference']}", flush=True)
    if len(rows) < 3:
        raise SystemExit(f"{len(rows)} networks have a reference run; nothing to report yet")
    truth = np.array([np.mean(r["reference"]) for r in rows])  # the mean of the seeds done so far
    pairs = np.array([r["reference"] for r in rows if len(r["reference"]) == 2]).reshape(-1, 2)
    styles = sorted({r["style"] for r in rows})

    def judged(score: np.ndarray) -> dict:
        return {"spearman": float(spearmanr(score, truth).statistic),
                "kendall": float(kendalltau(score, truth).statistic),
                "rank_error_by_style": rank_error_by_style(score, truth, [r["style"] for r in rows])}

    result = {"command": " ".join(["python benchmarks/proxy_bias.py", *sys.argv[1:]]),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
              "reference": reference, "proxy": proxy, "rows": rows,
              "networks_with_two_seeds": len(pairs),
              "reference_seed_pair_spearman": (float(spearmanr(pairs[:, 0], pairs[:, 1]).statistic)
                                               if len(pairs) > 2 else None),
              # the reference's own noise, as proxy_noise.py reports it (points of accuracy)
              "reference_noise": ({**{k: v for k, v in noise(pairs, pairs.mean(axis=1)).items()
                                      if k in ("seed_std", "spread", "icc1")},
                                   "largest_seed_gap": float(np.abs(pairs[:, 0] - pairs[:, 1]).max())}
                                  if len(pairs) > 2 else None),
              "reference_mean_seconds_per_run": float(np.mean([r["reference_seconds"] / len(r["reference"])
                                                               for r in rows])),
              "judged": {name: judged(np.array([r[key] if key != "proxy" else r[key][0] for r in rows]))
                         for name, key in (("proxy", "proxy"), ("FLOPs alone", "mflops"), ("naswot", "naswot"),
                                           ("grad_norm", "grad_norm"))},
              # training FLOPs (exact), not seconds: the two cores were shared while it ran
              "cost_ratio": sum(r["proxy_train_flops"] for r in rows) / sum(r["reference_train_flops"] for r in rows),
              "seconds_this_run": round(time.perf_counter() - start, 1)}
    out = ROOT / "benchmarks" / "results" / f"proxy_bias{'_quick' if args.quick else ''}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    pair = result["reference_seed_pair_spearman"]
    print(f"\n{len(rows)} networks, {len(pairs)} with both reference seeds; the reference's seed-pair Spearman "
          f"{'n/a' if pair is None else f'{pair:.3f}'}")
    if result["reference_noise"]:
        r = result["reference_noise"]
        print(f"the reference's seed std {100 * r['seed_std']:.2f} pt (largest gap {100 * r['largest_seed_gap']:.2f} "
              f"pt), spread between networks {100 * r['spread']:.2f} pt, ICC(1) {r['icc1']:.3f}; "
              f"{result['reference_mean_seconds_per_run'] / 60:.1f} min per run")
    print()
    print("| ranking by | Spearman | Kendall | " + " | ".join(
        f"rank error, {s} ({sum(r['style'] == s for r in rows)} networks)" for s in styles) + " |")
    print("|---|---|---|" + "---|" * len(styles))
    for name, j in result["judged"].items():
        print(f"| {name} | {j['spearman']:.3f} | {j['kendall']:.3f} | " + " | ".join(
            f"{v:+.3f}" for v in j["rank_error_by_style"].values()) + " |")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
