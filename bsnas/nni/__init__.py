"""NNI's multi-trial strategies over bsnas spaces (``pip install 'bsnas[nni]'``).

:func:`model_space` turns a bsnas space into an NNI model space; ``bsnas search --sampler
nni-evolution`` (also ``nni-random``, ``nni-tpe``) lets an NNI strategy choose the architectures while
bsnas counts, deduplicates, trains and records them in the Optuna study like any other trial.
"""

from __future__ import annotations

from bsnas.nni.space import arch_of, label_of, model_space, name_of
from bsnas.nni.strategy import NNI_SAMPLERS, run_strategy

__all__ = ["NNI_SAMPLERS", "arch_of", "label_of", "model_space", "name_of", "run_strategy"]
