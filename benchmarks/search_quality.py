"""Does the search find more of the front per unit of training compute, and beat the paper's networks?

On the CIFAR-10 training file, with the recommended proxy (16x16, AdamW, 4 epochs on 2,400 images, scored
on 2,000 validation images) and a FLOPs budget at 32x32, this compares at equal training compute (the sum of
3 x forward FLOPs x images over every trial), over several seeds:

* ``random``, ``tpe`` and ``nsga2`` at full fidelity;
* ``tpe+asha``: TPE with multi-objective successive halving (rungs 1, 2 and 4 epochs, eta 2);
* ``tpe+asha+warm``: the same, warm-started with the paper's ResNet-20 family the space expresses.

A fixed, stratified 10,000 images of the file are held out before anything else (``bsnas.data.TEST_SPLIT_SEED``)
and the searches never see them. Then each method's final front (seed 0, up to 3 networks across the FLOPs
range) and the paper's baselines within the budget are trained with one longer recipe, the same for all,
and scored on the held-out images.

Run: ``python benchmarks/search_quality.py`` (about 60 minutes on 2 cores) or ``--quick`` (under 10 minutes).
Searches are cached in ``runs/search_quality/``, so a rerun only does what is missing. Writes
``docs/search_quality.png`` and prints the README tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
from pathlib import Path

import numpy as np
import optuna
import torch

import bsnas
from bsnas.data import load_data, read_dataset
from bsnas.results.front import cost_scale, normalised_hypervolume, pareto_front
from bsnas.study import SearchConfig, load_existing_study, run_search
from bsnas.training import ProxyConfig, train_proxy

DATA = "npz:../shared/data/cifar10/train.npz"
PROXY = {"epochs": 4, "subset": 2400, "resolution": 16, "optimizer": "adamw", "val_subset": 2000}
METHODS = {"random": {"sampler": "random"}, "tpe": {"sampler": "tpe"}, "nsga2": {"sampler": "nsga2"},
           "tpe+asha": {"sampler": "tpe", "fidelity": "asha", "min_epochs": 1, "max_epochs": 4, "eta": 2},
           "tpe+asha+warm": {"sampler": "tpe", "fidelity": "asha", "min_epochs": 1, "max_epochs": 4, "eta": 2,
                             "warm_start": "baselines"}}
BASELINES = ["cifar_resnet20_bsconvu", "cifar_resnet20_bsconvs_p1d4", "cifar_mobilenetv1_w1d4",
             "cifar_mobilenetv1_w1d4_bsconvu", "cifar_mobilenetv2_w1d4", "cifar_mobilenetv2_w1d4_bsconvs_p1d6"]
#: One full-fidelity trial of a 5-MFLOP network (at 16x16): 4 epochs x 2,400 images x 3 x 1.25 MFLOPs.
UNIT = 4 * 2400 * 3 * 1.25e6


class _Spent(Exception):
    """The search used up its compute budget."""


def split_files(root: Path, data: str) -> tuple[str, str]:
    """Write the searchable part and the held-out test part of the data as two npz files (once)."""
    search, holdout = root / "search.npz", root / "holdout.npz"
    if not search.exists():
        full = read_dataset(data)
        test = load_data(data, test_size=10_000).test_index
        rest = np.setdiff1d(np.arange(len(full.y)), test)
        for path, idx in ((search, rest), (holdout, test)):
            np.savez(path, x=full.x[idx], y=full.y[idx], classes=np.array(full.classes))
    return f"npz:{search}", f"npz:{holdout}"


def compute_curve(study: optuna.Study) -> tuple[np.ndarray, np.ndarray]:
    """(cumulative training FLOPs, hypervolume of the full-fidelity front) after each finished trial."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    trials.sort(key=lambda t: t.datetime_complete)
    scale = cost_scale(study)
    spent, hv, points = [], [], []
    total = 0.0
    for t in trials:
        a = t.user_attrs
        total += a.get("train_flops", 0.0) if a.get("status") in ("trained", "stopped") else 0.0
        if a.get("status") == "trained":
            points.append([1 - a["accuracy"], a["flops"] / scale["flops"]])
        spent.append(total)
        hv.append(normalised_hypervolume(np.array(points)) if points else 0.0)
    return np.array(spent), np.array(hv)


def run_method(root: Path, data: str, name: str, seed: int, budget: float, max_flops: int) -> optuna.Study:
    study_name = f"{name.replace('+', '-')}-s{seed}"
    folder = root / study_name
    if (folder / "done").exists():
        return load_existing_study(study_name, runs_dir=root)
    shutil.rmtree(folder, ignore_errors=True)
    cfg = SearchConfig.from_options(space="resnet", data=data, trials=10_000, max_flops=max_flops, seed=seed,
                                    study=study_name, runs_dir=str(root), **{**PROXY, **METHODS[name]})
    spent = 0.0

    def stop_when_spent(study, trial) -> None:
        nonlocal spent
        if trial.user_attrs.get("status") in ("trained", "stopped"):
            spent += trial.user_attrs.get("train_flops", 0.0)
        if spent >= budget:
            raise _Spent

    try:
        run_search(cfg, on_trial=stop_when_spent)
    except _Spent:
        pass
    (folder / "done").write_text("")
    return load_existing_study(study_name, runs_dir=root)


def retrain(archs: dict[str, str], search: str, holdout: str, recipe: ProxyConfig, cache: Path) -> dict:
    done = json.loads(cache.read_text()) if cache.exists() else {}
    data = load_data(search, val_size=2000, seed=0, test_spec=holdout)
    for label, arch in archs.items():
        if label in done:
            continue
        result = train_proxy(arch, data, recipe)
        done[label] = {"arch": bsnas.encode_arch(bsnas.as_record(arch).arch), "test_acc": result.test_acc,
                       "mflops": bsnas.count(arch).flops / 1e6, "seconds": result.train_time}
        cache.write_text(json.dumps(done, indent=1))
        print(f"retrained {label}: held-out acc {result.test_acc:.4f}, {done[label]['mflops']:.2f} MFLOPs", flush=True)
    return done


def spread(front, k: int = 3) -> list[int]:
    """Up to ``k`` front members across the FLOPs range: the cheapest, the most accurate, one between."""
    idx = sorted({0, len(front) // 2, len(front) - 1})[:k]
    return [int(front.trial.iloc[i]) for i in idx]


def matched_picks(studies, methods, baselines, max_flops: int) -> dict[str, str]:
    """Per baseline within the budget: the seed-0 front member of any method with the best proxy accuracy
    at no more than the baseline's FLOPs (the searched network a user would pick to replace it)."""
    members = [(row.accuracy, row.flops, f"{n} #{int(row.trial)}", row.arch) for n in methods
               for row in pareto_front(studies[(n, 0)]).itertuples()]
    picks = {}
    for b in baselines:
        flops = bsnas.count(b).flops
        fits = [m for m in members if m[1] <= flops]
        if flops <= max_flops and fits:
            best = max(fits)
            picks[best[2]] = best[3]
    return picks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=16, help="compute per search, in units of one "
                        "full-fidelity trial of a 5-MFLOP network")
    parser.add_argument("--max-flops", default="20M")
    parser.add_argument("--out", default="runs/search_quality")
    parser.add_argument("--quick", action="store_true", help="1 seed, budget 3, tpe and tpe+asha, short retrain")
    args = parser.parse_args()
    seeds, budget = (1, 3.0) if args.quick else (args.seeds, args.budget)
    methods = ["tpe", "tpe+asha"] if args.quick else list(METHODS)
    root = Path(args.out) / ("quick" if args.quick else "full")
    root.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    max_flops = bsnas.study.parse_amount(args.max_flops)
    search, holdout = split_files(root, args.data)
    curves, studies = {}, {}
    for name in methods:
        for seed in range(seeds):
            study = run_method(root, search, name, seed, budget * UNIT, max_flops)
            studies[(name, seed)] = study
            curves[(name, seed)] = compute_curve(study)
            print(f"{name} seed {seed}: {len(study.trials)} trials, final hypervolume "
                  f"{curves[(name, seed)][1][-1]:.4f}", flush=True)
    report(curves, methods, seeds, budget * UNIT, args, root)
    recipe = ProxyConfig(epochs=2 if args.quick else 5, subset=2000 if args.quick else 5000, optimizer="sgd",
                         label_smoothing=0.1, warmup=0.05)
    archs = {f"{n} #{t}": studies[(n, 0)].trials[t].user_attrs["arch"] for n in methods
             for t in spread(pareto_front(studies[(n, 0)]))}
    baselines = BASELINES[:2] if args.quick else BASELINES
    archs.update(matched_picks(studies, methods, baselines, max_flops))
    archs.update({b: b for b in baselines})
    results = retrain(archs, search, holdout, recipe, root / "retrained.json")
    print(f"\nretrained {len(results)} networks: {recipe.epochs} epochs x {recipe.subset} images at 32x32, SGD, "
          "label smoothing 0.1; held-out accuracy on 10,000 images no search saw\n")
    print("| network | MFLOPs | held-out accuracy |\n|---|---|---|")
    for label, r in sorted(results.items(), key=lambda kv: kv[1]["mflops"]):
        print(f"| {label} | {r['mflops']:.2f} | {r['test_acc']:.4f} |")
    fronts = {k: v for k, v in results.items() if "#" in k}
    print("\n| baseline | best searched network at <= its FLOPs | accuracy gain |\n|---|---|---|")
    for b in (k for k in results if "#" not in k):
        better = [(v["test_acc"], k) for k, v in fronts.items() if v["mflops"] <= results[b]["mflops"]]
        best = max(better) if better else None
        gain = f"{100 * (best[0] - results[b]['test_acc']):+.1f} points" if best else "no searched network as cheap"
        print(f"| {b} ({results[b]['mflops']:.2f} MFLOPs, {results[b]['test_acc']:.4f}) | "
              f"{best[1] if best else '-'} | {gain} |")


def report(curves, methods, seeds, budget, args, root: Path) -> None:
    grid = np.linspace(0, budget, 41)

    def at(curve, c):
        spent, hv = curve
        i = np.searchsorted(spent, c, side="right") - 1
        return hv[i] if i >= 0 else 0.0

    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}; resnet space, "
          f"<= {args.max_flops} FLOPs at 32x32; {seeds} seeds; budget {budget:.3g} training FLOPs per search\n")
    print("| method | hypervolume at the budget, median (range) | at half the budget |\n|---|---|---|")
    table = {}
    for name in methods:
        final = [at(curves[(name, s)], budget) for s in range(seeds)]
        half = [at(curves[(name, s)], budget / 2) for s in range(seeds)]
        table[name] = final
        print(f"| {name} | {np.median(final):.4f} ({min(final):.4f} to {max(final):.4f}) | {np.median(half):.4f} |")
    if "tpe" in table and "tpe+asha" in table:
        for other in [m for m in methods if "asha" in m]:
            fractions = []
            for s in range(seeds):
                target = table["tpe"][s]
                spent, hv = curves[(other, s)]
                reached = spent[hv >= target]
                fractions.append(reached[0] / budget if len(reached) else float("inf"))
            print(f"\n{other} reached full-fidelity TPE's final hypervolume (same seed) at "
                  f"{', '.join('never' if f == float('inf') else f'{f:.0%}' for f in fractions)} of its compute; "
                  f"median {np.median(fractions):.0%}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name in methods:
        values = np.array([[at(curves[(name, s)], c) for c in grid] for s in range(seeds)])
        ax.plot(grid / 1e12, np.median(values, axis=0), label=name)
        ax.fill_between(grid / 1e12, values.min(axis=0), values.max(axis=0), alpha=0.15)
    ax.set_xlabel("training compute (TFLOPs: 3 x forward FLOPs x images)")
    ax.set_ylabel("hypervolume of the full-fidelity front")
    ax.set_title(f"resnet space on CIFAR-10, <= {args.max_flops} FLOPs: median and range of {seeds} seeds")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out = Path("docs") / ("search_quality_quick.png" if args.quick else "search_quality.png")
    fig.savefig(out, dpi=110)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
