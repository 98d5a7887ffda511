"""Export discovered architectures: JSON records, ONNX (checked with onnxruntime) and torch.export programs.

``pt2`` is a ``torch.export`` program (``torch.export.save``). It stands in
for TorchScript, which PyTorch has deprecated in its favour: the program is
a traced, Python-free graph that ``torch.export.load`` runs and that
ExecuTorch and AOTInductor compile.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import torch

from bsnas.arch.codec import decode_arch
from bsnas.arch.record import ArchRecord
from bsnas.errors import BsnasError, require
from bsnas.files import atomic_write_text, check_name
from bsnas.nn.model import create_model
from bsnas.results.front import pareto_front, quality_of
from bsnas.status import Status, status_of
from bsnas.version import __version__

__all__ = ["FORMATS", "export_front", "export_onnx", "export_pt2", "export_trial", "trial_record"]

FORMATS = ("json", "onnx", "pt2")
ONNX_TOLERANCE = 1e-4
#: protobuf caps one file at 2 GB: smaller models are written as one self-contained .onnx file.
ONNX_SINGLE_FILE_LIMIT = 1_900_000_000


def _not_exportable(study: optuna.Study, t, status: Status) -> str:
    where = f"trial {t.number} of study {study.study_name!r}"
    if status in (Status.STOPPED, Status.REUSED_STOPPED):
        return (f"{where} was stopped by successive halving at the {t.user_attrs.get('rung')}-epoch rung and has no "
                f"full-fidelity result; pick a trial from `bsnas front`, or export it anyway with --allow-stopped "
                f"(allow_stopped=True) to get its architecture and low-rung metrics")
    if status is Status.INFEASIBLE:
        return f"{where} is infeasible (over budget) and was never trained; pick an evaluated trial from `bsnas front`"
    reason = t.user_attrs.get("fail_reason") or {Status.SURPLUS: "it stepped back: the target was already reached"
                                                 }.get(status, "no reason recorded")
    return f"{where} is {t.state.name} ({reason}); pick an evaluated trial from `bsnas front`"


#: What an exported record keeps of a trained trial's results (a zero-cost trial keeps its score and time).
TRAINED_METRICS = ("accuracy", "val_loss", "train_time", "images_per_sec", "epochs_run")


def trial_record(study: optuna.Study, number: int, allow_stopped: bool = False) -> ArchRecord:
    """The record of an evaluated trial, with its proxy metrics and provenance. A trial that successive
    halving stopped below the top rung is refused unless ``allow_stopped``."""
    trials = study.get_trials(deepcopy=False)
    if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number < len(trials):
        raise BsnasError(f"study {study.study_name!r} has no trial {number}; it has trials 0..{len(trials) - 1} "
                         "(see `bsnas front`)")
    t = trials[number]
    status = status_of(t)
    stopped = status in (Status.STOPPED, Status.REUSED_STOPPED)
    if not (status.is_full_fidelity or (stopped and allow_stopped)) or "arch" not in t.user_attrs:
        raise BsnasError(_not_exportable(study, t, status))
    info = study.user_attrs.get("data_info") or {}
    size = tuple(info.get("input_size") or t.user_attrs.get("proxy", {}).get("input_size") or (3, 32, 32))
    a = t.user_attrs
    extra = {"preprocessing": info.get("preprocessing"),
             "metrics": {k: a.get(k) for k in (TRAINED_METRICS if quality_of(study) == "accuracy" else
                                               (quality_of(study), "zero_cost_seconds", "zero_cost_batch"))},
             "proxy": a.get("proxy"), "conv_mix": a.get("conv_mix"), "status": status.value,
             **({"latency": {"predicted_ms": a.get("latency"), "fingerprint": study.user_attrs["latency_fingerprint"]}}
                if study.user_attrs.get("latency_fingerprint") and a.get("latency") is not None else {}),
             **({"stopped_at_rung": a.get("rung")} if stopped else {}),
             "provenance": {"study": study.study_name, "trial": number, "reused_from": a.get("reused_from"),
                            "seed": a.get("seed"), "bsnas_version": __version__,
                            "searched_with": study.user_attrs.get("bsnas_version")}}
    return ArchRecord(decode_arch(a["arch"]), size, int(info.get("num_classes", 10)),
                      f"{study.study_name}-trial{number}", extra)


def _example(input_size, batch: int = 2) -> torch.Tensor:
    return torch.randn(batch, *input_size, generator=torch.Generator().manual_seed(0))


def export_onnx(model: torch.nn.Module, input_size: tuple[int, int, int], path: Path) -> float:
    """Write ONNX with a dynamic batch axis, in one file when the weights fit (under 2 GB), and return the
    largest difference to PyTorch under onnxruntime."""
    onnxruntime = require("onnxruntime", "onnx", "--format onnx")
    require("onnxscript", "onnx", "--format onnx")
    model = model.eval()
    x = _example(input_size)
    for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript"):
        logging.getLogger(name).setLevel(logging.ERROR)  # the exporter logs each optional op it skips
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        single_file = sum(p.numel() * p.element_size() for p in model.parameters()) < ONNX_SINGLE_FILE_LIMIT
        torch.onnx.export(model, (x,), str(path), dynamo=True, input_names=["input"], output_names=["logits"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False,
                          external_data=not single_file)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x3 = _example(input_size, batch=3)
    got = session.run(None, {session.get_inputs()[0].name: x3.numpy()})[0]
    with torch.no_grad():
        want = model(x3).numpy()
    diff = float(np.abs(got - want).max())
    if diff > ONNX_TOLERANCE:
        raise BsnasError(f"ONNX output differs from PyTorch by {diff:.2e} (> {ONNX_TOLERANCE}); please report this")
    return diff


def export_pt2(model: torch.nn.Module, input_size: tuple[int, int, int], path: Path) -> None:
    model = model.eval()
    program = torch.export.export(model, (_example(input_size),),
                                  dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(path))


def _parse_formats(formats) -> list[str]:
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    items = [f.strip() for f in items if f.strip()]
    bad = [f for f in items if f not in FORMATS]
    if bad or not items:
        raise BsnasError(f"export formats must be a comma list of {', '.join(FORMATS)}, but got {formats!r}")
    return items


def _files(name: str, formats: list[str]) -> list[str]:
    return [f"{name}.{fmt}" for fmt in formats]


@contextlib.contextmanager
def _output_folder(out: Path, files: list[str], force: bool) -> Iterator[None]:
    """Refuse to overwrite ``files`` in ``out`` without ``force``; after a failure, leave ``out`` as it was."""
    existing = [f for f in files if (out / f).exists()]
    if existing and not force:
        raise BsnasError(f"{out / existing[0]} already exists; pass --force to overwrite it, or pick another --out")
    if out.exists() and not out.is_dir():
        raise BsnasError(f"--out {str(out)!r} is a file, not a folder; pick another --out")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for f in files:
            if f not in existing:
                for path in (out / f, out / f"{f}.data"):
                    path.unlink(missing_ok=True)
        if created and not any(out.iterdir()):
            out.rmdir()
        raise


def _write_record(record: ArchRecord, out: Path, formats: list[str], weights: str | Path | None) -> dict:
    cost = record.count()
    written = {"name": record.name, "arch": record.arch_string, "flops": cost.flops, "params": cost.params}
    model = create_model(record, weights) if ("onnx" in formats or "pt2" in formats) else None
    if "json" in formats:
        written["json"] = str(record.save(out / f"{record.name}.json").name)
    if "onnx" in formats:
        path = out / f"{record.name}.onnx"
        written["onnx_max_abs_diff"] = export_onnx(model, record.input_size, path)
        written["onnx"] = path.name
    if "pt2" in formats:
        path = out / f"{record.name}.pt2"
        export_pt2(model, record.input_size, path)
        written["pt2"] = path.name
    written["weights"] = "trained" if weights else "initial"
    return written


def export_record(record: ArchRecord, out: str | Path, formats="json", weights: str | Path | None = None,
                  force: bool = False) -> dict:
    """Write ``<name>.json`` / ``.onnx`` / ``.pt2`` for one record into ``out``; return what was written.

    ``<name>`` is the record's name (``model`` when it has none).
    Existing files are overwritten only with ``force``; a failed export leaves ``out`` as it was.
    """
    formats, out = _parse_formats(formats), Path(out)
    record = dataclasses.replace(record, name=check_name(record.name or "model", "record name"))
    with _output_folder(out, _files(record.name, formats), force):
        return _write_record(record, out, formats, weights)


def export_trial(study: optuna.Study, number: int, out: str | Path, formats="json",
                 weights: str | Path | None = None, force: bool = False, allow_stopped: bool = False) -> dict:
    return export_record(trial_record(study, number, allow_stopped), out, formats, weights, force)


def export_front(study: optuna.Study, out: str | Path, formats="json", force: bool = False) -> Path:
    """Export every Pareto-optimal trial into ``out`` with an ``index.json`` listing them."""
    out, formats = Path(out), _parse_formats(formats)
    front = pareto_front(study)
    if front.empty:
        raise BsnasError(f"study {study.study_name!r} has no evaluated trials to export")
    records = [trial_record(study, int(t)) for t in front.trial]
    files = [f for r in records for f in _files(r.name, formats)] + ["index.json"]
    with _output_folder(out, files, force):
        quality = quality_of(study)
        entries = [{"trial": int(row.trial), quality: float(row[quality]), **_write_record(r, out, formats, None)}
                   for r, (_, row) in zip(records, front.iterrows(), strict=True)]
        index = out / "index.json"
        atomic_write_text(index, json.dumps({"study": study.study_name, "bsnas_version": __version__,
                                             "formats": formats, "front": entries}, indent=2) + "\n")
    return index
