"""In-memory datasets for proxy training: splits, normalisation and batch augmentation.

:func:`load_data` reads a spec (see :mod:`bsnas.datasets`), resizes to the
requested resolution once, carves a stratified, seeded validation split and
keeps everything as uint8 tensors on the training device. Batches are
normalised and augmented as whole-tensor operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from bsnas.datasets import ImageSet, read_dataset
from bsnas.errors import BsnasError

__all__ = ["ProxyData", "augment_batch", "load_data", "stratified_subset"]


@dataclass
class ProxyData:
    """Training and validation (and, only when asked for, test) tensors on one device."""

    train_x: torch.Tensor  # uint8 (N, C, H, W)
    train_y: torch.Tensor  # int64 (N,)
    val_x: torch.Tensor
    val_y: torch.Tensor
    mean: torch.Tensor  # float (1, C, 1, 1), of the training split
    std: torch.Tensor
    classes: tuple[str, ...]
    hflip: bool
    spec: str
    test_x: torch.Tensor | None = None
    test_y: torch.Tensor | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_size(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])

    @property
    def device(self) -> torch.device:
        return self.train_x.device

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.mean) / self.std


def _resize(x: np.ndarray, resolution: int) -> np.ndarray:
    if x.shape[2] == x.shape[3] == resolution:
        return x
    out = []
    for chunk in np.array_split(x, max(1, len(x) // 4096)):
        t = torch.from_numpy(chunk).float()
        t = F.interpolate(t, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
        out.append(t.round_().clamp_(0, 255).to(torch.uint8).numpy())
    return np.concatenate(out)


def _check_size(name: str, value: object, low: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise BsnasError(f"{name} must be an integer >= {low}, but got {value!r}")


def _val_count(val_size: float | int, n: int) -> int:
    count = int(round(val_size * n)) if isinstance(val_size, float) else val_size
    if not (isinstance(val_size, (int, float)) and 0 < count < n):
        raise BsnasError(f"val_size must be a fraction in (0, 1) or a count in [1, {n - 1}], but got {val_size!r}")
    return count


def stratified_subset(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` items, with class proportions kept, reproducible from ``seed``."""
    from sklearn.model_selection import train_test_split

    if n >= len(y):
        return np.arange(len(y))
    idx = np.arange(len(y))
    try:
        chosen, _ = train_test_split(idx, train_size=n, stratify=y, random_state=seed)
    except ValueError:  # a class too small to stratify: fall back to a plain seeded draw
        chosen = np.random.default_rng(seed).permutation(len(y))[:n]
    return np.sort(chosen)


def load_data(spec: str, *, resolution: int | None = None, val_size: float | int = 0.2, seed: int = 0,
              test_spec: str | None = None, device: str | torch.device = "cpu") -> ProxyData:
    """Read ``spec``, split off a stratified validation set and move it all to ``device``.

    ``resolution`` resizes images to R×R once, here. The test set, read
    from ``test_spec``, is loaded only when given.
    """
    if resolution is not None:
        _check_size("resolution", resolution)
    data = read_dataset(spec, resolution)
    if len(data.y) < 2:
        raise BsnasError(f"{spec}: need at least 2 images, but found {len(data.y)}")
    x = _resize(data.x, resolution) if resolution else data.x
    n_val = _val_count(val_size, len(data.y))
    val_idx = stratified_subset(data.y, n_val, seed)
    train_mask = np.ones(len(data.y), dtype=bool)
    train_mask[val_idx] = False
    train_x, train_y = x[train_mask], data.y[train_mask]
    mean = train_x.mean(axis=(0, 2, 3), dtype=np.float64)
    std = np.maximum(train_x.std(axis=(0, 2, 3), dtype=np.float64), 1e-3)
    dev = torch.device(device)

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(dev)

    out = ProxyData(t(train_x), t(train_y), t(x[val_idx]), t(data.y[val_idx]),
                    t(mean.astype(np.float32)).view(1, -1, 1, 1), t(std.astype(np.float32)).view(1, -1, 1, 1),
                    data.classes, data.hflip, spec)
    if test_spec is not None:
        out.test_x, out.test_y = (t(a) for a in _test_split(test_spec, out, resolution or x.shape[2]))
    return out


def _test_split(spec: str, train: ProxyData, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    test: ImageSet = read_dataset(spec, resolution)
    x = _resize(test.x, resolution)
    if x.shape[1:] != tuple(train.train_x.shape[1:]):
        raise BsnasError(f"test data {spec!r} has images of shape {x.shape[1:]}, but the training data has "
                         f"{tuple(train.train_x.shape[1:])}")
    if test.y.size and test.y.max() >= train.num_classes:
        raise BsnasError(f"test data {spec!r} has label {test.y.max()}, but the training data has only "
                         f"{train.num_classes} classes")
    return x, test.y


def augment_batch(x: torch.Tensor, pad: int, hflip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding ``pad`` and (if ``hflip``) random horizontal flips, per image.

    Random numbers come from ``generator`` (a CPU generator), so a seed fixes them on any device.
    """
    b, c, h, w = x.shape
    if pad > 0:
        padded = F.pad(x, (pad, pad, pad, pad))
        offsets = torch.randint(0, 2 * pad + 1, (2, b), generator=generator).to(x.device)
        rows = (offsets[0, :, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (offsets[1, :, None] + torch.arange(w, device=x.device))[:, None, None, :]
        x = padded[torch.arange(b, device=x.device)[:, None, None, None],
                   torch.arange(c, device=x.device)[None, :, None, None], rows, cols]
    if hflip:
        flip = (torch.rand(b, generator=generator) < 0.5).to(x.device)[:, None, None, None]
        x = torch.where(flip, x.flip(3), x)
    return x
