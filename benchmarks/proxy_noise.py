"""The proxy's noise floor: how much of its ranking at equal cost is seed noise?

Networks: ``--networks`` NAS-Bench-Macro networks drawn at random (seed 0) from a narrow FLOPs band
(within ``--band`` of the median network's FLOPs), so that what separates them is not cost. Each is
trained by the README's recommended CIFAR-10 proxy under 3 seeds (the seed sets the initialisation, the
training subset and the batch order). The reference is the table's own three 50-epoch runs of the same
networks: full training with its seed noise, the ceiling any proxy is judged against.

Reported for the proxy and for the reference:

* the seed standard deviation (mean over networks of the standard deviation over seeds);
* the spread between networks (standard deviation of the networks' mean scores);
* the intra-class correlation ICC(1): the share of a single score's variance that is the network's;
* the Spearman between the rankings of each pair of seeds;
* the Spearman against the reference's mean, from one seed and from the mean of two.

The same figures are given for the proxy's learning curve extrapolated to the table's images seen
(Domhan et al. 2015's ``a - b t^-c`` fitted to the accuracy after each epoch).

Then what ``--proxy-seeds 2`` buys: over 20,000 draws, a search of a fixed budget of proxy runs picks the
network with the best score, either from 2m networks with one seed each or from m networks with two
seeds averaged. Reported: the mean reference accuracy of the pick (the figure to compare), and beside it
the mean of the best network in the draw (what a perfect score would have picked).

Run: ``python benchmarks/proxy_noise.py`` (12 networks x 3 seeds; about 45 minutes on one core) or
``--quick`` (4 networks x 3 seeds of a tiny proxy; a smoke check, not a measurement). Each (network,
seed) run is cached in ``benchmarks/cache/proxy_noise/`` (committed; ``runs/`` for ``--quick``); writes
``benchmarks/results/proxy_noise[_quick].json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time

import numpy as np
import torch
from proxy_vs_table import DATA, ROOT, cache_dir
from scipy.stats import spearmanr

from bsnas import count
from bsnas.data import load_data
from bsnas.tables import nas_bench_macro as nbm
from bsnas.training import ProxyConfig, Trainer

#: The README's recommended CIFAR-10 proxy, and a tiny one for --quick.
PROXY = dict(resolution=16, epochs=4, subset=2400, optimizer="adamw")
QUICK = dict(resolution=16, epochs=2, subset=600, optimizer="adamw")
CURVE_IMAGES = 2000  # a stratified subset of the validation split scores the learning curve


def band_networks(n: int, band: float) -> list[str]:
    keys = nbm.networks()
    flops = np.array([count(nbm.arch(k)).flops for k in keys], dtype=float)
    middle = float(np.median(flops))
    inside = [k for k, f in zip(keys, flops, strict=True) if abs(f / middle - 1) <= band]
    return sorted(np.random.default_rng(0).choice(inside, size=n, replace=False).tolist())


def train(key: str, recipe: dict, seed: int, data, curve_data) -> dict:
    config = ProxyConfig(epochs=recipe["epochs"], subset=recipe["subset"], optimizer=recipe["optimizer"],
                         seed=seed, device="cpu")
    start = time.perf_counter()
    trainer = Trainer(nbm.arch(key), data, config, torch.device("cpu"))
    curve = []  # accuracy after each epoch on 2,000 of the validation images, for the extrapolation
    for _ in range(config.epochs):
        trainer.run_epoch()
        curve.append(trainer.evaluate(curve_data.val_x, curve_data.val_y)[0])
    acc = trainer.evaluate(data.val_x, data.val_y)[0]
    return {"acc": acc, "curve": curve, "seconds": round(time.perf_counter() - start, 2)}


def pow3(t: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a - b * np.power(t, -c)


def extrapolate(curve: list[float], horizon: float) -> float:
    """Domhan et al. 2015's simplest family, ``a - b t^-c``, fitted to the per-epoch accuracies and read at
    ``horizon`` epochs; the last accuracy where the fit fails or leaves [0, 1]."""
    from scipy.optimize import curve_fit

    t = np.arange(1, len(curve) + 1, dtype=float)
    try:
        (a, b, c), _ = curve_fit(pow3, t, np.asarray(curve), p0=(curve[-1] + 0.1, 0.2, 0.5),
                                 bounds=([0, 0, 0], [1, 10, 5]), maxfev=5000)
    except (RuntimeError, ValueError):
        return curve[-1]
    value = float(pow3(np.array([horizon]), a, b, c)[0])
    return value if 0 <= value <= 1 else curve[-1]


def icc1(scores: np.ndarray) -> float:
    """One-way random-effects ICC(1) of a (networks, seeds) array."""
    n, k = scores.shape
    means = scores.mean(axis=1)
    between = k * np.sum((means - means.mean()) ** 2) / (n - 1)
    within = np.sum((scores - means[:, None]) ** 2) / (n * (k - 1))
    return float((between - within) / (between + (k - 1) * within))


def noise(scores: np.ndarray, truth: np.ndarray) -> dict:
    """The noise figures of a (networks, seeds) array against the reference means ``truth``."""
    k = scores.shape[1]
    pairs = list(itertools.combinations(range(k), 2))
    return {"seed_std": float(scores.std(axis=1, ddof=1).mean()), "spread": float(scores.mean(axis=1).std(ddof=1)),
            "icc1": icc1(scores),
            "seed_pair_spearman": [float(spearmanr(scores[:, a], scores[:, b]).statistic) for a, b in pairs],
            "one_seed_vs_reference": float(np.mean([spearmanr(scores[:, s], truth).statistic for s in range(k)])),
            "two_seeds_vs_reference": float(np.mean([spearmanr(scores[:, [a, b]].mean(1), truth).statistic
                                                     for a, b in pairs]))}


def budget_split(scores: np.ndarray, truth: np.ndarray, runs: int, draws: int = 20_000) -> dict:
    """A search of ``runs`` proxy runs: one seed on ``runs`` networks, or two seeds on ``runs // 2``."""
    rng = np.random.default_rng(1)
    n, k = scores.shape
    out = {}
    for name, networks, seeds in (("one seed", runs, 1), ("two seeds", runs // 2, 2)):
        picked, best = [], []
        for _ in range(draws):
            nets = rng.choice(n, size=networks, replace=False)
            chosen = np.stack([rng.choice(k, size=seeds, replace=False) for _ in nets])
            score = scores[nets[:, None], chosen].mean(axis=1)
            pick = nets[int(np.argmax(score))]
            picked.append(truth[pick])
            best.append(truth[nets].max())
        out[name] = {"networks": networks, "mean_reference_of_pick": float(np.mean(picked)),
                     "mean_best_in_draw": float(np.mean(best))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 networks, a tiny proxy (a smoke check)")
    parser.add_argument("--networks", type=int, default=None, help="networks (default 12; 4 with --quick)")
    parser.add_argument("--band", type=float, default=0.05, help="FLOPs within this fraction of the median")
    parser.add_argument("--reverse", action="store_true",
                        help="train the networks in reverse order: a second process on the other core shares the cache")
    parser.add_argument("--data", default=DATA)
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    recipe, seeds = (QUICK if args.quick else PROXY), range(3)
    keys = band_networks(args.networks or (4 if args.quick else 12), args.band)
    name = "r{resolution}-e{epochs}-n{subset}-{optimizer}".format(**recipe)
    cache = cache_dir("proxy_noise", args.quick)
    data = load_data(args.data, resolution=recipe["resolution"], val_size=10_000, seed=0)
    curve_data = data.with_val_subset(CURVE_IMAGES, 0)
    start = time.perf_counter()
    rows = {}
    for i, key in enumerate(keys[::-1] if args.reverse else keys):
        for seed in seeds:
            path = cache / f"{name}_{key}_seed{seed}.json"
            if not path.exists():
                path.write_text(json.dumps(train(key, recipe, seed, data, curve_data)))
            rows.setdefault(key, []).append(json.loads(path.read_text()))
        print(f"[{i + 1}/{len(keys)}] {key}: proxy {[r['acc'] for r in rows[key]]}, "
              f"table {[round(a, 4) for a in nbm.entry(key).accuracies]}", flush=True)
    proxy = np.array([[r["acc"] for r in rows[k]] for k in keys])
    horizon = 50 * 50_000 / recipe["subset"]  # the table's images seen, in proxy epochs
    extrapolated = np.array([[extrapolate(r["curve"], horizon) for r in rows[k]] for k in keys])
    table = np.array([nbm.entry(k).accuracies for k in keys])
    truth = table.mean(axis=1)
    flops = [count(nbm.arch(k)).flops for k in keys]
    result = {
        "command": " ".join(["python benchmarks/proxy_noise.py", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
        "proxy": name, "networks": keys, "mflops": [min(flops) / 1e6, max(flops) / 1e6],
        "proxy_noise": noise(proxy, truth), "reference_noise": noise(table, truth),
        "extrapolated_noise": noise(extrapolated, truth),
        **{f"budget_of_{runs}_runs": budget_split(proxy, truth, runs) for runs in (4, 8) if runs <= len(keys)},
        "proxy_seconds_per_run": float(np.mean([r["seconds"] for k in keys for r in rows[k]])),
        "seconds_this_run": round(time.perf_counter() - start, 1)}
    out = ROOT / "benchmarks" / "results" / f"proxy_noise{'_quick' if args.quick else ''}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\n{len(keys)} NAS-Bench-Macro networks of {result['mflops'][0]:.1f} to {result['mflops'][1]:.1f} MFLOPs\n")
    print("| scores | seed std | spread between networks | ICC(1) | seed-pair Spearman | one seed vs reference | "
          "two seeds vs reference |")
    print("|---|---|---|---|---|---|---|")
    for label, key in ((f"proxy {name}, 3 seeds", "proxy_noise"),
                       ("its learning curve extrapolated (a - b t^-c)", "extrapolated_noise"),
                       ("reference: the table's 3 runs", "reference_noise")):
        r = result[key]
        pairs = r["seed_pair_spearman"]
        print(f"| {label} | {100 * r['seed_std']:.2f} pt | {100 * r['spread']:.2f} pt | {r['icc1']:.2f} | "
              f"{min(pairs):.2f} to {max(pairs):.2f} | {r['one_seed_vs_reference']:.2f} | "
              f"{r['two_seeds_vs_reference']:.2f} |")
    for runs in (4, 8):
        if f"budget_of_{runs}_runs" not in result:
            continue
        b = result[f"budget_of_{runs}_runs"]
        print(f"\n{runs} proxy runs: " + "; ".join(
            f"{k} on {v['networks']} networks: pick's reference {100 * v['mean_reference_of_pick']:.2f}%, "
            f"best of its draw {100 * v['mean_best_in_draw']:.2f}%" for k, v in b.items()))
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
