"""``bsnas search``: run or resume a search and print its trials and Pareto front."""

from __future__ import annotations

import argparse
import json
import sys
import time

from bsnas.cli.common import FORMATS, add_data_args, add_recipe_args, described, size_arg
from bsnas.cli.progress import SearchDisplay, trial_line
from bsnas.errors import SearchError
from bsnas.evaluators import EVALUATORS
from bsnas.evaluators.successive_halving import FIDELITIES
from bsnas.metrics import ANALYTIC, METRICS, budget_metrics
from bsnas.metrics.builtin import ZERO_COST
from bsnas.samplers import SAMPLERS
from bsnas.training.config import OPTIMIZERS

__all__ = ["add_search_command", "trial_line"]

DESCRIPTION = """Search a space for the Pareto-optimal architectures (validation accuracy against FLOPs and
optionally params) under hard budgets. Every trial samples an architecture, counts it exactly, skips it
without training when it is over budget or already trained, and otherwise trains it on the proxy task.
The study lives in runs/<study>/study.db (or --storage); running the same command again resumes it to
--trials trained architectures. Prints one line per trial, then the front."""
EXAMPLE = "bsnas search --space tiny --data digits --trials 24 --epochs 10 --max-flops 1M --study quickstart"


def _config(args: argparse.Namespace):
    from bsnas.study import SearchConfig
    from bsnas.training.config import ProxyConfig

    if args.data is None and args.evaluator != "table":
        raise SearchError("bsnas search needs --data, the images each trial trains on (for example --data digits, "
                          "or cifar10:PATH); only --evaluator table, which answers from a table, needs none")
    proxy = ProxyConfig(epochs=args.epochs, subset=args.subset, batch_size=args.batch_size, seed=args.seed,
                        optimizer=args.optimizer, lr=args.lr, device=args.device, amp=args.amp)
    budgets = {m.budget_option: m.parse(getattr(args, m.budget_option)) for m in budget_metrics()}
    return SearchConfig(space=args.space, data=args.data, trials=args.trials,
                        objectives=args.objectives and tuple(o.strip() for o in args.objectives.split(",")),
                        **budgets,
                        sampler=args.sampler, sampler_options=_sampler_options(args.sampler_option),
                        study=args.study, storage=args.storage, jobs=args.jobs,
                        resolution=args.resolution, val_size=args.val_size, runs_dir=args.runs_dir, proxy=proxy,
                        input_size=args.input_size, val_subset=args.val_subset, fidelity=args.fidelity,
                        min_epochs=args.min_epochs, max_epochs=args.max_epochs, eta=args.eta,
                        warm_start=args.warm_start, devices=args.devices, evaluator=args.evaluator,
                        latency_table=args.latency_table, latency_backend=args.latency_backend,
                        latency_threads=args.latency_threads, allow_foreign_table=args.allow_foreign_table)


def _sampler_options(items: list[str]) -> dict | None:
    """``KEY=VALUE`` pairs, each value read as JSON where it is JSON (5, 0.5, true, null) and as text otherwise."""
    options = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise SearchError(f"--sampler-option takes KEY=VALUE, such as n_startup_trials=5, but got {item!r}")
        try:
            options[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            options[key.strip()] = text
    return options or None


def cmd_search(args: argparse.Namespace) -> None:
    from bsnas.results.front import hypervolume, pareto_front, quality_of
    from bsnas.storage import mask_url, resolve_storage_url
    from bsnas.study import counted_trials, run_search, trained_trials

    cfg = _config(args)
    machine = args.format == "json"  # stdout holds one JSON document: trial lines go to stderr
    display = SearchDisplay(cfg.study_name, cfg.trials, cfg.jobs, lines=sys.stderr if machine else sys.stdout,
                            enabled=not args.quiet and sys.stderr.isatty())
    start = time.perf_counter()
    try:
        study = run_search(cfg, on_trial=display.trial, on_progress=display.progress, on_start=display.start,
                           log_failures=args.debug, log=display.note)
    finally:
        display.close()
    front = pareto_front(study)
    trained = len(trained_trials(study))
    stopped = len(counted_trials(study)) - trained
    if machine:
        summary = {"study": cfg.study_name, "storage": mask_url(resolve_storage_url(cfg.storage, cfg.run_dir)),
                   "trained": trained, "stopped_early": stopped, "trials": len(study.trials),
                   "seconds": round(time.perf_counter() - start, 1), "hypervolume": round(hypervolume(study), 6),
                   "front": front.drop(columns=["status"]).to_dict(orient="records")}
        print(json.dumps(summary, indent=2))
        return
    early = f" (+{stopped} stopped early by successive halving)" if stopped else ""
    quality = quality_of(study)
    done = "trained" if quality == "accuracy" else f"scored by {quality} (untrained)"
    print(f"\nstudy {cfg.study_name!r}: {trained} architectures {done}{early}, {len(study.trials)} trials, "
          f"{time.perf_counter() - start:.0f}s; Pareto front ({len(front)}):")
    shown = front.assign(**{quality: front[quality].round(4)}, mflops=front.mflops.round(3),
                         mparams=front.mparams.round(4)).drop(columns=["status", "flops", "params"])
    print(shown.to_string(index=False) if len(shown) else "(empty)")


def _devices(text: str) -> tuple[int, ...]:
    try:
        ids = tuple(int(v) for v in text.split(","))
    except ValueError:
        ids = ()
    if not ids or min(ids) < 0:
        raise argparse.ArgumentTypeError(f"expected GPU numbers such as 0,1, but got {text!r}")
    return ids


def add_search_command(sub) -> None:
    p = described(sub, "search", "search a space for Pareto-optimal architectures (accuracy vs cost)",
                  DESCRIPTION, EXAMPLE)
    p.add_argument("--space", required=True, help="search space YAML file, or a name in search_spaces/ (tiny, "
                   "resnet, mobilenet, ...; see `bsnas spaces`)")
    add_data_args(p, required=True)
    p.add_argument("--trials", type=int, default=20, help="architectures to train in the study, in total (default 20)")
    for metric in budget_metrics():
        p.add_argument(f"--{metric.budget_option.replace('_', '-')}", default=None,
                       help=f"hard budget on {metric.description}, e.g. {metric.example} (checked before any "
                            "training)")
    costs = [n for n, m in METRICS.items() if m.source == ANALYTIC]
    p.add_argument("--objectives", default=None,
                   help=f"accuracy (or with --evaluator zero-cost a zero-cost score: {', '.join(ZERO_COST)}) followed "
                        f"by one or more of {', '.join(costs)}, comma-separated (default accuracy,flops; naswot,flops "
                        "with --evaluator zero-cost)")
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe", help="how architectures are chosen: Optuna's "
                   "tpe (default), nsga2, gp or random, or an NNI strategy (nni-*, needs bsnas[nni])")
    p.add_argument("--sampler-option", action="append", default=[], metavar="KEY=VALUE", dest="sampler_option",
                   help="a keyword argument of the Optuna sampler, such as n_startup_trials=5 or population_size=20; "
                        "repeat for more (default: sized to --trials, see the README)")
    p.add_argument("--study", default=None, help="study name: letters, digits, '-', '_', '.' (default: the space's)")
    p.add_argument("--storage", default=None, help="Optuna storage URL or JournalFile path "
                   "(default: $BSNAS_STORAGE, else sqlite:///runs/<study>/study.db)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes on this machine (default 1)")
    p.add_argument("--devices", type=_devices, default=None, metavar="0,1",
                   help="with --device cuda and --jobs: the GPUs the workers share round robin (default: all)")
    p.add_argument("--evaluator", choices=EVALUATORS, default="proxy",
                   help="what scores each architecture: proxy training (default); zero-cost: the first objective's "
                        "zero-cost score of the untrained network (NASWOT by default, seconds a trial; no accuracy); "
                        "or table: NAS-Bench-Macro's stored 50-epoch CIFAR-10 accuracies (--space nas_bench_macro, "
                        "no --data; from Python, any Evaluator)")
    p.add_argument("--epochs", type=int, default=10, help="proxy training epochs per architecture (default 10)")
    p.add_argument("--subset", type=int, default=None, help="proxy training images (stratified subset; default all)")
    p.add_argument("--input-size", type=size_arg, default=None, metavar="H|C,H,W",
                   help="the deployment input size budgets, costs, the front and exports refer to "
                        "(default: the data's own size)")
    p.add_argument("--val-subset", type=int, default=None, metavar="N",
                   help="score each trial on a stratified subset of N validation images (default: all)")
    add_recipe_args(p, "proxy training (costs and budgets stay at --input-size)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd", help="proxy optimiser (default sgd)")
    p.add_argument("--fidelity", choices=FIDELITIES, default="none",
                   help="asha: judge each trial at rungs of --min-epochs * eta^k up to --max-epochs and stop the "
                        "bottom ones (multi-objective successive halving; default none)")
    p.add_argument("--min-epochs", type=int, default=1, help="ASHA's first rung (default 1)")
    p.add_argument("--max-epochs", type=int, default=None, help="ASHA's last rung (default: --epochs)")
    p.add_argument("--eta", type=int, default=3, help="ASHA keeps the top 1/eta at each rung (default 3)")
    p.add_argument("--warm-start", default=None, metavar="baselines|FILE|SCORE:K",
                   help="first trials: the paper's families the space expresses within budget, a file of "
                        "architecture strings, records or baseline names, or naswot:K (score K random networks "
                        "without training and start from the best of each FLOPs band)")
    p.add_argument("--latency-table", default=None, metavar="FILE",
                   help="the latency table that predicts the latency objective and budget (bsnas latency-table build)")
    p.add_argument("--latency-backend", default=None, metavar="torch|onnxruntime",
                   help="measure each new block as the search meets it, into --latency-table or "
                        "runs/<study>/latency_table.json")
    p.add_argument("--latency-threads", type=int, default=1, help="threads of --latency-backend (default 1)")
    p.add_argument("--allow-foreign-table", action="store_true",
                   help="use a latency table measured on another device or setup (with a warning)")
    p.add_argument("--runs-dir", default="runs", help="where runs/<study>/ goes (default runs)")
    p.add_argument("--format", choices=FORMATS[:2], default="table",
                   help="table (trial lines and the front) or json (a summary; trial lines go to stderr)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_search)
