"""Zero-cost scores: rank an untrained network from a few batches, without training it.

Each score is computed on a freshly initialised network (the same initialisation as training) and a
higher score is meant to predict a more accurate network after training. Five well-known ones:

* ``synflow``: Tanaka et al., "Pruning neural networks without any data by iteratively conserving
  synaptic flow", NeurIPS 2020; as a NAS score by Abdelfattah et al., "Zero-Cost Proxies for Lightweight
  NAS", ICLR 2021. Weights replaced by their absolute values, BatchNorm removed (as Abdelfattah et al.
  do, since batch statistics of an all-ones input are degenerate), one all-ones input in float64;
  the score is ``sum |w * dR/dw|`` with ``R`` the sum of the outputs.
* ``naswot``: Mellor et al., "Neural Architecture Search without Training", ICML 2021. The binary
  codes of every rectifier-like activation (positive or not) over a batch give a kernel
  ``K = C C^T + (1 - C)(1 - C)^T`` summed over layers; the score is ``log |det K|``. BatchNorm in
  training mode (batch statistics), as in the paper's code.
* ``grad_norm``: Abdelfattah et al. 2021: the sum over conv and linear layers of the L2 norm of the
  cross-entropy gradient of their weights on one batch. BatchNorm in training mode.
* ``snip``: Lee et al., "SNIP: Single-shot Network Pruning based on Connection Sensitivity", ICLR 2019;
  as a NAS score by Abdelfattah et al. 2021: ``sum |w * dL/dw|`` over conv and linear weights on one
  batch. BatchNorm in training mode.
* ``zico``: Li et al., "ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on Gradients", ICLR
  2023: gradients on several batches (two by default); per layer ``log sum(mean|g| / std(g))`` over the
  weights whose gradient varies, summed over conv and linear layers. BatchNorm in training mode.

:func:`zero_cost_scores` computes any of them for one architecture on one dataset.
"""

from __future__ import annotations

import copy
import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from bsnas.arch.resolve import as_record
from bsnas.data.split import ProxyData
from bsnas.errors import BsnasError
from bsnas.nn.model import build_model
from bsnas.training.engine import check_resolution

__all__ = ["ZERO_COST_SCORES", "zero_cost_scores"]

#: The scores :func:`zero_cost_scores` knows, in the order it reports them.
ZERO_COST_SCORES = ("synflow", "naswot", "grad_norm", "snip", "zico")
_CODE_ACTS = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU)  # activations whose sign is a code (not SE's gates)


def _weighted(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _cross_entropy_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    return [m.weight.grad.detach().clone() if m.weight.grad is not None else torch.zeros_like(m.weight)
            for m in _weighted(model)]


def _synflow(model: nn.Module, x: torch.Tensor) -> float:
    net = copy.deepcopy(model)
    for module in list(net.modules()):  # BatchNorm removed, as Abdelfattah et al. do
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(module, child_name, nn.Identity())
    net = net.double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad(set_to_none=True)
    net(torch.ones(1, *x.shape[1:], dtype=torch.float64, device=x.device)).sum().backward()
    with torch.no_grad():
        return float(sum((m.weight * m.weight.grad).abs().sum() for m in _weighted(net) if m.weight.grad is not None))


def _naswot(model: nn.Module, x: torch.Tensor) -> float:
    n = len(x)
    kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)

    def hook(_module, _inputs, out):
        # C C^T + (1 - C)(1 - C)^T = 2 C C^T - s_i - s_j + U (s: each image's active units, U: all units), one
        # product instead of two; float32 sums 0/1 products exactly below 2^24 units per layer
        codes = (out.detach().flatten(1) > 0).float()
        if codes.shape[1] >= 2 ** 24:
            codes = codes.double()
        active = codes.sum(1, dtype=torch.float64)
        kernel.add_(2 * (codes @ codes.T).double() - active[:, None] - active[None, :] + codes.shape[1])

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _CODE_ACTS)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return float(torch.linalg.slogdet(kernel)[1])


def _grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(sum(g.norm() for g in _cross_entropy_grads(model, x, y)))


def _snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    grads = _cross_entropy_grads(model, x, y)
    return float(sum((m.weight.detach() * g).abs().sum() for m, g in zip(_weighted(model), grads, strict=True)))


def _zico(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    per_batch = [_cross_entropy_grads(model, x, y) for x, y in batches]
    score = 0.0
    for layer in zip(*per_batch, strict=True):
        g = torch.stack(layer).flatten(1).double()
        std, mean_abs = g.std(dim=0, correction=0), g.abs().mean(dim=0)
        varying = std > 0
        total = float((mean_abs[varying] / std[varying]).sum())
        if total > 0:
            score += math.log(total)
    return score


def _batches(data: ProxyData, batch_size: int, count: int, seed: int, device: torch.device):
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(data.train_y), generator=gen)[:batch_size * count]
    out = []
    for i in range(count):
        sel = order[i * batch_size:(i + 1) * batch_size].to(data.train_x.device)
        out.append((data.normalize(data.train_x[sel]).to(device), data.train_y[sel].to(device)))
    return out


def zero_cost_scores(arch, data: ProxyData, scores: tuple[str, ...] | list[str] = ZERO_COST_SCORES, *,
                     batch_size: int = 64, zico_batches: int = 2, seed: int = 0,
                     device: torch.device | str = "cpu") -> dict[str, float]:
    """The zero-cost ``scores`` of ``arch`` (anything :func:`bsnas.as_record` reads) on ``data``'s
    training split, with ``seconds`` (the time they took). The network is initialised from ``seed`` as a
    trial's would be; the batches are drawn from ``seed`` too, so the same inputs give the same scores.

    >>> from bsnas.data import load_data
    >>> s = zero_cost_scores("cifar_resnet20", load_data("digits", resolution=16), ["synflow", "naswot"])
    >>> sorted(s) == ["naswot", "seconds", "synflow"] and s["synflow"] > 0
    True
    """
    scores = [scores] if isinstance(scores, str) else list(scores)
    unknown = [s for s in scores if s not in ZERO_COST_SCORES]
    if unknown or not scores:
        raise BsnasError(f"unknown zero-cost score {unknown[0] if unknown else '(none)'!r}; choose from "
                         f"{', '.join(ZERO_COST_SCORES)}")
    for name, value, least in (("batch_size", batch_size, 2), ("zico_batches", zico_batches, 2)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise BsnasError(f"{name} must be an integer >= {least}, but got {value!r}")
    if batch_size * zico_batches > len(data.train_y):
        raise BsnasError(f"batch_size x zico_batches = {batch_size * zico_batches} is more than the "
                         f"{len(data.train_y)} training images; lower --batch-size")
    device = torch.device(device)
    record = as_record(arch, num_classes=data.num_classes, input_size=data.input_size)
    check_resolution(record.arch, data.input_size)
    torch.manual_seed(seed)
    model = build_model(record).to(device).train()
    batches = _batches(data, batch_size, zico_batches, seed, device)
    x, y = batches[0]
    compute = {"synflow": lambda: _synflow(model, x), "naswot": lambda: _naswot(model, x),
               "grad_norm": lambda: _grad_norm(model, x, y), "snip": lambda: _snip(model, x, y),
               "zico": lambda: _zico(model, batches)}
    start = time.perf_counter()
    out = {name: compute[name]() for name in ZERO_COST_SCORES if name in scores}
    out["seconds"] = round(time.perf_counter() - start, 3)
    return out
