"""Do zero-cost scores rank NAS-Bench-Macro's networks as 50 epochs of full training do?

The same networks as ``proxy_vs_table.py`` (evenly spaced in FLOPs among the 3,969 distinct networks),
the same data (CIFAR-10's training file at 32x32, the table's resolution) and the same report: Spearman
and Kendall over all networks with a bootstrap 90% interval, the mean Spearman within each fifth of the
FLOPs range, and FLOPs alone and params alone beside them. Each score is the mean over ``--seeds``
initialisations and batch draws (``bsnas.zero_cost_scores``: synflow, NASWOT, grad-norm, SNIP, ZiCo).
A score is worth keeping as a pre-screen only if it ranks better than FLOPs within the fifths.

Run: ``python benchmarks/zero_cost_vs_table.py`` (40 networks, 3 seeds; about 10 minutes on 2 cores)
or ``--quick`` (10 networks, 1 seed). ``--fresh 300 --scores naswot,grad_norm`` checks the scores on 300
other networks, drawn at random, that they were not chosen on; ``--all --scores naswot`` scores all 3,969
distinct networks once (seed 0; about 50 minutes of one core), which ``zero_cost_search.py`` replays
searches on. Each (network, seed) is cached in
``benchmarks/cache/zero_cost_vs_table/`` (committed). Writes
``benchmarks/results/zero_cost_vs_table[_quick|_freshN].json`` and
``docs/zero_cost_vs_table[...].png``, and prints the README table.
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
from proxy_vs_table import DATA, ROOT, cache_dir, networks, print_bias, summarise

from bsnas import count
from bsnas.data import load_data
from bsnas.tables import nas_bench_macro as nbm
from bsnas.training.zero_cost import ZERO_COST_SCORES, zero_cost_scores


def plot(keys: list[str], truth: np.ndarray, flops: np.ndarray, columns: dict[str, np.ndarray], path: Path) -> None:
    """The table's accuracy against FLOPs and against each score, one panel each, coloured by FLOPs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = {"MFLOPs": flops / 1e6, **columns}
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6), squeeze=False)
    for ax, (name, values) in zip(axes[0], panels.items(), strict=True):
        points = ax.scatter(values, 100 * truth, c=flops / 1e6, s=10, cmap="viridis")
        ax.set_xlabel(name)
        ax.set_xscale("log" if name in ("MFLOPs", "synflow") else "linear")
        ax.set_ylabel("table's 50-epoch accuracy (%)")
    fig.colorbar(points, ax=axes[0][-1], label="MFLOPs")
    fig.suptitle(f"{len(keys)} NAS-Bench-Macro networks: accuracy after 50 epochs against cost and zero-cost scores")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fresh_networks(n: int) -> list[str]:
    """``--fresh n``: n networks drawn at random (seed 0) from those the 40 leave out, by FLOPs."""
    rest = sorted(set(nbm.networks()) - set(networks(40)))
    chosen = np.random.default_rng(0).choice(rest, size=n, replace=False).tolist()
    return sorted(chosen, key=lambda k: (count(nbm.arch(k)).flops, k))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 networks, 1 seed")
    parser.add_argument("--networks", type=int, default=None, help="networks (default 40; 10 with --quick)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per network (default 3; 1 with --quick)")
    parser.add_argument("--fresh", type=int, default=0, metavar="N",
                        help="instead, N networks drawn at random (seed 0) from those the 40 leave out: a check on "
                             "networks the scores were not chosen on")
    parser.add_argument("--all", action="store_true", help="instead, every distinct network of the table, 1 seed")
    parser.add_argument("--scores", default=",".join(ZERO_COST_SCORES), help="comma-separated subset of the scores")
    parser.add_argument("--threads", type=int, default=max(1, min(2, os.cpu_count() or 1)),
                        help="torch threads (1 when the job is pinned to one core)")
    parser.add_argument("--data", default=DATA)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keys = networks(args.networks or (10 if args.quick else 40))
    if args.all:
        keys = sorted(nbm.networks(), key=lambda k: (count(nbm.arch(k)).flops, k))
    if args.fresh:
        keys = fresh_networks(args.fresh)
    names = [n for n in ZERO_COST_SCORES if n in args.scores.split(",")]
    suffix = "" if len(names) == len(ZERO_COST_SCORES) else "_" + "-".join(names)
    seeds = range(args.seeds or (1 if args.quick or args.fresh or args.all else 3))
    cache = cache_dir("zero_cost_vs_table")  # quick runs too: the same (network, seed) scores as a full run
    data = load_data(args.data, val_size=10_000, seed=0)
    start = time.perf_counter()
    scores: dict[str, list[dict]] = {}
    for i, key in enumerate(keys):
        for seed in seeds:
            path = cache / f"{key}_seed{seed}{suffix}.json"
            if not path.exists():
                path.write_text(json.dumps(zero_cost_scores(nbm.arch(key), data, names, seed=seed)))
            scores.setdefault(key, []).append(json.loads(path.read_text()))
        print(f"[{i + 1}/{len(keys)}] {key}: {np.mean([s['seconds'] for s in scores[key]]):.1f} s per seed",
              flush=True)
    truth = np.array([nbm.entry(k).mean for k in keys])
    flops = np.array([count(nbm.arch(k)).flops for k in keys], dtype=float)
    params = np.array([nbm.entry(k).params for k in keys], dtype=float)
    rows = [summarise("FLOPs alone", flops, truth, flops, None, keys),
            summarise("params alone", params, truth, flops, None, keys)]
    columns = {}
    for name in names:
        columns[name] = score = np.array([np.mean([s[name] for s in scores[k]]) for k in keys])
        rows.append(summarise(name, score, truth, flops, None, keys))
    seconds = float(np.mean([s["seconds"] for k in keys for s in scores[k]]))
    tag = "_quick" if args.quick else "_all" if args.all else f"_fresh{args.fresh}" if args.fresh else ""
    out = ROOT / "benchmarks" / "results" / f"zero_cost_vs_table{tag}.json"
    out.write_text(json.dumps({"command": " ".join(["python benchmarks/zero_cost_vs_table.py", *sys.argv[1:]]),
                               "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                           "torch": torch.__version__},
                               "networks": keys, "seeds": len(seeds), "rows": rows,
                               "mean_seconds_per_network_and_seed": round(seconds, 2),
                               "seconds_this_run": round(time.perf_counter() - start, 1)}, indent=1) + "\n")
    picture = ROOT / "docs" / f"zero_cost_vs_table{tag}.png"
    plot(keys, truth, flops, columns, picture)
    how = ("all distinct ones" if args.all else "drawn at random from those the 40 leave out" if args.fresh else
           "evenly spaced in FLOPs")
    print(f"\n{len(keys)} networks of NAS-Bench-Macro, {how}, {len(seeds)} seed(s) each; truth: the "
          f"table's mean 50-epoch accuracy; the scores of one network take {seconds:.1f} s\n")
    print("| ranking by | Spearman (90% CI) | Kendall (90% CI) | mean Spearman within FLOPs fifths |")
    print("|---|---|---|---|")
    for r in rows:
        s, k = r["spearman"], r["kendall"]
        print(f"| {r['proxy']} | {s[0]:.3f} ({s[1]:.2f} to {s[2]:.2f}) | {k[0]:.3f} ({k[1]:.2f} to {k[2]:.2f}) | "
              f"{r['within_fifths_spearman']:.3f} |")
    print_bias(rows)
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
