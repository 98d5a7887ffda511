"""The ``bsnas`` command line. Errors print one line and exit 2; ``--debug`` shows the traceback."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from bsnas.baselines import baseline, list_baselines
from bsnas.codec import decode_arch
from bsnas.cost import count_stages
from bsnas.errors import BsnasError
from bsnas.record import ArchRecord, load_record
from bsnas.version import __version__

__all__ = ["main", "resolve_arch"]


def resolve_arch(spec: str, num_classes: int | None = None,
                 input_size: tuple[int, int, int] | None = None) -> ArchRecord:
    """An ARCH argument: a JSON record path, a baseline name or an architecture string.

    ``num_classes`` and ``input_size``, when given, override the record's.
    """
    if spec.endswith(".json") or Path(spec).is_file():
        record = load_record(spec)
    elif spec.startswith("cifar_"):
        record = baseline(spec)
    elif spec.startswith("stem"):
        record = ArchRecord(decode_arch(spec))
    else:
        raise BsnasError(f"cannot read architecture {spec!r}: give a record file (*.json), a baseline name "
                         "(see `bsnas baselines`) or an architecture string starting with 'stem'")
    return ArchRecord(record.arch, input_size or record.input_size, num_classes or record.num_classes,
                      record.name, record.extra)


def _emit(df: pd.DataFrame, fmt: str, extra: dict | None = None) -> None:
    if fmt == "json":
        payload = {**(extra or {}), "rows": df.to_dict(orient="records")}
        print(json.dumps(payload, indent=2))
    elif fmt == "csv":
        print(df.to_csv(index=False), end="")
    else:
        for key, value in (extra or {}).items():
            print(f"{key}: {value}")
        print(df.to_string(index=False))


def _size(text: str) -> tuple[int, int, int]:
    try:
        size = tuple(int(v) for v in text.lower().replace("x", ",").split(","))
    except ValueError:
        size = ()
    if len(size) != 3 or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected C,H,W such as 3,32,32, but got {text!r}")
    return size


def cmd_profile(args: argparse.Namespace) -> None:
    record = resolve_arch(args.arch, args.num_classes, args.input_size)
    rows = count_stages(record.arch, record.input_size, record.num_classes)
    df = pd.DataFrame([{"stage": r.name, "blocks": r.blocks, "out_shape": "x".join(map(str, r.out_shape)),
                        "flops": r.flops, "params": r.params} for r in rows])
    flops, params = int(df.flops.sum()), int(df.params.sum())
    extra = {"arch": record.arch_string, "input_size": list(record.input_size),
             "num_classes": record.num_classes, "flops": flops, "params": params}
    if args.verify:
        from bsnas.profiling import fvcore_flops

        model = record.build()
        extra["fvcore_flops"] = fvcore_flops(model, record.input_size)
        extra["built_params"] = sum(p.numel() for p in model.parameters())
        if (extra["fvcore_flops"], extra["built_params"]) != (flops, params):
            raise BsnasError(f"analytic count ({flops}, {params}) differs from the built model "
                             f"({extra['fvcore_flops']}, {extra['built_params']}); please report this bug")
    _emit(df, args.format, extra)


def cmd_baselines(args: argparse.Namespace) -> None:
    rows = []
    for name in list_baselines():
        if args.filter and args.filter not in name:
            continue
        record = baseline(name, args.num_classes)
        cost = record.count()
        rows.append({"name": name, "mflops": round(cost.flops / 1e6, 2), "params": cost.params,
                     "flops": cost.flops})
    if not rows:
        raise BsnasError(f"no baseline name contains {args.filter!r}; run `bsnas baselines` to list them")
    _emit(pd.DataFrame(rows), args.format)


def _add_proxy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="digits", help="dataset spec: digits, npz:PATH, folder:PATH, cifar10:PATH, ...")
    p.add_argument("--val-size", type=float, default=0.2, help="validation fraction (or count if >= 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")


def _val_size(value: float) -> float | int:
    return int(value) if value >= 1 else value


def cmd_proxy(args: argparse.Namespace) -> None:
    from bsnas.data import load_data
    from bsnas.proxy import ProxyConfig, resolve_device, train_proxy

    config = ProxyConfig(epochs=args.epochs, subset=args.subset, batch_size=args.batch_size, seed=args.seed,
                         optimizer=args.optimizer, lr=args.lr, label_smoothing=args.label_smoothing,
                         device=args.device)
    data = load_data(args.data, resolution=args.resolution, val_size=_val_size(args.val_size), seed=args.seed,
                     test_spec=args.test_data, device=resolve_device(args.device))
    record = resolve_arch(args.arch, data.num_classes, data.input_size)
    result = train_proxy(record.arch, data, config, progress=args.format == "table" and sys.stderr.isatty())
    cost = record.count()
    metrics = {"arch": record.arch_string, "flops": cost.flops, "params": cost.params, **result.to_dict()}
    settings = metrics.pop("settings")
    if args.format == "json":
        print(json.dumps({**metrics, "settings": settings}, indent=2))
    else:
        for key, value in metrics.items():
            if value is not None:
                print(f"{key}: {round(value, 4) if isinstance(value, float) else value}")
    if result.diverged:
        raise BsnasError(f"training diverged: {result.diverged}")


def cmd_proxy_check(args: argparse.Namespace) -> None:
    from bsnas.proxy_check import parse_budget, proxy_check

    specs = list(args.archs)
    if args.archs_file:
        specs += [line.strip() for line in Path(args.archs_file).read_text().splitlines()
                  if line.strip() and not line.startswith("#")]
    if args.baselines:
        specs += [n for n in list_baselines() if args.baselines in n]
    archs = [resolve_arch(s).arch for s in specs]
    check = proxy_check(archs, args.data, parse_budget(args.proxy), parse_budget(args.reference),
                        _val_size(args.val_size), args.seed, progress=args.format == "table")
    def num(v: float) -> float | None:  # a constant column leaves the correlation undefined
        return None if v != v else round(v, 4)

    summary = {"spearman": num(check.spearman), "kendall": num(check.kendall),
               "time_ratio": round(check.time_ratio, 4), "flop_ratio": round(check.flop_ratio, 4),
               "proxy": args.proxy, "reference": args.reference, "data": args.data}
    _emit(check.table.round(4), args.format, summary)


def _trial_line(t) -> str:
    a = t.user_attrs
    cost = f"{a.get('flops', 0) / 1e6:7.3f} MFLOPs {a.get('params', 0) / 1e6:7.4f} Mparams" if "flops" in a else ""
    status = a.get("status", "failed") if t.state.name == "COMPLETE" else t.state.name.lower()
    if status in ("trained", "reused"):
        extra = f"acc {a['accuracy']:.4f}" + (f" (reused #{a['reused_from']})" if status == "reused" else
                                              f" {a.get('train_time', 0):5.1f}s")
    elif status == "infeasible":
        extra = "over budget, not trained"
    else:
        extra = a.get("fail_reason", "")
    return f"#{t.number:<4d} {status:10s} {cost}  {extra}  {a.get('arch', '')}"


def cmd_search(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from bsnas.front import pareto_front
    from bsnas.search import SearchConfig, parse_amount, run_search, trained_trials

    cfg = SearchConfig(space=args.space, data=args.data, trials=args.trials,
                       objectives=tuple(o.strip() for o in args.objectives.split(",")),
                       max_flops=parse_amount(args.max_flops), max_params=parse_amount(args.max_params),
                       sampler=args.sampler, seed=args.seed, study=args.study, storage=args.storage, jobs=args.jobs,
                       epochs=args.epochs, subset=args.subset, resolution=args.resolution,
                       batch_size=args.batch_size, val_size=_val_size(args.val_size), device=args.device,
                       runs_dir=args.runs_dir)
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
    study = run_search(cfg, on_trial=on_trial)
    if bar is not None:
        bar.close()
    front = pareto_front(study)
    trained = len(trained_trials(study))
    print(f"\nstudy {cfg.study_name!r}: {trained} architectures trained, {len(study.trials)} trials, "
          f"{time.perf_counter() - start:.0f}s; Pareto front ({len(front)}):")
    shown = front.assign(accuracy=front.accuracy.round(4), mflops=front.mflops.round(3),
                         mparams=front.mparams.round(4)).drop(columns=["status", "flops", "params"])
    print(shown.to_string(index=False) if len(shown) else "(empty)")


def cmd_spaces(args: argparse.Namespace) -> None:
    from bsnas.space import find_spaces, load_space
    from bsnas.space_stats import describe_space

    target = Path(args.path) if args.path else None
    paths = find_spaces(target) if target is not None and target.is_dir() else (
        [target] if target is not None else find_spaces())
    if not paths:
        raise BsnasError(f"no *.yaml search spaces in {str(target)!r}")
    rows = []
    for path in paths:
        stats = describe_space(load_space(path))
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
        _emit(df, args.format)


def cmd_front(args: argparse.Namespace) -> None:
    from bsnas.front import hypervolume, hypervolume_history, pareto_front, trials_frame
    from bsnas.storage import load_existing_study

    studies = [load_existing_study(name, args.storage, args.runs_dir) for name in args.study]
    study = studies[0]
    front = pareto_front(study)
    hv = hypervolume(study)
    baselines = None
    if args.baselines is not None:
        from bsnas.baseline_eval import DEFAULT_BASELINES, evaluate_baselines

        names = [n for n in args.baselines.split(",") if n] or list(DEFAULT_BASELINES)
        baselines = evaluate_baselines(study, names, args.device, log=lambda m: print(m, file=sys.stderr))
    if args.plot:
        from bsnas.plots import PlotData, write_plot

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
        _emit(shown, args.format, extra)
    if baselines is not None and args.format in ("table", "markdown"):
        print("\nbaselines on the same proxy:")
        print(baselines.drop(columns="diverged").to_string(index=False))
    for other in studies[1:]:
        if args.format in ("table", "markdown"):
            print(f"\nfront of {other.study_name!r} (hypervolume {hypervolume(other):.4f}):")
            print(pareto_front(other).drop(columns=["status", "flops", "params"]).to_string(index=False))


def cmd_export(args: argparse.Namespace) -> None:
    from bsnas.export import export_front, export_trial
    from bsnas.storage import load_existing_study

    study = load_existing_study(args.study, args.storage, args.runs_dir)
    if args.front:
        index = export_front(study, args.out, args.format)
        print(f"wrote {index}")
    else:
        written = export_trial(study, args.trial, args.out, args.format, args.weights)
        print(json.dumps(written, indent=2))


def cmd_train(args: argparse.Namespace) -> None:
    from bsnas.train import train

    record = resolve_arch(args.arch)
    summary = train(record, args.data, args.epochs, args.out, test_spec=args.test_data, resume=args.resume,
                    seed=args.seed, batch_size=args.batch_size, lr=args.lr, resolution=args.resolution,
                    val_size=_val_size(args.val_size), device=args.device, progress=sys.stderr.isatty())
    print(json.dumps(summary, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bsnas", description=__doc__)
    parser.add_argument("--version", action="version", version=f"bsnas {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fmt = {"choices": ("table", "json", "csv"), "default": "table", "help": "output format"}

    p = sub.add_parser("profile", help="FLOPs, params and a per-stage table of one architecture")
    p.add_argument("arch", help="architecture string, baseline name or JSON record")
    p.add_argument("--num-classes", type=int, default=None, help="override the record's class count")
    p.add_argument("--input-size", type=_size, default=None, metavar="C,H,W", help="override the input size")
    p.add_argument("--verify", action="store_true", help="also build the model and count it with fvcore")
    p.add_argument("--format", **fmt)
    p.set_defaults(func=cmd_profile)

    p = sub.add_parser("baselines", help="the BSConv paper's CIFAR model families with FLOPs and params")
    p.add_argument("--filter", default="", help="only names containing this text")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--format", **fmt)
    p.set_defaults(func=cmd_baselines)

    p = sub.add_parser("proxy", help="train one architecture on the proxy task and print its metrics")
    p.add_argument("arch", help="architecture string, baseline name or JSON record")
    _add_proxy_args(p)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--subset", type=int, default=None, help="train on this many images (stratified)")
    p.add_argument("--resolution", type=int, default=None, help="resize images to R x R")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default 0.1 SGD, 3e-3 AdamW)")
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--test-data", default=None, help="evaluate on this dataset too (only when given)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=cmd_proxy)

    p = sub.add_parser("proxy-check", help="rank correlation of the proxy against a longer reference budget")
    p.add_argument("archs", nargs="*", help="architecture strings, baseline names or JSON records")
    p.add_argument("--archs-file", help="a file with one architecture per line")
    p.add_argument("--baselines", default="", help="add the baselines whose names contain this text")
    _add_proxy_args(p)
    p.add_argument("--proxy", default="epochs=2", help="proxy budget, e.g. epochs=2,subset=5000,resolution=16")
    p.add_argument("--reference", default="epochs=20", help="reference budget, same keys")
    p.add_argument("--format", **fmt)
    p.set_defaults(func=cmd_proxy_check)

    p = sub.add_parser("search", help="search a space for Pareto-optimal architectures (accuracy vs cost)")
    p.add_argument("--space", required=True, help="search space YAML file, or a name in search_spaces/")
    _add_proxy_args(p)
    p.add_argument("--trials", type=int, default=20, help="architectures to train in the study, in total")
    p.add_argument("--max-flops", default=None, help="hard FLOPs budget, e.g. 50M (checked before training)")
    p.add_argument("--max-params", default=None, help="hard parameter budget, e.g. 1.5M")
    p.add_argument("--objectives", default="accuracy,flops", help="accuracy,flops or accuracy,flops,params")
    p.add_argument("--sampler", choices=("tpe", "nsga2", "gp", "random"), default="tpe")
    p.add_argument("--study", default=None, help="study name (default: the space's name)")
    p.add_argument("--storage", default=None, help="Optuna storage URL or JournalFile path "
                   "(default: $BSNAS_STORAGE, else sqlite:///runs/<study>/study.db)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes on this machine")
    p.add_argument("--epochs", type=int, default=10, help="proxy training epochs per architecture")
    p.add_argument("--subset", type=int, default=None, help="proxy training images (stratified subset)")
    p.add_argument("--resolution", type=int, default=None, help="proxy input resolution R x R")
    p.add_argument("--batch-size", type=int, default=64)
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
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_front)

    p = sub.add_parser("export", help="export a trial or the whole front as JSON records, ONNX or pt2")
    p.add_argument("--study", required=True)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=int, help="trial number")
    which.add_argument("--front", action="store_true", help="every Pareto-optimal trial, with an index.json")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--format", default="json", help="comma list of json, onnx, pt2")
    p.add_argument("--weights", default=None, help="model.safetensors from `bsnas train` (default: initial)")
    p.add_argument("--storage", default=None)
    p.add_argument("--runs-dir", default="runs")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("train", help="train one architecture at full length with checkpoints")
    p.add_argument("arch", help="architecture string, baseline name or JSON record")
    _add_proxy_args(p)
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
    p.add_argument("--format", **fmt)
    p.set_defaults(func=cmd_spaces)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (BsnasError, OSError) as err:
        if args.debug:
            raise
        print(f"bsnas: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bsnas: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
