"""A bsnas search space as an NNI model space.

Every parameter a bsnas space can expose (:func:`bsnas.space.parameter_names`)
becomes one ``nni.choice`` with the same options. NNI labels may not hold
``/`` and dots break some strategies, so ``s2.b0.op`` is labelled
``s2_b0_op`` (bsnas names have no ``_``, so the mapping is one to one).
NNI mutables are static, so the choices of blocks a shallow depth skips
still exist in a sample; :func:`arch_of` walks the space like
``sample_arch`` and reads only the choices the walk asks for, so every
sample maps to one architecture and its canonical string is the dedupe key.
"""

from __future__ import annotations

import warnings
from typing import Any

from bsnas.arch.spec import Arch
from bsnas.errors import require
from bsnas.space.choices import parameter_names, walk
from bsnas.space.schema import SearchSpace, load_space

__all__ = ["arch_of", "label_of", "model_space", "name_of", "options_of", "params_of_sample"]


def nni_nas():
    """Import ``nni.nas`` without PyTorch Lightning (``set_default_framework('none')`` first), quietly:
    nni 3.0 warns about PyTorch versions newer than it knows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nni = require("nni", "nni", "an NNI strategy (--sampler nni-*)")
        nni.set_default_framework("none")
        nas = require("nni.nas", "nni", "an NNI strategy (--sampler nni-*)")
        require("nni.nas.nn.pytorch", "nni", "an NNI strategy (--sampler nni-*)")
    return nas


def label_of(name: str) -> str:
    return name.replace(".", "_")


def name_of(label: str) -> str:
    return label.replace("_", ".")


def options_of(space: SearchSpace) -> dict[str, tuple]:
    """Every exposed parameter of ``space`` with its options, in walk order.

    A walk that takes every stage's largest depth and BSConv-S wherever it is offered meets every
    parameter (``p`` exists only for BSConv-S; every other choice exists for any conv type).
    """
    exposed, options = set(parameter_names(space)), {}

    def deepest(name: str, opts: tuple) -> Any:
        if name in exposed:
            options[name] = tuple(opts)
        if name.endswith(".depth"):
            return max(opts)
        return "bsconv_s" if name.endswith(".op") and "bsconv_s" in opts else opts[0]

    walk(space, deepest)
    return options


def params_of_sample(space: SearchSpace, sample: dict) -> dict[str, Any]:
    """The bsnas parameters (those the walk asks for) of an NNI sample (labels to values)."""
    params: dict[str, Any] = {}

    def choose(name: str, opts: tuple) -> Any:
        if len(opts) == 1:
            return opts[0]
        params[name] = sample[label_of(name)]
        return params[name]

    walk(space, choose)
    return params


def arch_of(space: SearchSpace, sample: dict) -> Arch:
    """The architecture of an NNI sample of :func:`model_space`."""
    params = params_of_sample(space, sample)
    return walk(space, lambda name, opts: opts[0] if len(opts) == 1 else params[name])


def model_space(space: SearchSpace | str):
    """An NNI model space (``nni.nas.nn.pytorch.ModelSpace``) whose samples are the architectures of ``space``.

    ``space`` is a :class:`~bsnas.space.schema.SearchSpace` or the path or name of its YAML file. The frozen
    model keeps ``.arch`` (a :class:`~bsnas.arch.spec.Arch`) and ``.sample``.
    """
    nni_nas()
    import nni
    from nni.mutable import ensure_frozen
    from nni.nas.nn.pytorch import ModelSpace
    from nni.nas.space import model_context

    path = space.path if isinstance(space, SearchSpace) else str(space)

    class BsnasModelSpace(ModelSpace):
        def __init__(self, space_path: str):
            super().__init__()
            self.space_path = space_path
            loaded = load_space(space_path)
            values = {}
            for name, opts in options_of(loaded).items():
                choice = self.add_mutable(nni.choice(label_of(name), list(opts)))
                values[label_of(name)] = ensure_frozen(choice)
            self.sample = values
            self.arch = arch_of(loaded, values)

        def freeze(self, sample: dict) -> BsnasModelSpace:
            with model_context(sample):
                return self.__class__(self.space_path)

        def forward(self, x):  # a model space is never run: bsnas builds and trains the architecture
            raise NotImplementedError("train the architecture with bsnas, not the NNI model space")

    return BsnasModelSpace(path)
