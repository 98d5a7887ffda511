"""bsnas: neural architecture search over blueprint separable convolutions.

The public API is re-exported here, so users never need to know the
subpackages. They follow the data flow, and a lower one never imports a
higher one (``tests/test_layout.py`` holds the order)::

    arch     architectures as data: names, dataclasses, string codec, records, baselines, cost model
    space    search spaces as data: the YAML format, its choice table, sampling, exact statistics
    nn       the layer library and the model builder
    data     dataset readers, in-memory splits, batch augmentation
    training the training engine, the proxy recipe, full training, the proxy's faithfulness check
    metrics  objective and budget metrics: the registry (accuracy, FLOPs, params), normalisation
    storage  study storages: one backend per kind (check, open, lock), grouped writes, atomic failing
    samplers Optuna's samplers by name, bsnas's TPE, sampling with grouped writes, the NNI driver
    evaluators what scores an architecture: proxy, successive-halving rungs, a user's function
    study    the search: configuration, fingerprint, trial flow, claims, bookkeeping, liveness, workers
    results  the Pareto front, hypervolume, plots and exports
    api      search, front, export and train: the Python API that mirrors the command line
    cli      the ``bsnas`` command line
"""

from __future__ import annotations

from bsnas.api import export, front, search, train
from bsnas.arch import (
    ACTIVATIONS,
    BLOCK_KINDS,
    CONV_TYPES,
    Arch,
    ArchRecord,
    Block,
    Cost,
    Head,
    StageCost,
    Stem,
    as_record,
    baseline,
    count,
    count_stages,
    decode_arch,
    encode_arch,
    list_baselines,
    load_record,
)
from bsnas.data import load_data
from bsnas.errors import ArchError, BsnasError, RecordError, SearchError, SpaceError, UnknownNameError
from bsnas.evaluators import EvalContext, EvalRequest, Evaluation, Evaluator, TableEvaluator, ZeroCostEvaluator
from bsnas.metrics import METRICS, Metric, register_metric
from bsnas.nn import (
    BSConvS,
    BSConvU,
    BsnasNet,
    DSConv,
    RegularConv,
    Replacement,
    build_model,
    create_conv,
    create_model,
    reg_loss,
    replace_convs,
)
from bsnas.results import hypervolume, pareto_front
from bsnas.results.kernels import init_control, kernel_stats
from bsnas.results.op_shares import op_shares
from bsnas.space import describe_space, load_space, sample_arch
from bsnas.status import Status
from bsnas.study import SearchConfig, run_search
from bsnas.tables import nas_bench_macro
from bsnas.training import ProxyConfig, train_proxy, zero_cost_scores
from bsnas.version import __version__ as __version__

__all__ = [
    "ACTIVATIONS", "BLOCK_KINDS", "CONV_TYPES", "Arch", "ArchError", "ArchRecord", "BSConvS", "BSConvU", "Block",
    "BsnasError", "BsnasNet", "Cost", "DSConv", "Head", "ProxyConfig", "RecordError", "RegularConv", "Replacement",
    "SearchConfig", "SearchError", "SpaceError", "StageCost", "Stem", "UnknownNameError", "as_record", "baseline",
    "build_model", "count", "count_stages", "create_conv", "create_model", "decode_arch", "describe_space",
    "encode_arch", "hypervolume", "list_baselines", "load_data", "load_record", "load_space", "pareto_front",
    "reg_loss", "replace_convs", "run_search", "sample_arch", "train_proxy", "search", "front", "export", "train",
    "init_control", "kernel_stats", "op_shares", "EvalContext", "EvalRequest", "Evaluation", "Evaluator", "METRICS",
    "Metric", "register_metric", "Status", "TableEvaluator", "ZeroCostEvaluator", "nas_bench_macro", "zero_cost_scores",
]
