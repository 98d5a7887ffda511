"""Datasets: readers for each spec, in-memory splits, batch augmentation."""

from __future__ import annotations

from bsnas.data.augment import augment_batch
from bsnas.data.readers import SPEC_KINDS, ImageSet, read_dataset
from bsnas.data.split import ProxyData, load_data, stratified_subset

__all__ = ["SPEC_KINDS", "ImageSet", "ProxyData", "augment_batch", "load_data", "read_dataset", "stratified_subset"]
