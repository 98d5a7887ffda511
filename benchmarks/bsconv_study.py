"""Does BSConv help? The paper's two claims measured on CIFAR-10 with bsnas's own tools.

1. **Result** (does BSConv improve networks at equal cost?): the same search of the ``resnet`` space, with
   every block's conv type pinned to one type at a time (regular, dsc, bsconv_u, bsconv_s) and with all
   four to choose from, on the recommended CIFAR-10 proxy, under one FLOPs budget, at equal trial counts,
   over several seeds. The stem is pinned to a regular conv in every variant, so only the blocks differ.
   Reports the hypervolume of each and overlays the seed-0 fronts in ``docs/bsconv_fronts.png``, and the
   conv-type shares of the all-types searches' fronts (``bsnas front --by-op``).
2. **Motivation** (are trained kernels correlated along the depth axis?): trains ResNet-20 with regular
   convs with ``bsnas train`` for 7 epochs (about 10 minutes on 2 cores) and runs the kernel analysis against the same
   network at initialisation; writes ``docs/bsconv_kernels.png``.

Run: ``python benchmarks/bsconv_study.py`` (about 30 minutes on 2 cores) or ``--quick`` (under 10 minutes).
Searches are cached in ``runs/bsconv_study/`` so a rerun only does what is missing.

**At equal latency**: ``--latency-table FILE --max-latency 2ms`` runs the same searches with the objectives
accuracy and latency (predicted by the table, ``bsnas latency-table build --space resnet``) under a latency
budget instead of the FLOPs budget, judges the hypervolume over latency / budget, skips the kernel part and
writes ``benchmarks/results/bsconv_study_latency_<backend>.json``.
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
import yaml

import bsnas
from bsnas.errors import SearchError
from bsnas.results.front import hypervolume_history, normalised_hypervolume, pareto_front, trials_frame
from bsnas.results.kernels import init_control, kernel_stats, plot_kernel_stats
from bsnas.results.op_shares import op_shares
from bsnas.results.plots import PlotData, write_plot
from bsnas.study import SearchConfig, load_existing_study, run_search

DATA = "npz:../shared/data/cifar10/train.npz"
PROXY = {"epochs": 4, "subset": 2400, "resolution": 16, "optimizer": "adamw", "val_subset": 2000}
VARIANTS = ("regular", "dsc", "bsconv_u", "bsconv_s", "all")


def pinned_space(folder: Path, variant: str) -> Path:
    """The resnet space with the stem pinned to regular and the blocks to ``variant`` (all four for 'all')."""
    space = yaml.safe_load((Path(bsnas.space.schema.SPACES_DIR) / "resnet.yaml").read_text())
    space["name"] = f"resnet-{variant}"
    space["stem"]["ops"] = ["regular"]
    for stage in space["stages"]:
        stage["ops"] = ["regular", "dsc", "bsconv_u", "bsconv_s"] if variant == "all" else [variant]
    path = folder / f"resnet-{variant}.yaml"
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    return path


def search(root: Path, data: str, variant: str, seed: int, trials: int, max_flops: int | None,
           latency: dict | None = None) -> optuna.Study:
    name = f"{variant.replace('_', '-')}-s{seed}"
    if (root / name / "done").exists():
        return load_existing_study(name, runs_dir=root)
    shutil.rmtree(root / name, ignore_errors=True)
    budget = {"max_flops": max_flops} if latency is None else {**latency, "objectives": ("accuracy", "latency")}
    cfg = SearchConfig.from_options(space=str(pinned_space(root, variant)), data=data, trials=trials, seed=seed,
                                    study=name, runs_dir=str(root), **budget, **PROXY)
    try:
        run_search(cfg)
        note = ""
    except SearchError as err:  # regular convs: too few distinct networks under the budget for the target
        note = str(err)
        print(f"{name}: {note}", flush=True)
    (root / name / "done").write_text(note)
    return load_existing_study(name, runs_dir=root)


def budget_hypervolume(study: optuna.Study, limit: float, cost: str = "flops") -> float:
    """Hypervolume of the trained networks with their cost (FLOPs or latency) over the common budget, not over
    each pinned space's own largest network (which differs per conv type), so the variants compare on one
    scale."""
    df = trials_frame(study)
    df = df[df.status == "trained"]
    points = np.column_stack([1 - df.accuracy.to_numpy(float), df[cost].to_numpy(float) / limit])
    return normalised_hypervolume(points) if len(points) else 0.0


def budget_shares(table_file: str, max_latency: float, max_flops: int, networks: int = 600) -> dict:
    """The share of the resnet space's networks (stem regular, as searched here; 600 drawn at random) within
    the latency budget and within the FLOPs budget: a latency budget as tight as the FLOPs one admits about
    the same share."""
    from bsnas.latency import LatencyTable
    from bsnas.space import load_space, random_archs

    table = LatencyTable.load(table_file)[0]
    archs = [a for a in random_archs(load_space("resnet"), networks * 5, seed=5) if a.stem.conv.op == "regular"]
    archs = archs[:networks]
    latency = np.array([table.predict(a, (3, 32, 32), 10) for a in archs])
    flops = np.array([bsnas.count(a).flops for a in archs])
    return {"networks": len(archs), "latency_budget": float(np.mean(latency <= max_latency)),
            "flops_budget": float(np.mean(flops <= max_flops))}


def kernels(root: Path, data: str, epochs: int, subset_note: str) -> dict:
    run = root / "resnet20-regular"
    done = run / "record.json"
    if not (done.exists() and (bsnas.load_record(done).extra.get("metrics") or {}).get("epochs_run") == epochs):
        shutil.rmtree(run, ignore_errors=True)
        bsnas.train("cifar_resnet20", data=data, epochs=epochs, out=run)
    trained_model = bsnas.create_model(run)
    trained, init = kernel_stats(trained_model), init_control(trained_model, seed=0)
    plot_kernel_stats(trained, init, Path("docs") / f"bsconv_kernels{subset_note}.png")
    metrics = bsnas.load_record(done).extra["metrics"]
    return {"val_acc": metrics["val_acc"], "epochs": epochs, "train_time": metrics["train_time"],
            "trained": trained.summary, "init": init.summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=10, help="architectures trained per search")
    parser.add_argument("--max-flops", default="20M")
    parser.add_argument("--kernel-epochs", type=int, default=7,
                        help="epochs of the ResNet-20 for the kernels (7 fit 10 minutes on 2 cores)")
    parser.add_argument("--out", default="runs/bsconv_study")
    parser.add_argument("--quick", action="store_true", help="1 seed, 3 trials, 1 kernel epoch")
    parser.add_argument("--latency-table", default=None, help="search under a latency budget, from this table")
    parser.add_argument("--max-latency", default=None, help="the latency budget with --latency-table, e.g. 2ms")
    args = parser.parse_args()
    seeds, trials, epochs = (1, 3, 1) if args.quick else (args.seeds, args.trials, args.kernel_epochs)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    latency, cost, limit, backend = None, "flops", bsnas.study.parse_amount(args.max_flops), None
    if args.latency_table:
        from bsnas.latency import LatencyTable
        from bsnas.metrics.builtin import parse_duration

        backend = LatencyTable.load(args.latency_table)[0].backend
        limit = parse_duration(args.max_latency or "2ms")
        latency, cost = {"latency_table": args.latency_table, "max_latency": limit}, "latency"
    label = "quick" if args.quick else "full"
    root = Path(args.out) / (label if latency is None else f"latency-{backend}-{label}")
    root.mkdir(parents=True, exist_ok=True)
    studies = {(v, s): search(root, args.data, v, s, trials, None if latency else limit, latency)
               for v in VARIANTS for s in range(seeds)}
    budget = f"<= {args.max_flops} FLOPs" if latency is None else f"<= {limit:g} ms of {backend} latency"
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}; resnet space, "
          f"stem pinned regular, {budget} at 32x32, {trials} trained architectures per search, "
          f"{seeds} seeds, proxy {PROXY}\n")
    print(f"| conv type of the blocks | hypervolume ({cost} over the budget), median (range) | best accuracy, median "
          "| front size, median | architectures trained, per seed |")
    print("|---|---|---|---|---|")
    rows = {}
    for v in VARIANTS:
        hv = [budget_hypervolume(studies[(v, s)], limit, cost) for s in range(seeds)]
        best = [pareto_front(studies[(v, s)]).accuracy.max() for s in range(seeds)]
        size = [len(pareto_front(studies[(v, s)])) for s in range(seeds)]
        trained = [int((trials_frame(studies[(v, s)]).status == "trained").sum()) for s in range(seeds)]
        rows[v] = {"hypervolume": hv, "best_accuracy": [float(b) for b in best], "front_size": size,
                   "trained": trained}
        print(f"| {v} | {np.median(hv):.4f} ({min(hv):.4f} to {max(hv):.4f}) | {np.median(best):.4f} | "
              f"{np.median(size):.0f} | {', '.join(map(str, trained))} |")
    print("\nconv types on the fronts of the all-types searches, by blocks (share on the front / among all trained):\n")
    shares = [op_shares(studies[("all", s)], "blocks") for s in range(seeds)]
    print("| conv type | front share, mean | all share, mean | enrichment, mean |\n|---|---|---|---|")
    share_rows = {}
    for i, op in enumerate(shares[0].op):
        row = [(df.front_share.iloc[i], df.all_share.iloc[i], df.enrichment.iloc[i]) for df in shares]
        front, every, ratio = (np.nanmean([r[j] for r in row]) for j in range(3))
        share_rows[op] = {"front_share": float(front), "all_share": float(every), "enrichment": float(ratio)}
        print(f"| {op} | {front:.2f} | {every:.2f} | {ratio:.2f} |")
    first = studies[("all", 0)]
    trials_df = trials_frame(first)
    plot = PlotData("resnet, all conv types (seed 0)", trials_df[trials_df.status == "trained"], pareto_front(first),
                    hypervolume_history(first), None,
                    {f"{v} only": pareto_front(studies[(v, 0)]) for v in VARIANTS if v != "all"})
    name = "bsconv_fronts" + ("" if latency is None else f"_latency_{backend}") + ("_quick" if args.quick else "")
    out = write_plot(plot, Path("docs") / f"{name}.png", cost)
    print(f"\nwrote {out}")
    if latency is not None:
        command = (f"python benchmarks/bsconv_study.py --latency-table {args.latency_table} --max-latency "
                   f"{args.max_latency or '2ms'}" + (" --quick" if args.quick else ""))
        result = {"command": command, "budget_ms": limit, "backend": backend, "seeds": seeds, "trials": trials,
                  "share_within": budget_shares(args.latency_table, limit, bsnas.study.parse_amount(args.max_flops)),
                  "machine": {"cpus": os.cpu_count(), "torch": torch.__version__}, "variants": rows,
                  "op_shares": share_rows}
        path = Path("benchmarks/results") / f"bsconv_study_latency_{backend}{'_quick' if args.quick else ''}.json"
        path.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {path}")
        return
    result = kernels(root, args.data, epochs, "_quick" if args.quick else "")
    t, i = result["trained"], result["init"]
    print(f"\nResNet-20 with regular convs, {result['epochs']} epochs of `bsnas train` on the CIFAR-10 training file "
          f"({result['train_time']:.0f} s of training, validation accuracy {result['val_acc']:.4f}):\n")
    print("| | first component's variance share, mean (median) | first two, mean | blueprint error, mean |")
    print("|---|---|---|---|")
    for label, s in (("trained", t), ("at initialisation", i)):
        print(f"| {label} | {s['pc1_mean']:.3f} ({s['pc1_median']:.3f}) | {s['pc12_mean']:.3f} | "
              f"{s['blueprint_error_mean']:.3f} |")
    (root / "kernels.json").write_text(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
