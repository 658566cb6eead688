"""What digest verification costs: divepy with and without it on the same big archives.

    python benchmarks/verify_overhead.py BASELINE_CHECKOUT [--mb 1024] [--runs 3]
    python benchmarks/verify_overhead.py - --in-process [--mb 512]

Writes a legacy `docker save` with one big layer and an OCI archive with the same layer
gzip-compressed (files of random and of repetitive bytes), then runs `python -m dive_py
ARCHIVE --json /dev/null` with PYTHONPATH at this checkout and at BASELINE_CHECKOUT (a
checkout without verification, e.g. the main branch before it), alternately, and prints the
median wall time, CPU time (user + system: steadier than wall on a shared machine) and
peak RSS of each.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

from tests.hostile import legacy, oci, write_tar  # noqa: E402


def big_layer(megabytes: int) -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(megabytes):
            data = os.urandom(1 << 20) if i % 2 else (b"line %d of a text file\n" % i) * 40000
            data = data[: 1 << 20]
            info = tarfile.TarInfo(f"data/{i:05d}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def in_process(megabytes: int) -> None:
    """read_layer alone, with and without the hashing wrappers: the cost of sha256 itself."""
    import resource

    from dive_py.sources.layer_tar import read_layer
    from dive_py.sources.verify import LayerHashes

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    layer = big_layer(megabytes)
    for name, blob in (("uncompressed", layer), ("gzip -1", gzip.compress(layer, 1, mtime=0))):
        for label in ("without", "with") * 2:
            start = cpu()
            if label == "with":
                hashes = LayerHashes(io.BytesIO(blob))
                read_layer(hashes.blob, "bench", None, hashes)
                hashes.result()
            else:
                read_layer(io.BytesIO(blob), "bench")
            print(f"read_layer {name:<13} {label:<8} hashing: {cpu() - start:.2f} s cpu")


def run(checkout: str, archive: str) -> tuple[float, float, float]:
    env = {**os.environ, "PYTHONPATH": checkout}
    env.pop("CI", None)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dive_py", archive, "--json", os.devnull], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, _, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("baseline")
    p.add_argument("--mb", type=int, default=1024)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--write-to", help=argparse.SUPPRESS)  # internal: make the archives there
    p.add_argument("--in-process", action="store_true", help="only time read_layer with and without hashing")
    args = p.parse_args()
    if args.in_process:
        in_process(args.mb)
        return
    if args.write_to:
        layer = big_layer(args.mb)
        write_tar(os.path.join(args.write_to, "legacy.tar"), legacy([layer]))
        write_tar(os.path.join(args.write_to, "oci.tar"),
                  oci([layer], compress=lambda b: gzip.compress(b, 1, mtime=0)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        # made in a child, so this process stays small: a child's peak RSS counts what it
        # shared with its parent before exec
        subprocess.run([sys.executable, __file__, args.baseline, "--mb", str(args.mb), "--write-to", tmp],
                       check=True)
        archives = {"legacy (uncompressed)": os.path.join(tmp, "legacy.tar"),
                    "oci (gzip -1)": os.path.join(tmp, "oci.tar")}
        print(f"{args.mb} MB layer, {args.runs} runs each, median; cpu: {os.cpu_count()} cores")
        print(f"{'archive':<24} {'checkout':<10} {'wall s':>8} {'cpu s':>8} {'peak MB':>8}")
        for name, path in archives.items():
            results: dict[str, list[tuple[float, float, float]]] = {"verify": [], "baseline": []}
            for _ in range(args.runs):
                results["verify"].append(run(HERE, path))
                results["baseline"].append(run(args.baseline, path))
            for label, rows in results.items():
                wall = statistics.median(r[0] for r in rows)
                cpu = statistics.median(r[1] for r in rows)
                rss = statistics.median(r[2] for r in rows)
                print(f"{name:<24} {label:<10} {wall:8.2f} {cpu:8.2f} {rss:8.0f}")


if __name__ == "__main__":
    main()
