"""Pausing Python's cyclic garbage collector while an image's model is built.

Reading and analysing an image makes millions of small objects (entries, tree nodes, dicts)
and no reference cycles: plain reference counting frees them. The cyclic collector, though,
walks every tracked object each time enough new ones pile up, and on a 300,000-file image that
cost about a quarter of the run. So it is paused for the build and resumed after (nested and
concurrent pauses are counted: it resumes when the last one ends).
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

_lock = threading.Lock()
_depth = 0
_resume = False

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def collector_paused() -> Iterator[None]:
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()


def without_collector(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn` runs with the collector paused."""
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with collector_paused():
            return fn(*args, **kwargs)
    return wrapper
