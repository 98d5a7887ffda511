"""In-memory datasets for training: splits and normalisation.

:func:`load_data` reads a spec (see :mod:`bsnas.data.readers`), resizes to
the requested resolution once, carves a stratified, seeded validation
split (and, when asked, a fixed held-out test split) and keeps everything
as uint8 tensors on the training device.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from bsnas.data.readers import ImageSet, read_dataset
from bsnas.errors import BsnasError

__all__ = ["TEST_SPLIT_SEED", "ProxyData", "load_data", "stratified_subset"]

#: The held-out test split (``test_size``) depends only on the data and its size, never on ``seed``,
#: so searches with different seeds never see it.
TEST_SPLIT_SEED = 20_200_617


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
    #: Positions in the dataset as read of the training, validation and held-out test images.
    train_index: np.ndarray | None = None
    val_index: np.ndarray | None = None
    test_index: np.ndarray | None = None
    #: Whether the class names come from the data (folders, a 'classes' array) rather than from label numbers.
    named_classes: bool = False
    #: (C, H, W) of the images as read, before ``resolution`` resized them for training.
    native_size: tuple[int, int, int] | None = None
    pixel_max: int = 255
    _subsets: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def preprocessing(self) -> dict:
        """What a deployed model must do to an image first, as plain data for records and exports:
        resize to ``input_size`` (bilinear, antialiased), then ``(pixel - mean) / std`` per channel, in the
        data's pixel units (0 to ``pixel_max``); ``classes`` names the outputs in order."""
        channels = self.input_size[0]
        return {"input_size": list(self.input_size), "channel_order": "RGB" if channels == 3 else "L" * channels,
                "layout": "NCHW", "pixel_max": self.pixel_max, "resize": "bilinear, antialiased",
                "mean": [round(float(v), 6) for v in self.mean.flatten().tolist()],
                "std": [round(float(v), 6) for v in self.std.flatten().tolist()], "classes": list(self.classes)}

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

    def train_subset(self, n: int, seed: int) -> torch.Tensor:
        """Positions of a stratified, seeded subset of ``n`` training images, on the data's device.

        Drawn once per ``(n, seed)`` and kept: a search trains every trial on the same subset, and need not
        draw it again for each one.
        """
        key = (n, seed)
        if key not in self._subsets:
            chosen = stratified_subset(self.train_y.cpu().numpy(), n, seed)
            self._subsets[key] = torch.from_numpy(chosen).to(self.train_y.device)
        return self._subsets[key]

    def content_hash(self, sample: int = 64) -> str:
        """A fingerprint of the data by content: the splits' shapes, all labels, the class names and ``sample``
        evenly spaced images of each split. Data whose spec is unchanged but whose file was edited hashes
        differently.

        >>> d = load_data("digits")
        >>> d.content_hash() == load_data("digits").content_hash() != load_data("digits", seed=1).content_hash()
        True
        """
        import hashlib

        digest = hashlib.sha256()
        for x, y in ((self.train_x, self.train_y), (self.val_x, self.val_y)):
            digest.update(repr((tuple(x.shape), str(x.dtype))).encode())
            digest.update(y.cpu().numpy().astype(np.int64).tobytes())
            picks = np.unique(np.linspace(0, len(x) - 1, num=min(sample, len(x))).round().astype(int))
            digest.update(x[torch.from_numpy(picks).to(x.device)].cpu().numpy().tobytes())
        digest.update("\x1f".join(self.classes).encode())
        return digest.hexdigest()[:16]

    def with_val_subset(self, n: int | None, seed: int = 0) -> ProxyData:
        """The same data scored on a stratified, seeded subset of ``n`` validation images (all when None)."""
        if n is None or n >= len(self.val_y):
            return self
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise BsnasError(f"val_subset (--val-subset) must be a positive integer, but got {n!r}")
        keep = torch.from_numpy(stratified_subset(self.val_y.cpu().numpy(), n, seed)).to(self.val_y.device)
        return dataclasses.replace(self, val_x=self.val_x[keep], val_y=self.val_y[keep],
                                   val_index=None if self.val_index is None else self.val_index[keep.cpu().numpy()])


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


def _split_count(name: str, size: float | int, n: int) -> int:
    """A split's size as a count: a fraction in (0, 1) of ``n`` images, or a count that leaves at least one."""
    count = None
    if isinstance(size, float) and 0 < size < 1:
        count = int(round(size * n))
    elif isinstance(size, int) and not isinstance(size, bool):
        count = size
    if count is None or not 0 < count < n:
        raise BsnasError(f"{name} must be a fraction in (0, 1) or a count in [1, {n - 1}] of the {n} images, "
                         f"but got {size!r}")
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
              test_spec: str | None = None, test_size: float | int | None = None,
              device: str | torch.device = "cpu", read_size: int | None = None) -> ProxyData:
    """Read ``spec``, split off a stratified validation set and move it all to ``device``.

    ``resolution`` resizes images to R×R once, here, for training; the size
    before that is ``native_size`` (image folders are read at ``read_size``,
    else at ``resolution``, else at 32). A test set is loaded only when asked for: from another
    dataset (``test_spec``) or held out of this one (``test_size``, a
    fraction or a count, stratified, fixed by :data:`TEST_SPLIT_SEED`
    whatever ``seed`` is).
    """
    for name, value in (("resolution", resolution), ("read_size", read_size)):
        if value is not None:
            _check_size(name, value)
    if test_spec is not None and test_size is not None:
        raise BsnasError(f"give a test set either as a dataset (test_spec={test_spec!r}) or held out of the "
                         f"training data (test_size={test_size!r}), not both")
    data = read_dataset(spec, read_size or resolution)
    if len(data.y) < 2:
        raise BsnasError(f"{spec}: need at least 2 images, but found {len(data.y)}")
    present = np.unique(data.y)
    if len(present) < 2:
        raise BsnasError(f"{spec}: a classifier needs at least 2 classes, but every image has class "
                         f"{data.classes[present[0]] if len(present) else None!r}; add images of other classes")
    x = _resize(data.x, resolution) if resolution else data.x
    pool = np.arange(len(data.y))
    test_idx = None
    if test_size is not None:
        n_test = _split_count("test_size", test_size, len(pool))
        test_idx = pool[stratified_subset(data.y[pool], n_test, TEST_SPLIT_SEED)]
        pool = np.setdiff1d(pool, test_idx)
    n_val = _split_count("val_size", val_size, len(pool))
    val_idx = pool[stratified_subset(data.y[pool], n_val, seed)]
    train_idx = np.setdiff1d(pool, val_idx)
    train_x = x[train_idx]
    mean = train_x.mean(axis=(0, 2, 3), dtype=np.float64)
    std = np.maximum(train_x.std(axis=(0, 2, 3), dtype=np.float64), 1e-3)
    dev = torch.device(device)

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(dev)

    out = ProxyData(t(train_x), t(data.y[train_idx]), t(x[val_idx]), t(data.y[val_idx]),
                    t(mean.astype(np.float32)).view(1, -1, 1, 1), t(std.astype(np.float32)).view(1, -1, 1, 1),
                    data.classes, data.hflip, spec, train_index=train_idx, val_index=val_idx, test_index=test_idx,
                    named_classes=data.named, native_size=tuple(data.x.shape[1:]), pixel_max=data.pixel_max)
    if test_idx is not None:
        out.test_x, out.test_y = t(x[test_idx]), t(data.y[test_idx])
    elif test_spec is not None:
        out.test_x, out.test_y = (t(a) for a in _test_split(test_spec, out, resolution or x.shape[2], read_size))
    return out


def _test_split(spec: str, train: ProxyData, resolution: int, read_size: int | None) -> tuple[np.ndarray, np.ndarray]:
    test: ImageSet = read_dataset(spec, read_size or resolution)  # read as the training data, resized the same way
    if test.named and train.named_classes and test.classes != train.classes:
        diff = next(i for i in range(max(len(test.classes), len(train.classes)))
                    if test.classes[i:i + 1] != train.classes[i:i + 1])
        raise BsnasError(f"test data {spec!r} has other classes than the training data: class {diff} is "
                         f"{(test.classes[diff:diff + 1] or ('missing',))[0]!r} there but "
                         f"{(train.classes[diff:diff + 1] or ('missing',))[0]!r} in training; give both the same "
                         "class folders (or 'classes' arrays)")
    x = _resize(test.x, resolution)
    if x.shape[1:] != tuple(train.train_x.shape[1:]):
        raise BsnasError(f"test data {spec!r} has images of shape {x.shape[1:]}, but the training data has "
                         f"{tuple(train.train_x.shape[1:])}")
    if test.y.size and test.y.max() >= train.num_classes:
        raise BsnasError(f"test data {spec!r} has label {test.y.max()}, but the training data has only "
                         f"{train.num_classes} classes")
    return x, test.y
