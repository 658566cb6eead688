"""Compression bombs: time and peak memory of divepy reading gigabytes of zeros.

    python benchmarks/bomb_memory.py

Makes the same bombs as tests/test_hostile_archives.py (a gzip layer of one 512 MiB file of
zeros, a zstd layer of 2 GiB in 2048 files) and prints divepy's wall time, CPU time and peak
RSS on each.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

from tests.hostile import legacy, sha256, small_layers, write_tar, zero_bomb  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for kind, total, files in (("gzip", 512 << 20, 1), ("zstd", 2 << 30, 2048)):
            blob, diff_id = zero_bomb(kind, total, files)
            base = small_layers()[0]
            path = write_tar(os.path.join(tmp, f"{kind}.tar"), legacy([base, blob], diff_ids=[sha256(base), diff_id]))
            del blob
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "dive_py", path, "--json", os.devnull],
                                    env={**os.environ, "PYTHONPATH": HERE})
            _, status, usage = os.wait4(proc.pid, 0)
            print(f"{kind}: {os.path.getsize(path) / 1e6:.1f} MB archive -> {total / 2**30:.1f} GiB in "
                  f"{files} file(s): exit {os.waitstatus_to_exitcode(status)}, "
                  f"wall {time.perf_counter() - start:.1f} s, cpu {usage.ru_utime + usage.ru_stime:.1f} s, "
                  f"peak RSS {usage.ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
