"""Ctrl-C that is never lost, and never prints a stray traceback.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to
be, and an exception raised inside a finaliser or a weakref callback
(frequent while PyTorch trains) is printed with a traceback and dropped.
While :func:`handling` is active, the signal only sets a flag, and long
loops call :func:`check` at every step (a training step, a poll), which
raises ``KeyboardInterrupt`` there. A second Ctrl-C raises at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["check", "handling", "requested"]

_flag = threading.Event()


def _handler(signum, frame) -> None:
    if _flag.is_set():
        raise KeyboardInterrupt
    _flag.set()


def requested() -> bool:
    return _flag.is_set()


def check() -> None:
    """Raise ``KeyboardInterrupt`` if an interrupt arrived (even one that was swallowed)."""
    if _flag.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def handling(signals: tuple[int, ...] = (signal.SIGINT,)) -> Iterator[None]:
    """Route ``signals`` through the flag while inside (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handler) for s in signals}
    _flag.clear()
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _flag.clear()
