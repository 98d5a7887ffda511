"""Which conv types the Pareto front prefers: each type's share on the front against its share in all trials.

:func:`op_shares` returns one row per conv type (``regular``, ``dsc``,
``bsconv_u``, ``bsconv_s``):

* ``front_share``: the type's share in the Pareto-optimal architectures;
* ``all_share``: its share in all trained architectures (front included);
* ``enrichment``: ``front_share / all_share``; above 1 the front uses the type more than the search
  tried it, below 1 less; NaN when the search never tried it.

Only trials with ``status == "trained"`` count: reused duplicates, infeasible (over-budget), stopped
(successive halving) and failed trials do not, and each architecture counts once.

A share is a mean over architectures, each architecture weighing the same: first the share of the
type inside one architecture, then the mean of that over the front (or over all trained trials). So a
large network does not outweigh a small one.

Inside one architecture, the weight of a block is

* ``by="blocks"``: 1; every block of :meth:`bsnas.Arch.flat_blocks`, the stem's conv block included,
  repeats (``r3``) counted once per copy: exactly the trial's ``conv_mix``;
* ``by="flops"``: its exact FLOPs at the study's deployment input size
  (``study.user_attrs["data_info"]["input_size"]``), from :func:`bsnas.arch.tally.block_cost` with the
  feature map size carried from block to block: everything inside the block counts (its convs, BatchNorms,
  squeeze-excitation, a residual block's shortcut conv), in fvcore's convention as :func:`bsnas.count`.
  The data BatchNorm, the head, the classifier and ``skip`` blocks (identity layers and their 1×1
  projections) belong to no conv type and are left out.
"""

from __future__ import annotations

import json
from typing import Any

import optuna
import pandas as pd

from bsnas.arch.codec import decode_arch, encode_arch
from bsnas.arch.names import CONV_TYPES
from bsnas.arch.spec import Arch
from bsnas.arch.tally import block_cost, stage_costs
from bsnas.errors import BsnasError
from bsnas.results.front import pareto_front, trials_frame

__all__ = ["BY", "arch_op_weights", "format_op_shares", "op_shares", "op_shares_json"]

#: What a block weighs: one each, or its FLOPs.
BY = ("blocks", "flops")


def arch_op_weights(arch: Arch, by: str = "blocks", input_size: tuple[int, int, int] = (3, 32, 32)) -> dict[str, int]:
    """Blocks (``by="blocks"``) or block FLOPs (``by="flops"``, at ``input_size``) of each conv type in ``arch``.

    Every call checks that the block FLOPs add up to the cost model's stages less the data BatchNorm, so this
    walk and :func:`bsnas.count` cannot drift apart silently.
    """
    _check_by(by)
    channels, h, w = input_size
    hw = (h, w)
    totals = dict.fromkeys(CONV_TYPES, 0)
    block_flops = 0
    for fb in arch.flat_blocks(channels):
        flops, _, hw = block_cost(fb.block, fb.in_channels, hw)
        if fb.stage == 0 and getattr(arch.stem, "pool", None) is not None:  # the stem's stride-2 max-pool
            hw = ((hw[0] - 1) // 2 + 1, (hw[1] - 1) // 2 + 1)
        if fb.block.kind != "skip":  # an identity layer (and its projection) has no conv type
            totals[fb.block.op] += 1 if by == "blocks" else flops
        block_flops += flops
    rows = stage_costs(arch, tuple(input_size), 1)
    expected = sum(r.flops for r in rows[:-1]) - (2 * channels * h * w if arch.stem.data_bn else 0)
    if block_flops != expected:  # the blocks must add up to the cost model's stages, data BN left out
        raise BsnasError(f"block FLOPs {block_flops} of {encode_arch(arch)!r} differ from the cost model's "
                         f"{expected}; please report this bug")
    return totals


def _check_by(by: str) -> None:
    if by not in BY:
        raise BsnasError(f"conv-type shares are by {' or '.join(BY)}, but got {by!r}; pass --by-op blocks or flops")


def _mean_shares(archs: list[str], by: str, input_size: tuple[int, int, int]) -> dict[str, float]:
    sums = dict.fromkeys(CONV_TYPES, 0.0)
    for text in archs:
        weights = arch_op_weights(decode_arch(text), by, input_size)
        total = sum(weights.values())
        for op, value in weights.items():
            sums[op] += value / total
    return {op: value / len(archs) for op, value in sums.items()}


def op_shares(study: optuna.Study, by: str = "blocks",
              input_size: tuple[int, int, int] | None = None) -> pd.DataFrame:
    """Each conv type's share on the Pareto front, among all trained trials, and the enrichment ratio.

    Columns ``op``, ``front_share``, ``all_share``, ``enrichment``; ``df.attrs`` holds ``by``, ``front``
    and ``trained`` (how many architectures each share averages over) and ``input_size`` (for FLOPs).
    ``input_size`` overrides the study's stored deployment size. See the module docstring for the
    weighting.
    """
    _check_by(by)
    if input_size is None:
        stored = (study.user_attrs.get("data_info") or {}).get("input_size")
        if by == "flops" and not stored:
            raise BsnasError(f"study {study.study_name!r} stores no data_info.input_size, which FLOP shares need; "
                             "pass input_size=(C, H, W) or use by='blocks'")
        input_size = tuple(stored) if stored else (3, 32, 32)
    trials = trials_frame(study)
    trained = trials[trials.status == "trained"].drop_duplicates("arch") if len(trials) else trials
    if trained.empty:
        raise BsnasError(f"study {study.study_name!r} has no trained trials, so there is no front to compare; "
                         "run or resume the search first")
    front = pareto_front(study)
    front_shares = _mean_shares(list(front.arch), by, input_size)
    all_shares = _mean_shares(list(trained.arch), by, input_size)
    rows = [{"op": op, "front_share": front_shares[op], "all_share": all_shares[op],
             "enrichment": front_shares[op] / all_shares[op] if all_shares[op] else float("nan")}
            for op in CONV_TYPES]
    df = pd.DataFrame(rows, columns=["op", "front_share", "all_share", "enrichment"])
    df.attrs.update({"by": by, "front": len(front), "trained": len(trained), "input_size": list(input_size)})
    return df


def _heading(df: pd.DataFrame) -> str:
    a = df.attrs
    size = f" at {'x'.join(map(str, a['input_size']))}" if a.get("by") == "flops" else ""
    return (f"conv types by {a.get('by')}{size}: share on the front ({a.get('front')} architectures) against all "
            f"{a.get('trained')} trained architectures, each architecture weighing the same")


def op_shares_json(df: pd.DataFrame) -> dict[str, Any]:
    """The table of :func:`op_shares` as a JSON-ready dict (NaN enrichment becomes ``None``)."""
    rows = [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            for row in df.to_dict(orient="records")]
    return {**df.attrs, "rows": rows}


def format_op_shares(df: pd.DataFrame, fmt: str = "table") -> str:
    """What ``bsnas front --by-op`` prints: ``table`` and ``markdown`` (a heading line, shares in percent,
    enrichment to two decimals), ``csv`` (raw numbers) or ``json`` (:func:`op_shares_json`)."""
    if fmt == "json":
        return json.dumps(op_shares_json(df), indent=2)
    if fmt == "csv":
        return df.to_csv(index=False)
    shown = pd.DataFrame({"op": df.op, "front": [f"{v:.1%}" for v in df.front_share],
                          "all trained": [f"{v:.1%}" for v in df.all_share],
                          "enrichment": ["-" if v != v else f"{v:.2f}" for v in df.enrichment]})
    if fmt == "markdown":
        return f"{_heading(df)}\n\n{shown.to_markdown(index=False)}"
    if fmt == "table":
        return f"{_heading(df)}\n{shown.to_string(index=False)}"
    raise BsnasError(f"format must be table, markdown, csv or json, but got {fmt!r}")
