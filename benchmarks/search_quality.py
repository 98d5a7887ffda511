"""Does the default search find better networks than random search, judged after longer training?

On the CIFAR-10 training file, with the recommended proxy (16x16, AdamW, 4 epochs on 2,400 images, scored
on 2,000 validation images) and a FLOPs budget of 20 MFLOPs at 32x32, each method runs ``--trials``
full-fidelity trials (40) under 3 seeds:

* ``random``: random search;
* ``tpe``: bsnas's default sampler, sized to the budget (``bsnas.samplers.factory.sampler_options``).

``--methods`` adds ``nsga2``, ``tpe+asha`` (rungs 1, 2, 4 epochs, eta 2) or ``tpe+asha+warm`` (the same,
warm-started with the paper's ResNet-20 family) at the same number of trials.

A fixed, stratified 10,000 images of the file are held out before anything else: the validation split of
``load_data(file, val_size=10_000, seed=0)``, the same as ``proxy_bias.py``'s. The searches never see them.
Then three members of each method's seed-0 front (the cheapest, the most accurate, one between) and the
paper's baselines under the budget are retrained with ``proxy_bias.py``'s reference recipe (10 epochs on
20,000 images at 32x32, SGD, one-cycle, seed 0) and scored on the held-out images; a baseline that
``proxy_bias.py`` already trained so is read from its cache.

Run: ``python benchmarks/search_quality.py`` (about 2 hours of one core: 40 to 60 minutes of searches, then
8 to 27 minutes per retrained network) or ``--quick`` (one seed, 6 trials, a 1-epoch retrain: a smoke check
under 10 minutes, in ``runs/``). Each study is stored in ``benchmarks/cache/search_quality/`` (committed) and
resumes where it stopped; each retrained network is cached there too, with a ``.running`` claim, so a second
process (``--retrain-only --reverse`` on the other core) shares the retraining. Writes
``benchmarks/results/search_quality[_quick].json`` and ``docs/search_quality[_quick].png`` and prints the
README tables.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import torch
from proxy_bias import REFERENCE, claim
from proxy_vs_table import DATA, ROOT, cache_dir, train
from scipy.stats import spearmanr

import bsnas
from bsnas.data import load_data, read_dataset
from bsnas.results.front import normalised_hypervolume, pareto_front
from bsnas.study import SearchConfig, run_search

PROXY = {"epochs": 4, "subset": 2400, "resolution": 16, "optimizer": "adamw", "val_subset": 2000}
METHODS = {"random": {"sampler": "random"}, "tpe": {"sampler": "tpe"}, "nsga2": {"sampler": "nsga2"},
           "tpe+asha": {"sampler": "tpe", "fidelity": "asha", "min_epochs": 1, "max_epochs": 4, "eta": 2},
           "tpe+asha+warm": {"sampler": "tpe", "fidelity": "asha", "min_epochs": 1, "max_epochs": 4, "eta": 2,
                             "warm_start": "baselines"}}
BASELINES = ["cifar_resnet20_bsconvu", "cifar_resnet20_bsconvs_p1d4", "cifar_mobilenetv1_w1d4",
             "cifar_mobilenetv1_w1d4_bsconvu", "cifar_mobilenetv2_w1d4", "cifar_mobilenetv2_w1d4_bsconvs_p1d6"]
QUICK_RETRAIN = dict(resolution=32, epochs=1, subset=1000, optimizer="sgd")


def split_files(root: Path, data: str) -> tuple[str, object]:
    """The searchable part of ``data`` as an npz file (written once) and the data the retrains use: the
    same file split as ``proxy_bias.py`` splits it, whose 10,000 validation images are the held-out set."""
    full = load_data(data, resolution=32, val_size=10_000, seed=0)
    search = Path("runs") / root.name / "search.npz"  # 120 MB, rewritten the same from the data: not committed
    search.parent.mkdir(parents=True, exist_ok=True)
    if not search.exists():
        images = read_dataset(data)
        keep = np.sort(full.train_index)
        np.savez(search, x=images.x[keep], y=images.y[keep], classes=np.array(images.classes))
    return f"npz:{search}", full


def run_method(root: Path, data: str, name: str, seed: int, trials: int, max_flops: int) -> optuna.Study:
    """Run (or resume: the study is stored under ``root``) one search of ``trials`` trials."""
    study_name = f"{name.replace('+', '-')}-s{seed}"
    cfg = SearchConfig.from_options(space="resnet", data=data, trials=trials, max_flops=max_flops, seed=seed,
                                    study=study_name, runs_dir=str(root), **{**PROXY, **METHODS[name]})
    return run_search(cfg)


def curve(study: optuna.Study, max_flops: int) -> tuple[list[float], list[float]]:
    """(cumulative training FLOPs, hypervolume of the full-fidelity front) after each trial that counts toward
    ``--trials`` (trained, or stopped by ASHA), in the order they finished. Infeasible trials cost nothing and
    are left out. Error and FLOPs / ``max_flops`` are minimised against the reference point (1, 1)."""
    trials = sorted((t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"),
                    key=lambda t: t.datetime_complete)
    spent, hv, points, total = [], [], [], 0.0
    for t in trials:
        a = t.user_attrs
        if a.get("status") not in ("trained", "stopped"):
            continue
        total += a.get("train_flops", 0.0)
        if a.get("status") == "trained":
            points.append([1 - a["accuracy"], a["flops"] / max_flops])
        spent.append(total)
        hv.append(normalised_hypervolume(np.array(points)) if points else 0.0)
    return spent, hv


def spread(front, k: int = 3) -> list[int]:
    """Up to ``k`` front members across the FLOPs range: the cheapest, the most accurate, one between."""
    idx = sorted({0, len(front) // 2, len(front) - 1})[:k]
    return [int(front.trial.iloc[i]) for i in idx]


def retrain_path(cache: Path, label: str, arch: str, recipe: dict) -> Path:
    """Where a retrain is cached: ``proxy_bias.py``'s file for a baseline it trained with this recipe,
    else one named by the architecture string's hash."""
    tag = "r{resolution}-e{epochs}-n{subset}-{optimizer}".format(**recipe)
    bias = cache.parent / "proxy_bias" / f"{tag}_{label}_seed0.json"
    if label in BASELINES and bias.exists():
        return bias
    return cache / f"{tag}_{hashlib.sha1(arch.encode()).hexdigest()[:12]}_seed0.json"


def retrain_all(archs: dict[str, str], data, recipe: dict, cache: Path, reverse: bool) -> dict[str, dict]:
    """Train every (label -> architecture string) not cached yet; return the cached results of all."""
    items = list(archs.items())
    for label, arch in reversed(items) if reverse else items:
        done = retrain_path(cache, label, arch, recipe)
        if done.exists() or not claim(done):
            continue
        try:
            row = {**train(arch, recipe, data), "arch": arch, "label": label}
            done.write_text(json.dumps(row))
        finally:
            done.with_suffix(".running").unlink(missing_ok=True)
        print(f"retrained {label}: held-out acc {row['acc']:.4f} in {row['seconds']:.0f} s", flush=True)
    paths = {label: retrain_path(cache, label, arch, recipe) for label, arch in items}
    return {label: json.loads(path.read_text()) for label, path in paths.items() if path.exists()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=40, help="full-fidelity trials per search")
    parser.add_argument("--methods", default="random,tpe", help="comma-separated, of " + ", ".join(METHODS))
    parser.add_argument("--max-flops", default="20M")
    parser.add_argument("--threads", type=int, default=max(1, min(2, os.cpu_count() or 1)),
                        help="torch threads (1 when the job is pinned to one core)")
    parser.add_argument("--retrain-only", action="store_true",
                        help="skip searches not finished yet; only retrain (a second process on the other core)")
    parser.add_argument("--reverse", action="store_true", help="retrain in reverse order (with --retrain-only)")
    parser.add_argument("--quick", action="store_true", help="1 seed, 6 trials, a 1-epoch retrain (smoke check)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.chdir(ROOT)  # the studies store the searched file's path relative to the repository
    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        sys.exit(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    seeds, trials = (1, 6) if args.quick else (args.seeds, args.trials)
    recipe = QUICK_RETRAIN if args.quick else REFERENCE
    root = cache_dir("search_quality", args.quick).relative_to(ROOT)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    max_flops = bsnas.study.parse_amount(args.max_flops)
    search, held_out = split_files(root, args.data)
    start = time.perf_counter()
    studies = {}
    for seed in range(1 if args.retrain_only else seeds):  # every method's seed 0 first: retraining can start
        for name in methods:
            study = run_method(root, search, name, seed, trials, max_flops)
            studies[(name, seed)] = study
            print(f"{name} seed {seed}: {len(study.trials)} trials, hypervolume {curve(study, max_flops)[1][-1]:.4f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
    fronts = {name: pareto_front(studies[(name, 0)]) for name in methods}
    archs: dict[str, str] = {}
    proxy_acc: dict[str, float] = {}
    for name in methods:
        for t in spread(fronts[name]):
            row = fronts[name][fronts[name].trial == t].iloc[0]
            same = next((label for label, a in archs.items() if a == row.arch), None)
            if same:  # two methods found the same network: one retrain, both labels
                archs[f"{same}, {name} #{t}"] = archs.pop(same)
                proxy_acc[f"{same}, {name} #{t}"] = proxy_acc.pop(same)
            else:
                archs[f"{name} #{t}"], proxy_acc[f"{name} #{t}"] = row.arch, float(row.accuracy)
    baselines = BASELINES[:2] if args.quick else BASELINES
    archs.update({b: bsnas.baseline(b).arch_string for b in baselines if bsnas.count(b).flops <= max_flops})
    retrained = retrain_all(archs, held_out, recipe, root, args.reverse)
    if args.retrain_only:
        return
    curves = {k: curve(s, max_flops) for k, s in studies.items()}
    report(curves, methods, seeds, trials, archs, proxy_acc, retrained, recipe, args, start)


def report(curves, methods, seeds, trials, archs, proxy_acc, retrained, recipe, args, start) -> None:
    checkpoints = sorted({trials // 2, trials})
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}; resnet space, "
          f"<= {args.max_flops} FLOPs at 32x32; {seeds} seeds of {trials} full-fidelity trials; hypervolume of the "
          f"proxy's front in (error, FLOPs / {args.max_flops}) against (1, 1)\n")
    print("| method | " + " | ".join(f"hypervolume after {c} trials, median (range)" for c in checkpoints)
          + " | training compute (TFLOPs), median |")
    print("|---|" + "---|" * (len(checkpoints) + 1))
    table = {}
    for name in methods:
        cells = []
        for c in checkpoints:
            values = [curves[(name, s)][1][min(c, len(curves[(name, s)][1])) - 1] for s in range(seeds)]
            cells.append(f"{np.median(values):.4f} ({min(values):.4f} to {max(values):.4f})")
            table.setdefault(name, {})[c] = values
        compute = np.median([curves[(name, s)][0][-1] for s in range(seeds)]) / 1e12
        print(f"| {name} | " + " | ".join(cells) + f" | {compute:.2f} |")
    rows = []
    for label, arch in archs.items():
        if label in retrained:
            rows.append({"network": label, "mflops": bsnas.count(arch).flops / 1e6, "proxy_acc": proxy_acc.get(label),
                         "held_out_acc": retrained[label]["acc"], "seconds": retrained[label]["seconds"]})
    rows.sort(key=lambda r: r["mflops"])
    print(f"\nretrained: {recipe['epochs']} epochs x {recipe['subset']} images at {recipe['resolution']}x"
          f"{recipe['resolution']}, {recipe['optimizer']}; held-out accuracy on 10,000 images no search saw\n")
    print("| network | MFLOPs | proxy accuracy (search) | held-out accuracy (retrained) |\n|---|---|---|---|")
    for r in rows:
        proxy = "" if r["proxy_acc"] is None else f"{r['proxy_acc']:.4f}"
        print(f"| {r['network']} | {r['mflops']:.2f} | {proxy} | {r['held_out_acc']:.4f} |")
    searched = [r for r in rows if r["proxy_acc"] is not None]
    rho = spearmanr([r["proxy_acc"] for r in searched], [r["held_out_acc"] for r in searched]).statistic \
        if len(searched) > 2 else float("nan")
    print(f"\nSpearman of proxy accuracy and retrained accuracy over the {len(searched)} searched networks: {rho:.3f}")
    print("\n| baseline | best retrained searched network at <= its FLOPs | held-out accuracy gain |\n|---|---|---|")
    gains = {}
    for b in (r for r in rows if r["proxy_acc"] is None):
        better = [(r["held_out_acc"], r["network"], r["mflops"]) for r in searched if r["mflops"] <= b["mflops"]]
        best = max(better) if better else None
        gains[b["network"]] = None if best is None else best[0] - b["held_out_acc"]
        gain = f"{100 * (best[0] - b['held_out_acc']):+.1f} points" if best else "no searched network as cheap"
        print(f"| {b['network']} ({b['mflops']:.2f} MFLOPs, {b['held_out_acc']:.4f}) | "
              f"{f'{best[1]} ({best[2]:.2f})' if best else '-'} | {gain} |")
    out = ROOT / "benchmarks" / "results" / f"search_quality{'_quick' if args.quick else ''}.json"
    out.write_text(json.dumps({"command": " ".join(["python benchmarks/search_quality.py", *sys.argv[1:]]),
                               "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                           "torch": torch.__version__, "optuna": optuna.__version__},
                               "hypervolume": {m: {str(c): v for c, v in t.items()} for m, t in table.items()},
                               "curves": {f"{m}-s{s}": curves[(m, s)] for m in methods for s in range(seeds)},
                               "retrained": rows, "proxy_vs_retrained_spearman": rho, "baseline_gain": gains,
                               "retrain_recipe": recipe, "seconds_this_run": round(time.perf_counter() - start, 1)},
                              indent=1) + "\n")
    plot(curves, methods, seeds, args)
    print(f"\nwrote {out.relative_to(ROOT)}")


def plot(curves, methods, seeds, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name in methods:
        n = min(len(curves[(name, s)][1]) for s in range(seeds))
        values = np.array([curves[(name, s)][1][:n] for s in range(seeds)])
        x = np.arange(1, n + 1)
        ax.plot(x, np.median(values, axis=0), label=name)
        ax.fill_between(x, values.min(axis=0), values.max(axis=0), alpha=0.15)
    ax.set_xlabel("finished trials")
    ax.set_ylabel("hypervolume of the proxy's front")
    ax.set_title(f"resnet space on CIFAR-10, <= {args.max_flops} FLOPs: median and range of {seeds} seeds")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = ROOT / "docs" / ("search_quality_quick.png" if args.quick else "search_quality.png")
    fig.savefig(out, dpi=110)
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
