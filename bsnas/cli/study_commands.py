"""The study commands of the ``bsnas`` CLI: search, spaces, front, export and train."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from bsnas.cli.common import FORMATS, add_data_args, emit, size_arg
from bsnas.errors import BsnasError
from bsnas.results.export import FORMATS as EXPORT_FORMATS
from bsnas.study.config import OBJECTIVES, SAMPLERS
from bsnas.study.fidelity import FIDELITIES
from bsnas.training.config import OPTIMIZERS

__all__ = ["add_study_commands"]


def _trial_line(t) -> str:
    a = t.user_attrs
    cost = f"{a.get('flops', 0) / 1e6:7.3f} MFLOPs {a.get('params', 0) / 1e6:7.4f} Mparams" if "flops" in a else ""
    status = a.get("status", "failed") if t.state.name == "COMPLETE" else t.state.name.lower()
    if status in ("trained", "reused", "stopped"):
        extra = f"acc {a['accuracy']:.4f}" + (f" (reused #{a['reused_from']})" if status == "reused" else
                                              f" {a.get('train_time', 0):5.1f}s")
        if status == "stopped":
            extra += f", not promoted after {a.get('rung')} epochs"
    elif status == "infeasible":
        extra = "over budget, not trained"
    else:
        extra = a.get("fail_reason", "")
    return f"#{t.number:<4d} {status:10s} {cost}  {extra}  {a.get('arch', '')}"


def cmd_search(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from bsnas.results.front import pareto_front
    from bsnas.study import SearchConfig, parse_amount, run_search, trained_trials
    from bsnas.training.config import ProxyConfig

    proxy = ProxyConfig(epochs=args.epochs, subset=args.subset, batch_size=args.batch_size, seed=args.seed,
                        optimizer=args.optimizer, lr=args.lr, device=args.device)
    cfg = SearchConfig(space=args.space, data=args.data, trials=args.trials,
                       objectives=tuple(o.strip() for o in args.objectives.split(",")),
                       max_flops=parse_amount(args.max_flops), max_params=parse_amount(args.max_params),
                       sampler=args.sampler, study=args.study, storage=args.storage, jobs=args.jobs,
                       resolution=args.resolution, val_size=args.val_size, runs_dir=args.runs_dir,
                       proxy=proxy, input_size=args.input_size, val_subset=args.val_subset, fidelity=args.fidelity,
                       min_epochs=args.min_epochs, max_epochs=args.max_epochs, eta=args.eta,
                       warm_start=args.warm_start)
    bar = None
    best = 0.0

    def on_trial(study, trial) -> None:
        nonlocal bar, best
        is_trained = trial.user_attrs.get("status") == "trained" and trial.state.name == "COMPLETE"
        if bar is None:
            bar = tqdm(total=cfg.trials, initial=len(trained_trials(study)) - is_trained, unit="arch",
                       dynamic_ncols=True, desc=f"search {cfg.study_name}",
                       disable=args.quiet or not sys.stderr.isatty())
        bar.write(_trial_line(trial))
        if is_trained:
            best = max(best, trial.user_attrs["accuracy"])
            bar.update()
        bar.set_postfix(best=f"{best:.4f}", front=len(pareto_front(study)))

    start = time.perf_counter()
    study = run_search(cfg, on_trial=on_trial, log_failures=args.debug, log=lambda m: print(m, file=sys.stderr))
    if bar is not None:
        bar.close()
    front = pareto_front(study)
    trained = len(trained_trials(study))
    stopped = sum(t.user_attrs.get("status") == "stopped" for t in study.get_trials(deepcopy=False))
    early = f" (+{stopped} stopped early by successive halving)" if stopped else ""
    print(f"\nstudy {cfg.study_name!r}: {trained} architectures trained{early}, {len(study.trials)} trials, "
          f"{time.perf_counter() - start:.0f}s; Pareto front ({len(front)}):")
    shown = front.assign(accuracy=front.accuracy.round(4), mflops=front.mflops.round(3),
                         mparams=front.mparams.round(4)).drop(columns=["status", "flops", "params"])
    print(shown.to_string(index=False) if len(shown) else "(empty)")


def cmd_spaces(args: argparse.Namespace) -> None:
    from bsnas.space import describe_space, find_spaces, load_space

    target = Path(args.path) if args.path else None
    paths = find_spaces(target) if target is not None and target.is_dir() else (
        [target] if target is not None else find_spaces())
    if not paths:
        raise BsnasError(f"no *.yaml search spaces in {str(target)!r}")
    rows = []
    for path in paths:
        space = load_space(path)
        size = args.input_size
        if isinstance(size, int):
            size = (space.input_size[0], size, size)
        stats = describe_space(space, size)
        rows.append({"name": stats.name, "file": str(path), "architectures": f"{stats.size:.3g}",
                     "input": "x".join(map(str, stats.input_size)),
                     "mflops": f"{stats.min_flops / 1e6:.3f}-{stats.max_flops / 1e6:.1f}",
                     "params": f"{stats.min_params:,}-{stats.max_params:,}",
                     "parameters": len(stats.parameters), "names": " ".join(stats.parameters)})
    df = pd.DataFrame(rows)
    if args.format == "table":
        print(df.drop(columns="names").to_string(index=False))
        for row in rows:
            print(f"\n{row['name']} parameters: {row['names']}")
    else:
        emit(df, args.format)


def cmd_front(args: argparse.Namespace) -> None:
    from bsnas.results.front import hypervolume, hypervolume_history, pareto_front, trials_frame
    from bsnas.study.storage import load_existing_study

    studies = [load_existing_study(name, args.storage, args.runs_dir) for name in args.study]
    study = studies[0]
    front = pareto_front(study, rung=args.rung)
    hv = hypervolume(study)
    baselines = None
    if args.baselines is not None:
        from bsnas.study.baselines import DEFAULT_BASELINES, evaluate_baselines

        names = [n for n in args.baselines.split(",") if n] or list(DEFAULT_BASELINES)
        baselines = evaluate_baselines(study, names, args.device, log=lambda m: print(m, file=sys.stderr))
    if args.plot:
        from bsnas.results.plots import PlotData, write_plot

        trials = trials_frame(study)
        data = PlotData(study.study_name, trials[trials.status == "trained"], front, hypervolume_history(study),
                        baselines, {s.study_name: pareto_front(s) for s in studies[1:]})
        write_plot(data, args.plot, args.x)
        print(f"wrote {args.plot}", file=sys.stderr)
    shown = front.assign(accuracy=front.accuracy.round(4), mflops=front.mflops.round(4),
                         mparams=front.mparams.round(5)).drop(columns=["status", "flops", "params"])
    extra = {"study": study.study_name, "front_size": len(front), "hypervolume": round(hv, 6),
             "hypervolume_reference": "error 1-accuracy, flops/max_flops, params/max_params of the space; ref (1,..,1)"}
    if args.format == "markdown":
        print(f"Pareto front of {study.study_name!r}: {len(front)} architectures, hypervolume {hv:.4f}\n")
        print(shown.to_markdown(index=False))
    else:
        emit(shown, args.format, extra)
    if baselines is not None and args.format in ("table", "markdown"):
        print("\nbaselines on the same proxy:")
        print(baselines.drop(columns="diverged").to_string(index=False))
    for other in studies[1:]:
        if args.format in ("table", "markdown"):
            print(f"\nfront of {other.study_name!r} (hypervolume {hypervolume(other):.4f}):")
            print(pareto_front(other).drop(columns=["status", "flops", "params"]).to_string(index=False))


def cmd_export(args: argparse.Namespace) -> None:
    from bsnas.results.export import export_front, export_trial
    from bsnas.study.storage import load_existing_study

    study = load_existing_study(args.study, args.storage, args.runs_dir)
    if args.front:
        index = export_front(study, args.out, args.format, force=args.force)
        print(f"wrote {index}")
    else:
        written = export_trial(study, args.trial, args.out, args.format, args.weights, force=args.force)
        print(json.dumps(written, indent=2))


def cmd_train(args: argparse.Namespace) -> None:
    from bsnas.training.full import train

    summary = train(args.arch, args.data, args.epochs, args.out, test_spec=args.test_data, resume=args.resume,
                    seed=args.seed, batch_size=args.batch_size, lr=args.lr, resolution=args.resolution,
                    val_size=args.val_size, device=args.device, progress=sys.stderr.isatty())
    print(json.dumps(summary, indent=2))


def add_study_commands(sub) -> None:
    fmt = {"choices": FORMATS, "default": "table", "help": "output format"}
    p = sub.add_parser("search", help="search a space for Pareto-optimal architectures (accuracy vs cost)")
    p.add_argument("--space", required=True, help="search space YAML file, or a name in search_spaces/")
    add_data_args(p)
    p.add_argument("--trials", type=int, default=20, help="architectures to train in the study, in total")
    p.add_argument("--max-flops", default=None, help="hard FLOPs budget, e.g. 50M (checked before training)")
    p.add_argument("--max-params", default=None, help="hard parameter budget, e.g. 1.5M")
    p.add_argument("--objectives", default="accuracy,flops",
                   help=f"accuracy followed by one or both of {', '.join(OBJECTIVES[1:])}, comma-separated")
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe")
    p.add_argument("--study", default=None, help="study name (default: the space's name)")
    p.add_argument("--storage", default=None, help="Optuna storage URL or JournalFile path "
                   "(default: $BSNAS_STORAGE, else sqlite:///runs/<study>/study.db)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes on this machine")
    p.add_argument("--epochs", type=int, default=10, help="proxy training epochs per architecture")
    p.add_argument("--subset", type=int, default=None, help="proxy training images (stratified subset)")
    p.add_argument("--resolution", type=int, default=None,
                   help="proxy training images are resized to R x R (costs and budgets stay at --input-size)")
    p.add_argument("--input-size", type=size_arg, default=None, metavar="H|C,H,W",
                   help="the deployment input size budgets, costs, the front and exports refer to "
                        "(default: the data's own size)")
    p.add_argument("--val-subset", type=int, default=None, metavar="N",
                   help="score each trial on a stratified subset of N validation images (default: all)")
    p.add_argument("--batch-size", type=int, default=64, help="proxy batch size (default 64)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd", help="proxy optimiser")
    p.add_argument("--lr", type=float, default=None, help="proxy peak learning rate (default 0.1 SGD, 3e-3 AdamW)")
    p.add_argument("--fidelity", choices=FIDELITIES, default="none",
                   help="asha: judge each trial at rungs of --min-epochs * eta^k up to --max-epochs and stop the "
                        "bottom ones (multi-objective successive halving)")
    p.add_argument("--min-epochs", type=int, default=1, help="ASHA's first rung (default 1)")
    p.add_argument("--max-epochs", type=int, default=None, help="ASHA's last rung (default: --epochs)")
    p.add_argument("--eta", type=int, default=3, help="ASHA keeps the top 1/eta at each rung (default 3)")
    p.add_argument("--warm-start", default=None, metavar="baselines|FILE",
                   help="first trials: the paper's families the space expresses within budget, or a file of "
                        "architecture strings, records or baseline names")
    p.add_argument("--runs-dir", default="runs", help="where runs/<study>/ goes")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("front", help="the Pareto front of a study: table, hypervolume, plots, baselines")
    p.add_argument("--study", action="append", required=True, help="study name; repeat to compare fronts")
    p.add_argument("--storage", default=None, help="Optuna storage URL (default: $BSNAS_STORAGE, then runs/)")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--format", choices=("table", "csv", "json", "markdown"), default="table")
    p.add_argument("--plot", default=None, metavar="FILE.html|FILE.png", help="write a plot of the front")
    p.add_argument("--x", choices=("flops", "params"), default="flops", help="cost axis of the plot")
    p.add_argument("--baselines", nargs="?", const="", default=None, metavar="NAMES",
                   help="overlay the paper's families on the same proxy (comma list; default: small ones)")
    p.add_argument("--rung", type=int, default=None, metavar="EPOCHS",
                   help="with --fidelity asha: the front of all trials that reached this rung, at their accuracy there "
                        "(default: the trials trained to full fidelity)")
    p.add_argument("--device", default="auto", help="where baselines train: auto, cpu or cuda[:N]")
    p.set_defaults(func=cmd_front)

    p = sub.add_parser("export", help="export a trial or the whole front as JSON records, ONNX or pt2")
    p.add_argument("--study", required=True)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=int, help="trial number")
    which.add_argument("--front", action="store_true", help="every Pareto-optimal trial, with an index.json")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--format", default="json", help=f"comma list of {', '.join(EXPORT_FORMATS)}")
    p.add_argument("--weights", default=None, help="model.safetensors from `bsnas train` (default: initial)")
    p.add_argument("--force", action="store_true", help="overwrite files that already exist in --out")
    p.add_argument("--storage", default=None)
    p.add_argument("--runs-dir", default="runs")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("train", help="train one architecture at full length with checkpoints")
    p.add_argument("arch", help="architecture string, baseline name or JSON record")
    add_data_args(p)
    p.set_defaults(val_size=0.1)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--out", required=True, help="folder for record.json, model.safetensors, metrics.jsonl")
    p.add_argument("--test-data", default=None, help="report test accuracy on this dataset (only when given)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--resolution", type=int, default=None)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("spaces", help="list search spaces: size, FLOPs and params range, parameter names")
    p.add_argument("path", nargs="?", help="a space file or a folder of them (default: search_spaces/)")
    p.add_argument("--input-size", type=size_arg, default=None, metavar="H|C,H,W",
                   help="count FLOPs and params at this input size (default: each space's own input_size)")
    p.add_argument("--format", **fmt)
    p.set_defaults(func=cmd_spaces)
