"""numpy, as divepy imports it: without OpenBLAS's pool of threads.

numpy's OpenBLAS starts a thread per core at import, which spins for a while waiting for work
that never comes here (divepy does no linear algebra): 0.06-0.07 s of CPU on the other core, the
one the worker processes read layers on. A user's own OPENBLAS_NUM_THREADS is kept. Import numpy
from here, never directly, and only where it pays (its import takes 0.06 s and 14 MB).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy  # noqa: E402

__all__ = ["numpy"]
