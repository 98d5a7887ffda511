"""The analysis commands of the ``bsnas`` CLI: kernels (the paper's intra-kernel correlation analysis)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bsnas.arch.resolve import RECORD_FILE
from bsnas.cli.common import described, emit
from bsnas.errors import BsnasError

__all__ = ["add_analysis_commands", "cmd_kernels"]

KERNELS_DESCRIPTION = (
    "Measure how strongly the kernels inside each filter of a trained network are correlated, as in the BSConv "
    "paper: for every k×k conv with groups == 1, the share of variance that the first (and first two) principal "
    "components of a filter's kernels explain, and the relative error of the best 'one blueprint × one weight per "
    "input channel' approximation, the structure BSConv-U represents. The same numbers for the architecture at "
    "initialisation (seeded, --seed) are the control. 1x1, depthwise and grouped convs, and convs with one input "
    "channel, are skipped and listed.")

#: Short column names for the table format.
_SHOWN = {"layer": "layer", "kernel": "kernel", "in_channels": "in", "out_channels": "out", "pc1_mean": "pc1",
          "pc1_median": "pc1_med", "pc12_mean": "pc12", "blueprint_error_mean": "bp_err",
          "blueprint_error_median": "bp_err_med", "init_pc1_mean": "init_pc1",
          "init_blueprint_error_mean": "init_bp_err"}


def _load(model: str, weights: str | None) -> tuple:
    """The trained model and the path of its weights."""
    from bsnas.nn.model import WEIGHTS_FILE, create_model

    path = Path(model)
    fix = (f"give a `bsnas train` output folder ({RECORD_FILE} + {WEIGHTS_FILE}) or a JSON record with "
           "--weights FILE.safetensors")
    if not path.exists():
        raise BsnasError(f"model {model!r} does not exist; {fix}")
    if path.is_dir() and not (path / RECORD_FILE).is_file():
        raise BsnasError(f"folder {model!r} holds no {RECORD_FILE}, so it is not a `bsnas train` output folder; {fix}")
    if weights is None and path.is_dir() and not (path / WEIGHTS_FILE).is_file():
        raise BsnasError(f"run folder {model!r} holds no {WEIGHTS_FILE}; pass --weights FILE.safetensors, or "
                         "train it first with `bsnas train ... --out` that folder")
    if weights is None and path.is_file():
        raise BsnasError(f"record {model!r} comes without weights, and an untrained network only shows its "
                         "initialisation; pass --weights FILE.safetensors (written by `bsnas train`), or give the "
                         "run folder instead of the record")
    return create_model(path, weights), str(weights or path / WEIGHTS_FILE)


def _summary_line(label: str, s: dict) -> str:
    if not s["filters"]:
        return f"{label}: no filter analysed"
    convs = f"{s['layers']} conv" + ("s" if s["layers"] != 1 else "")
    return (f"{label}: {convs}, {s['filters']} filters; PC1 share mean {s['pc1_mean']:.4f} "
            f"(median {s['pc1_median']:.4f}, per weight {s['pc1_weighted']:.4f}); PC1+2 mean "
            f"{s['pc12_mean']:.4f}; blueprint error mean {s['blueprint_error_mean']:.4f} (median "
            f"{s['blueprint_error_median']:.4f}, over all weights {s['blueprint_error_total']:.4f})")


def cmd_kernels(args: argparse.Namespace) -> None:
    from bsnas.results.kernels import compare_layers, init_control, kernel_stats, plot_kernel_stats

    if args.seed < 0:
        raise BsnasError(f"--seed must be a non-negative integer, but got {args.seed}; pass 0 or larger")
    model, weights = _load(args.model, args.weights)
    trained = kernel_stats(model)
    init = init_control(model, seed=args.seed)
    if args.plot:
        plot_kernel_stats(trained, init, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    table = compare_layers(trained, init)
    about = {"model": args.model, "weights": weights, "arch": _arch_string(model), "init_seed": args.seed}
    if args.format == "json":
        data = trained.to_dict()
        rows = table.astype(object).where(table.notna(), None)  # NaN (a degenerate layer) is null in JSON
        emit(rows, "json", {**about, "summary": data["summary"], "init_summary": init.to_dict()["summary"],
                            "skipped": data["skipped"]})
        return
    if table.empty:
        for key, value in about.items():
            print(f"{key}: {value}")
        print("no conv with k×k kernels, groups == 1 and two or more input channels to analyse")
    else:
        emit(table[list(_SHOWN)].rename(columns=_SHOWN).round(4), "table", about)
    print()
    print(_summary_line("trained", trained.summary))
    print(_summary_line(f"initialisation (seed {args.seed})", init.summary))
    if len(trained.skipped):
        print(f"skipped {len(trained.skipped)} convs:")
        for reason, part in trained.skipped.groupby("reason", sort=False):
            print(f"  {reason} ({len(part)}): {', '.join(part.layer)}")


def _arch_string(model) -> str | None:
    from bsnas.arch.codec import encode_arch

    arch = getattr(model, "arch", None)
    return encode_arch(arch) if arch is not None else None


def add_analysis_commands(sub) -> None:
    p = described(sub, "kernels", "the BSConv paper's intra-kernel correlation analysis of a trained network",
                  KERNELS_DESCRIPTION, "bsnas kernels runs/train --plot kernels.png")
    p.add_argument("model", metavar="MODEL",
                   help="a `bsnas train` output folder (record.json + model.safetensors) or a JSON record "
                        "(then --weights is needed)")
    p.add_argument("--weights", default=None, metavar="FILE.safetensors",
                   help="trained weights for MODEL (default: the run folder's model.safetensors)")
    p.add_argument("--format", choices=("table", "json"), default="table",
                   help="table: per-layer table and summaries; json: everything, per layer and per model")
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="write a PNG of PC1 share and blueprint error per layer, trained against initialisation")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the freshly initialised copy used as the control (default 0)")
    p.set_defaults(func=cmd_kernels)
