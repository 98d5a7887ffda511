"""Which short proxy ranks NAS-Bench-Macro's networks as 50 epochs of full training do?

Networks are drawn evenly across the FLOPs range of NAS-Bench-Macro's 3,969 distinct networks (sorted by
FLOPs, equally spaced ranks). Each candidate proxy trains every network on the CIFAR-10 training file
(``../shared/data/cifar10/train.npz``) and scores it on a stratified validation split of that file
(10,000 images; ``val_subset`` scores on a stratified part of it). The ground truth is the table's mean
50-epoch test accuracy.

Reported per candidate: Spearman and Kendall over all networks with a bootstrap 90% interval (resampling
networks), the mean Spearman within each fifth of the FLOPs range (the order at equal cost, which is what
a Pareto front needs), and the cost as a share of the table's training (50 epochs x 50,000 images at
32x32, 3 x forward FLOPs per image). Beside them, the same figures for ranking by FLOPs alone and by
params alone.

Run: ``python benchmarks/proxy_vs_table.py`` (40 networks, every candidate in ``CANDIDATES``; hours on 2
cores: the largest networks train at about 40 images/s on one core at 16x16) or ``--quick`` (6 networks,
two tiny candidates; a smoke check of the path, not a measurement). Each (candidate, network) result is
cached in ``benchmarks/cache/proxy_vs_table/`` (committed; ``runs/`` for ``--quick``), so a rerun continues
where it stopped. Writes
``benchmarks/results/proxy_vs_table[_quick].json`` and prints the README table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from proxy_faithfulness import bootstrap  # the same resampling as the proxy-faithfulness benchmark
from scipy.stats import kendalltau, rankdata, spearmanr

from bsnas import count
from bsnas.data import load_data
from bsnas.tables import nas_bench_macro as nbm
from bsnas.training import ProxyConfig, Trainer

ROOT = Path(__file__).resolve().parents[1]
DATA = "npz:" + str(ROOT.parent / "shared" / "data" / "cifar10" / "train.npz")
#: name -> recipe: resolution, epochs, training images, optimiser, schedule, batch size, validation images.
CANDIDATES = {
    "r16-e4-n2400-adamw": dict(resolution=16, epochs=4, subset=2400, optimizer="adamw"),  # the README's today
    "r16-e1-n9600-adamw": dict(resolution=16, epochs=1, subset=9600, optimizer="adamw"),  # same images seen
    "r16-e2-n4800-adamw": dict(resolution=16, epochs=2, subset=4800, optimizer="adamw"),
    "r24-e2-n4800-adamw": dict(resolution=24, epochs=2, subset=4800, optimizer="adamw"),
    "r32-e2-n4800-adamw": dict(resolution=32, epochs=2, subset=4800, optimizer="adamw"),
    "r16-e2-n4800-sgd": dict(resolution=16, epochs=2, subset=4800, optimizer="sgd"),
    "r16-e2-n4800-adamw-linear": dict(resolution=16, epochs=2, subset=4800, optimizer="adamw", schedule="linear"),
    "r16-e2-n4800-adamw-b128": dict(resolution=16, epochs=2, subset=4800, optimizer="adamw", batch_size=128),
    "r16-e2-n4800-adamw-val2000": dict(resolution=16, epochs=2, subset=4800, optimizer="adamw", val_subset=2000),
    "r16-e1-n1200-adamw": dict(resolution=16, epochs=1, subset=1200, optimizer="adamw"),  # --quick only
    "r16-e2-n600-adamw": dict(resolution=16, epochs=2, subset=600, optimizer="adamw"),  # --quick only
}
#: --quick: a smoke check of the whole path on tiny budgets, not a measurement.
QUICK = ("r16-e1-n1200-adamw", "r16-e2-n600-adamw")
TABLE_TRAINING = 50 * 50_000  # images seen by each network of the table


def cache_dir(name: str, quick: bool = False) -> Path:
    """Where a long benchmark caches each measured run: ``benchmarks/cache/<name>/``, committed with the
    results, so a later session resumes where this one stopped; ``runs/<name>/`` (ignored) for ``--quick``."""
    path = ROOT / ("runs" if quick else "benchmarks/cache") / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def networks(n: int) -> list[str]:
    """``n`` canonical keys at equally spaced FLOPs ranks, smallest and largest included."""
    keys = sorted(nbm.networks(), key=lambda k: (count(nbm.arch(k)).flops, k))
    return [keys[round(i)] for i in np.linspace(0, len(keys) - 1, n)]


def train(arch, recipe: dict, data, seed: int = 0, val_subsets: tuple[int, ...] = (2000,)) -> dict:
    """Train ``arch`` with ``recipe`` on ``data`` and score it on all of ``data``'s validation images, and on
    each stratified subset of ``val_subsets`` images of them (``acc_val<n>``: the same training scored on a
    smaller validation set, so a candidate that differs only in ``val_subset`` needs no training of its own)."""
    config = ProxyConfig(epochs=recipe["epochs"], subset=recipe["subset"], optimizer=recipe["optimizer"],
                         schedule=recipe.get("schedule", "onecycle"), batch_size=recipe.get("batch_size", 64),
                         seed=seed, device="cpu")
    start = time.perf_counter()
    trainer = Trainer(arch, data, config, torch.device("cpu"))
    for _ in range(config.epochs):
        _, diverged = trainer.run_epoch()
        if diverged:
            return {"acc": 0.0, "seconds": round(time.perf_counter() - start, 2), "diverged": diverged}
    acc = trainer.evaluate(data.val_x, data.val_y)[0]
    flops = count(arch, data.input_size).flops
    row = {"acc": acc, "seconds": round(time.perf_counter() - start, 2), "train_flops": 3 * flops * trainer.seen}
    for n in (n for n in val_subsets if n < len(data.val_y)):
        part = data.with_val_subset(n, 0)
        row[f"acc_val{n}"] = trainer.evaluate(part.val_x, part.val_y)[0]
    return row


def same_training(name: str) -> tuple[str, int] | None:
    """(the candidate whose training ``name`` shares, its validation size) when ``name`` differs from another
    candidate only in ``val_subset``; None otherwise."""
    recipe = CANDIDATES[name]
    if recipe.get("val_subset") is None:
        return None
    base = {k: v for k, v in recipe.items() if k != "val_subset"}
    return next(((other, recipe["val_subset"]) for other, r in CANDIDATES.items() if r == base), None)


def within_fifths(score: np.ndarray, truth: np.ndarray, flops: np.ndarray) -> float:
    """Mean Spearman inside each fifth of the networks by FLOPs."""
    order = np.argsort(flops, kind="stable")
    values = [spearmanr(score[part], truth[part]).statistic for part in np.array_split(order, 5) if len(part) > 2]
    return float(np.nanmean(values)) if values else float("nan")  # under 15 networks a fifth is too small


def rank_error_by_layer(score: np.ndarray, truth: np.ndarray, keys: list[str]) -> dict[str, float]:
    """Bias by block type: the mean signed rank error (score's rank minus the table's, as a share of the
    networks; positive: ranked above its due) over every layer of each type, so a network counts once per
    layer of that type. A score without bias by block type gives about 0 for each."""
    n = len(keys)
    error = (rankdata(score) - rankdata(truth)) / n
    out = {}
    for digit, layer in enumerate(nbm.LAYERS):
        weight = np.array([k.count(str(digit)) for k in keys], dtype=float)
        out[layer] = float(np.sum(weight * error) / np.sum(weight)) if weight.sum() else float("nan")
    return out


def summarise(name: str, score: np.ndarray, truth: np.ndarray, flops: np.ndarray, cost: float | None,
              keys: list[str] | None = None) -> dict:
    row = {"proxy": name, "spearman": list(bootstrap(score, truth, spearmanr)),
           "kendall": list(bootstrap(score, truth, kendalltau)),
           "within_fifths_spearman": within_fifths(score, truth, flops), "cost_share": cost}
    if keys is not None:
        row["rank_error_by_layer"] = rank_error_by_layer(score, truth, keys)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="6 networks, two tiny candidates (a smoke check)")
    parser.add_argument("--networks", type=int, default=None)
    parser.add_argument("--candidates", default=None, help="comma-separated subset of " + ", ".join(CANDIDATES))
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--threads", type=int, default=max(1, min(2, os.cpu_count() or 1)),
                        help="torch threads (1 when the job is pinned to one core)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keys = networks(args.networks or (6 if args.quick else 40))
    names = args.candidates.split(",") if args.candidates else list(QUICK if args.quick else
                                                                    [c for c in CANDIDATES if c not in QUICK])
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        sys.exit(f"unknown candidate(s) {unknown}; choose from {', '.join(CANDIDATES)}")
    cache = cache_dir("proxy_vs_table", args.quick)
    datas = {}

    def data_for(recipe: dict):
        if recipe["resolution"] not in datas:
            datas[recipe["resolution"]] = load_data(args.data, resolution=recipe["resolution"], val_size=10_000, seed=0)
        return datas[recipe["resolution"]].with_val_subset(recipe.get("val_subset"), 0)

    def run(name: str, i: int, key: str) -> dict:
        path = cache / f"{name}_{key}.json"
        if not path.exists():
            shared = same_training(name)
            base = run(shared[0], i, key) if shared else None
            if base is not None and f"acc_val{shared[1]}" in base:
                row = {**base, "acc": base[f"acc_val{shared[1]}"], "trained_as": shared[0]}
            else:
                row = train(nbm.arch(key), CANDIDATES[name], data_for(CANDIDATES[name]))
                print(f"{name} [{i + 1}/{len(keys)}] {key}: acc {row['acc']:.4f} in {row['seconds']:.0f} s "
                      f"(table {nbm.entry(key).mean:.4f})", flush=True)
            path.write_text(json.dumps(row))
        return json.loads(path.read_text())

    start = time.perf_counter()
    results = {name: {key: run(name, i, key) for i, key in enumerate(keys)} for name in names}
    # also report every other candidate whose 40 networks are all cached (an earlier run's)
    for name in CANDIDATES:
        if name not in results and all((cache / f"{name}_{k}.json").exists() for k in keys):
            results[name] = {k: json.loads((cache / f"{name}_{k}.json").read_text()) for k in keys}
    truth = np.array([nbm.entry(k).mean for k in keys])
    flops = np.array([count(nbm.arch(k)).flops for k in keys], dtype=float)
    params = np.array([nbm.entry(k).params for k in keys], dtype=float)
    rows = [summarise("FLOPs alone", flops, truth, flops, None, keys),
            summarise("params alone", params, truth, flops, None, keys)]
    for name in (n for n in CANDIDATES if n in results):
        score = np.array([results[name][k]["acc"] for k in keys])
        cost = float(np.mean([results[name][k].get("train_flops", 0) / (3 * f * TABLE_TRAINING)
                              for k, f in zip(keys, flops, strict=True)]))
        rows.append(summarise(name, score, truth, flops, cost, keys))
        rows[-1]["seconds"] = round(sum(results[name][k]["seconds"] for k in keys
                                        if "trained_as" not in results[name][k]), 1)
    out = ROOT / "benchmarks" / "results" / f"proxy_vs_table{'_quick' if args.quick else ''}.json"
    rows = kept_rows(out, keys, rows)
    out.write_text(json.dumps({"command": " ".join(["python benchmarks/proxy_vs_table.py", *sys.argv[1:]]),
                               "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                           "torch": torch.__version__},
                               "networks": keys, "rows": rows,
                               "seconds_this_run": round(time.perf_counter() - start, 1)}, indent=1) + "\n")
    print(f"\n{len(keys)} networks of NAS-Bench-Macro, evenly spaced in FLOPs; truth: the table's mean 50-epoch "
          "accuracy\n")
    print("| ranking by | Spearman (90% CI) | Kendall (90% CI) | mean Spearman within FLOPs fifths | cost share |")
    print("|---|---|---|---|---|")
    for r in rows:
        s, k = r["spearman"], r["kendall"]
        cost = "" if r["cost_share"] is None else f"{100 * r['cost_share']:.2f}%"
        print(f"| {r['proxy']} | {s[0]:.3f} ({s[1]:.2f} to {s[2]:.2f}) | {k[0]:.3f} ({k[1]:.2f} to {k[2]:.2f}) | "
              f"{r['within_fifths_spearman']:.3f} | {cost} |")
    print_bias(rows)
    print(f"\nwrote {out.relative_to(ROOT)}")


def kept_rows(out: Path, keys: list[str], rows: list[dict]) -> list[dict]:
    """``rows``, then any candidate row of the previous results file over the same networks that this run did
    not recompute (measured before its cache was committed), marked with the command that measured it."""
    if not out.exists():
        return rows
    before = json.loads(out.read_text())
    if before.get("networks") != keys:
        return rows
    have = {r["proxy"] for r in rows}
    return rows + [{**r, "command": r.get("command", before["command"])} for r in before["rows"]
                   if r["proxy"] not in have]


def print_bias(rows: list[dict]) -> None:
    """The table of mean signed rank error by layer type (share of the networks)."""
    print("\nBias by block type: mean signed rank error over the layers of each type (+: ranked above its due)\n")
    print("| ranking by | " + " | ".join(nbm.LAYERS) + " |")
    print("|---|" + "---|" * len(nbm.LAYERS))
    for r in rows:
        print(f"| {r['proxy']} | " + " | ".join(f"{v:+.3f}" for v in r["rank_error_by_layer"].values()) + " |")


if __name__ == "__main__":
    main()
