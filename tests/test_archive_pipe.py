"""An archive read from a pipe (`docker save img | divepy docker-archive:///dev/stdin`): one
pass, front to back, with the same result as the file it came from."""

from __future__ import annotations

import json
import os
import shutil

from dive_py.sources.resolve import Source
from tests.helpers import DIVE_TEST_IMAGE, divepy_json, run_divepy
from tests.test_layer_cache import _wipe_layer_data


def test_docker_archive_from_stdin_equals_the_file(tmp_path):
    from_file = divepy_json(DIVE_TEST_IMAGE, str(tmp_path), "--no-cache")
    out = tmp_path / "piped.json"
    with open(DIVE_TEST_IMAGE, "rb") as fh:
        proc = run_divepy("docker-archive:///dev/stdin", "--json", str(out), stdin=fh)
    assert proc.returncode == 0, proc.stderr
    piped = json.loads(out.read_text())
    assert piped["image"] == from_file["image"]
    assert [layer["fileList"] for layer in piped["layer"]] == [layer["fileList"] for layer in from_file["layer"]]


def test_a_pipe_fills_the_cache_a_file_then_uses(tmp_path, monkeypatch):
    """Layers hashed while streaming are stored under their diff IDs: the file finds them."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    with open(DIVE_TEST_IMAGE, "rb") as fh:
        proc = run_divepy("docker-archive:///dev/stdin", "--json", str(tmp_path / "a.json"), stdin=fh)
    assert proc.returncode == 0, proc.stderr
    image = Source("docker-archive", DIVE_TEST_IMAGE, cache=False).load()
    cached = set(os.listdir(tmp_path / "xdg" / "divepy" / "v1" / "layers"))
    assert cached == {layer.digest.removeprefix("sha256:") for layer in image.layers}
    copy = shutil.copy(DIVE_TEST_IMAGE, tmp_path / "image.tar")
    _wipe_layer_data(str(copy))  # only the cache has the layers now
    piped = json.loads((tmp_path / "a.json").read_text())
    assert divepy_json(str(copy), str(tmp_path))["layer"] == piped["layer"]


def test_ci_from_a_real_pipe_twice(tmp_path, monkeypatch):
    """CI mode looks for cached figures first; from a pipe that must not eat the stream."""
    import subprocess
    import sys
    import threading

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    expected = run_divepy(DIVE_TEST_IMAGE, "--ci", "--no-cache").stdout.split("Analyzing image...")[1]
    for _ in range(2):  # the second run has the figures cached
        read_end, write_end = os.pipe()

        def feed(fd=write_end) -> None:
            with open(DIVE_TEST_IMAGE, "rb") as src, os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(src, out)

        feeder = threading.Thread(target=feed)
        feeder.start()
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        proc = subprocess.run([sys.executable, "-m", "dive_py", "docker-archive:///dev/stdin", "--ci"],
                              stdin=read_end, capture_output=True, text=True, env=env, timeout=120)
        os.close(read_end)
        feeder.join()
        assert proc.returncode in (0, 1), proc.stderr
        assert proc.stdout.split("Analyzing image...")[1] == expected
