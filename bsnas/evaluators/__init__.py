"""Evaluators: what turns an architecture into metrics. One abstract base, one module per kind."""

from __future__ import annotations

from bsnas.evaluators.asha import AshaEvaluator
from bsnas.evaluators.base import EvalContext, EvalRequest, Evaluation, Evaluator
from bsnas.evaluators.proxy import ProxyEvaluator
from bsnas.evaluators.table import TableEvaluator
from bsnas.evaluators.user import CallableEvaluator
from bsnas.evaluators.zero_cost import ZeroCostEvaluator

__all__ = ["AshaEvaluator", "CallableEvaluator", "EVALUATORS", "EvalContext", "EvalRequest", "Evaluation",
           "Evaluator", "ProxyEvaluator", "TableEvaluator", "ZeroCostEvaluator"]

#: ``--evaluator`` names of the built-in evaluators a search can construct from its settings.
EVALUATORS = ("proxy", "table", "zero-cost")
