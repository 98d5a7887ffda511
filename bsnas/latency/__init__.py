"""Latency on the user's device: measuring a network, a per-block lookup table, and latency as a metric."""

from __future__ import annotations

from bsnas.latency.fingerprint import device_fingerprint
from bsnas.latency.measure import Latency, measure_latency
from bsnas.latency.table import LatencyTable
from bsnas.latency.timing import BACKENDS, Timing, time_module

__all__ = ["BACKENDS", "Latency", "LatencyTable", "Timing", "device_fingerprint", "measure_latency", "time_module"]
