"""numpy is imported through dive_py.numerics, which keeps OpenBLAS from starting a thread per
core (they spun on the core the worker processes read layers on)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task") or len(os.sched_getaffinity(0)) < 2,
                                reason="counts threads in /proc, on more than one core")

# each way divepy comes to import numpy: the batched tar headers, and the hints' counting
IMPORTS = ["import dive_py.sources.tarheaders",
           "from dive_py.analysis import hints; hints._numpy(hints.NUMPY_ABOVE + 1)"]


def _threads_after(code: str, **env: str) -> int:
    """The threads of a fresh interpreter once `code` has run."""
    clean = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    count = "import os; print(len(os.listdir('/proc/self/task')))"
    return int(subprocess.run([sys.executable, "-c", f"{code}; {count}"], env={**clean, **env},
                              capture_output=True, text=True, check=True).stdout)


@pytest.mark.parametrize("code", IMPORTS)
def test_numpy_starts_no_blas_threads(code):
    assert _threads_after(code) == 1


def test_a_users_own_setting_is_kept():
    assert _threads_after(IMPORTS[0], OPENBLAS_NUM_THREADS="2") == 2
