"""The study commands of the ``bsnas`` CLI: spaces, front, export and train (``search`` has its own module)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from bsnas.cli.common import FORMATS, add_data_args, add_format_arg, add_recipe_args, described, emit, size_arg
from bsnas.errors import BsnasError
from bsnas.results.export import FORMATS as EXPORT_FORMATS

__all__ = ["add_study_commands", "front_rows"]

FRONT_COLUMNS = ["study", "source", "trial", "name", "accuracy", "flops", "params", "mflops", "mparams", "latency",
                 "measured_ms", "mix", "arch"]


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


def front_rows(fronts: dict[str, pd.DataFrame], baselines: pd.DataFrame | None, study: str,
               quality: str = "accuracy") -> pd.DataFrame:
    """Every study's front and the baselines as one table, exact integer FLOPs and params, with a source;
    ``quality`` names the column of the studies' first objective (``accuracy`` or a zero-cost score)."""
    parts = [f.assign(study=name, source="search", name=None) for name, f in fronts.items()]
    if baselines is not None and len(baselines):
        parts.append(baselines.assign(study=study, source="baseline", trial=None, mix=None, arch=None,
                                      mflops=baselines.flops / 1e6, mparams=baselines.params / 1e6))
    columns = [quality if c == "accuracy" else c for c in FRONT_COLUMNS]
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    optional = ("latency", "measured_ms")
    rows = rows.reindex(columns=[c for c in columns if c not in optional or c in rows])
    return rows.astype({"flops": "int64", "params": "int64"}) if len(rows) else rows


def _table(df: pd.DataFrame, markdown: bool) -> str:
    return df.to_markdown(index=False) if markdown else df.to_string(index=False)


def _with_measured_latency(study, front: pd.DataFrame) -> pd.DataFrame:
    """``front`` with ``measured_ms``: each network measured end to end under the study's latency settings."""
    from bsnas.arch.codec import decode_arch
    from bsnas.latency.fingerprint import check_same, device_fingerprint
    from bsnas.latency.measure import network_ms

    fp = study.user_attrs.get("latency_fingerprint")
    if not fp:
        raise BsnasError(f"study {study.study_name!r} measured no latency; --measure needs a search with a latency "
                         "objective or budget (--objectives accuracy,latency, --max-latency)")
    here = device_fingerprint(fp["backend"], fp["threads"], fp["batch"], fp["device"])
    for warning in check_same(fp, here, f"study {study.study_name!r}'s latency table", allow_foreign=True):
        print(warning, file=sys.stderr)
    info = study.user_attrs.get("data_info") or {}
    size, classes = tuple(info.get("input_size") or (3, 32, 32)), int(info.get("num_classes", 10))
    measured = [round(network_ms(decode_arch(a), size, classes, fp, fp["device"]), 4) for a in front.arch]
    front = front.assign(measured_ms=measured)
    order = [c for c in front.columns if c != "measured_ms"]
    order.insert(order.index("latency") + 1 if "latency" in order else len(order), "measured_ms")
    return front[order]


def cmd_front(args: argparse.Namespace) -> None:
    from bsnas.results.front import hypervolume, hypervolume_history, pareto_front, quality_of, trials_frame
    from bsnas.storage import load_existing_study

    studies = [load_existing_study(name, args.storage, args.runs_dir) for name in args.study]
    study = studies[0]
    quality = quality_of(study)
    for other in studies[1:]:
        if quality_of(other) != quality:
            raise BsnasError(f"study {other.study_name!r} ranks by {quality_of(other)} and {study.study_name!r} by "
                             f"{quality}; compare fronts of studies with the same first objective")
    fronts = {s.study_name: pareto_front(s, rung=args.rung) for s in studies}
    if args.measure:
        fronts[study.study_name] = _with_measured_latency(study, fronts[study.study_name])
    front, hv = fronts[study.study_name], hypervolume(study)
    baselines = None
    if args.baselines is not None:
        from bsnas.study.baselines import DEFAULT_BASELINES, evaluate_baselines

        names = [n for n in args.baselines.split(",") if n] or list(DEFAULT_BASELINES)
        baselines = evaluate_baselines(study, names, args.device, log=lambda m: print(m, file=sys.stderr))
    if args.plot:
        from bsnas.results.plots import PlotData, write_plot

        trials = trials_frame(study)
        data = PlotData(study.study_name, trials[trials.status == "trained"], front, hypervolume_history(study),
                        baselines, {name: f for name, f in fronts.items() if name != study.study_name}, quality)
        write_plot(data, args.plot, args.x)
        print(f"wrote {args.plot}", file=sys.stderr)
    shares = None
    if args.by_op:
        from bsnas.results.op_shares import op_shares

        shares = op_shares(study, args.by_op)
    if args.format in ("csv", "json"):
        rows = front_rows(fronts, baselines, study.study_name, quality)
        if args.format == "csv":
            print(rows.to_csv(index=False), end="")
            return
        payload = {"study": study.study_name, "front_size": len(front), "hypervolume": round(hv, 6),
                   "hypervolumes": {s.study_name: round(hypervolume(s), 6) for s in studies},
                   "hypervolume_reference": ("error 1-accuracy" if quality == "accuracy" else
                                             f"{quality} by the study's range (best 0, worst 1)")
                                            + ", flops/max_flops, params/max_params of the space; ref (1,..,1)",
                   "rows": json.loads(rows.to_json(orient="records"))}
        if shares is not None:
            from bsnas.results.op_shares import op_shares_json

            payload["op_shares"] = op_shares_json(shares)
        print(json.dumps(payload, indent=2))
        return
    markdown = args.format == "markdown"
    def shown(f: pd.DataFrame) -> pd.DataFrame:
        f = f.assign(**{quality: f[quality].round(4)}, mflops=f.mflops.round(4), mparams=f.mparams.round(5))
        if "latency" in f:
            f = f.assign(latency=f.latency.astype(float).round(4)).rename(columns={"latency": "latency_ms"})
        return f.drop(columns=["status", "flops", "params"])

    print(f"Pareto front of {study.study_name!r}: {len(front)} architectures, hypervolume {hv:.4f}\n")
    print(_table(shown(front), markdown))
    if baselines is not None:
        print("\nbaselines, " + ("on the same proxy" if quality == "accuracy" else f"scored by {quality}") + ":\n")
        print(_table(baselines.drop(columns="diverged").assign(mflops=(baselines.flops / 1e6).round(4)), markdown))
    for other in studies[1:]:
        print(f"\nfront of {other.study_name!r} (hypervolume {hypervolume(other):.4f}):\n")
        print(_table(shown(fronts[other.study_name]), markdown))
    if shares is not None:
        from bsnas.results.op_shares import format_op_shares

        print(f"\nconv types on the front against all trained architectures (by {args.by_op}):\n")
        print(format_op_shares(shares, args.format))


def cmd_export(args: argparse.Namespace) -> None:
    from bsnas.results.export import export_front, export_trial
    from bsnas.storage import load_existing_study

    study = load_existing_study(args.study, args.storage, args.runs_dir)
    if args.front:
        index = export_front(study, args.out, args.format, force=args.force)
        print(json.dumps(json.loads(Path(index).read_text()), indent=2))
    else:
        written = export_trial(study, args.trial, args.out, args.format, args.weights, force=args.force,
                               allow_stopped=args.allow_stopped)
        print(json.dumps(written, indent=2))


def cmd_train(args: argparse.Namespace) -> None:
    from bsnas.training.full import train

    summary = train(args.arch, args.data, args.epochs, args.out, test_spec=args.test_data, resume=args.resume,
                    seed=args.seed, batch_size=args.batch_size, lr=args.lr, resolution=args.resolution,
                    val_size=args.val_size, device=args.device, amp=args.amp, progress=sys.stderr.isatty())
    if args.format == "json":
        print(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            print(f"{key}: {round(value, 4) if isinstance(value, float) else value}")


def _add_front(sub) -> None:
    p = described(sub, "front", "the Pareto front of a study: table, hypervolume, plots, baselines",
                  "Print the Pareto-optimal trials of a study (feasible, trained to full fidelity, each "
                  "architecture once) sorted by FLOPs, with the hypervolume. Optionally plot them, overlay the "
                  "paper's hand-designed networks trained on the study's own proxy (cached in the study), "
                  "compare other studies' fronts, or count the conv types on the front.",
                  "bsnas front --study quickstart --plot front.png --baselines")
    p.add_argument("--study", action="append", required=True, help="study name; repeat to compare fronts")
    p.add_argument("--storage", default=None, help="Optuna storage URL (default: $BSNAS_STORAGE, then runs/)")
    p.add_argument("--runs-dir", default="runs", help="where runs/<study>/ is (default runs)")
    p.add_argument("--format", choices=(*FORMATS, "markdown"), default="table",
                   help="table, csv or json (exact integer flops and params, every --study, baseline rows "
                        "with source=baseline), or markdown")
    p.add_argument("--plot", default=None, metavar="FILE.html|FILE.png", help="write a plot of the front")
    p.add_argument("--x", choices=("flops", "params", "latency"), default="flops",
                   help="cost axis of the plot (latency: ms from the study's latency table)")
    p.add_argument("--measure", action="store_true",
                   help="measure the front's networks end to end under the study's latency settings and print the "
                        "measured latency beside the table's prediction")
    p.add_argument("--baselines", nargs="?", const="", default=None, metavar="NAMES",
                   help="overlay the paper's families on the same proxy (comma list; default: small ones)")
    p.add_argument("--rung", type=int, default=None, metavar="EPOCHS",
                   help="with --fidelity asha: the front of all trials that reached this rung, at their accuracy "
                        "there (default: the trials trained to full fidelity)")
    p.add_argument("--by-op", choices=("blocks", "flops"), default=None,
                   help="also give each conv type's share on the front against all trained architectures and the "
                        "ratio; blocks weigh 1 each, flops weigh each block by its FLOPs")
    p.add_argument("--device", default="auto", help="where baselines train: auto, cpu or cuda[:N]")
    p.set_defaults(func=cmd_front)


def _add_export(sub) -> None:
    p = described(sub, "export", "export a trial or the whole front as JSON records, ONNX or pt2",
                  "Write a trial's architecture (or every Pareto-optimal one, with an index.json) as a "
                  "self-describing JSON record with its preprocessing, as a single-file ONNX model checked "
                  "under onnxruntime, and/or as a torch.export program. Existing files are kept unless --force. "
                  "Prints what was written as JSON.",
                  "bsnas export --study quickstart --trial 14 --out runs/ship --format json,onnx --weights "
                  "runs/train/model.safetensors")
    p.add_argument("--study", required=True, help="study name")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=int, help="trial number (see `bsnas front`)")
    which.add_argument("--front", action="store_true", help="every Pareto-optimal trial, with an index.json")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--format", default="json", help=f"comma list of file formats: {', '.join(EXPORT_FORMATS)}")
    p.add_argument("--weights", default=None, help="model.safetensors from `bsnas train` (default: initial)")
    p.add_argument("--force", action="store_true", help="overwrite files that already exist in --out")
    p.add_argument("--allow-stopped", action="store_true",
                   help="with --trial: also export a trial that successive halving stopped below the top rung "
                        "(its architecture, with its low-rung metrics)")
    p.add_argument("--storage", default=None, help="Optuna storage URL (default: $BSNAS_STORAGE, then runs/)")
    p.add_argument("--runs-dir", default="runs", help="where runs/<study>/ is (default runs)")
    p.set_defaults(func=cmd_export)


def _add_train(sub) -> None:
    p = described(sub, "train", "train one architecture at full length with checkpoints",
                  "Train an architecture string, baseline name or record at full length (SGD with Nesterov, "
                  "warm-up and cosine decay, crop and flip, label smoothing 0.1, the BSConv-S regulariser), "
                  "saving weights, optimiser and random state after every epoch. A killed run continues with "
                  "--resume; a finished one continues to a larger --epochs.",
                  "bsnas train runs/export/quickstart-trial14.json --data digits --epochs 30 --out runs/train")
    p.add_argument("arch", help="architecture string, baseline name or JSON record")
    add_data_args(p)
    p.set_defaults(val_size=0.1)
    p.add_argument("--epochs", type=int, required=True, help="epochs to train (in total, when resuming)")
    p.add_argument("--out", required=True, help="folder for record.json, model.safetensors, metrics.jsonl")
    p.add_argument("--test-data", default=None, help="report test accuracy on this dataset (only when given)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    add_recipe_args(p, "training")
    p.add_argument("--format", choices=FORMATS[:2], default="json", help="json (default) or table")
    p.set_defaults(func=cmd_train)


def _add_spaces(sub) -> None:
    p = described(sub, "spaces", "list search spaces: size, FLOPs and params range, parameter names",
                  "List the search spaces with the exact number of architectures and the exact smallest and "
                  "largest FLOPs and params (computed, not sampled), and the parameter names they expose.",
                  "bsnas spaces --input-size 224")
    p.add_argument("path", nargs="?", help="a space file or a folder of them (default: search_spaces/)")
    p.add_argument("--input-size", type=size_arg, default=None, metavar="H|C,H,W",
                   help="count FLOPs and params at this input size (default: each space's own input_size)")
    add_format_arg(p)
    p.set_defaults(func=cmd_spaces)


def add_study_commands(sub) -> None:
    _add_front(sub)
    _add_export(sub)
    _add_train(sub)
    _add_spaces(sub)
