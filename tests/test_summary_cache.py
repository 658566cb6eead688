"""The cached report figures: a second CI run of the same image reads no layer and says the same."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile

import pytest

from dive_py.analysis import summary
from dive_py.sources.layercache import LayerCache
from dive_py.sources.resolve import Source
from tests.test_hints import APP_SH, DATA, DOCKERFILE
from tests.test_layer_cache import _demo_archive, _wipe_layer_data
from tests.helpers import run_divepy, saves_during


@pytest.fixture
def cache_home(tmp_path, monkeypatch) -> str:
    home = str(tmp_path / "xdg")
    monkeypatch.setenv("XDG_CACHE_HOME", home)
    return home


def _kind_dir(cache_home: str, kind: str) -> str:
    return os.path.join(cache_home, "divepy", "v1", kind)


def _ci(ref: str, *extra: str, code: int | None = None) -> str:
    proc = run_divepy(ref, "--ci", *extra)
    assert proc.returncode in ((0, 1) if code is None else (code,)), proc.stderr
    return proc.stdout


def _report(stdout: str) -> str:
    """The report without the source line (the same image under another name says so)."""
    return "\n".join(line for line in stdout.splitlines() if not line.startswith("Image Source:"))


def test_second_ci_run_reads_no_layer(tmp_path, cache_home):
    """The layers wiped from the archive and dropped from the layer cache: only the summary can
    still answer, and it answers exactly what the analysis said."""
    archive = _demo_archive(tmp_path / "demo.tar")
    cold = _ci(archive)
    assert "Inefficient Files:" in cold and "efficiency:" in cold
    assert len(os.listdir(_kind_dir(cache_home, "summaries"))) == 1
    _wipe_layer_data(archive)
    shutil.rmtree(_kind_dir(cache_home, "layers"))
    assert _ci(archive) == cold
    junit = tmp_path / "r.xml"
    markdown = tmp_path / "r.md"
    _ci(archive, "--junit", str(junit), "--markdown", str(markdown))
    assert "efficiency:" in junit.read_text() and "| Efficiency |" in markdown.read_text()
    # the wipe is real: whatever needs the files themselves fails now
    assert run_divepy(archive, "--json", str(tmp_path / "x.json")).returncode == 3
    assert run_divepy(archive, "--ci", "--no-cache").returncode == 3


def test_json_output_is_never_answered_from_the_summary(tmp_path, cache_home):
    archive = _demo_archive(tmp_path / "demo.tar")
    _ci(archive)
    out = tmp_path / "a.json"
    assert run_divepy(archive, "--json", str(out)).returncode == 0
    assert json.loads(out.read_text())["layer"][-1]["fileList"]  # the files, read from the layers


def test_a_broken_summary_is_ignored_and_rebuilt(tmp_path, cache_home):
    archive = _demo_archive(tmp_path / "demo.tar")
    cold = _ci(archive)
    (name,) = os.listdir(_kind_dir(cache_home, "summaries"))
    path = os.path.join(_kind_dir(cache_home, "summaries"), name)
    with open(path, "rb") as fh:
        good = fh.read()
    with open(path, "wb") as fh:
        fh.write(good[:-1] + bytes([good[-1] ^ 0xFF]))
    assert _ci(archive) == cold
    with open(path, "rb") as fh:
        assert fh.read() == good


def test_figures_that_do_not_fit_the_image_are_not_used(tmp_path):
    """A summary is tied to its layer count (a key collision cannot hand over wrong sizes)."""
    cache = LayerCache(str(tmp_path))
    archive = _demo_archive(tmp_path / "demo.tar")
    outline = Source("docker-archive", archive).outline()
    assert outline is not None and summary.cacheable(outline)
    key = summary.key(outline)
    cache.put_summary(key, (summary.FORMAT, [1], 1.0, [], 0, []))
    assert summary.decode(outline, cache.get_summary(key)) is None
    cache.put_summary(key, (summary.FORMAT + 1, [1] * len(outline.layers), 1.0, [], 0, []))
    assert summary.decode(outline, cache.get_summary(key)) is None


def test_another_config_over_the_same_layers_is_analysed_again(tmp_path, cache_home):
    """Hints name layers by their commands: a new history means a new summary."""
    archive = _demo_archive(tmp_path / "demo.tar")
    _ci(archive)
    other = str(tmp_path / "other.tar")
    with tarfile.open(archive) as src, tarfile.open(other, "w") as dst:
        manifest = json.loads(src.extractfile("manifest.json").read())
        config_name = manifest[0]["Config"]
        config = json.loads(src.extractfile(config_name).read())
        config["history"][-1]["created_by"] = "/bin/sh -c echo another command"
        data = json.dumps(config).encode()
        new_name = hashlib.sha256(data).hexdigest() + ".json"
        manifest[0]["Config"] = new_name
        for member in src.getmembers():
            if member.name == config_name:
                continue
            if member.name == "manifest.json":
                blob = json.dumps(manifest).encode()
                member.size = len(blob)
                dst.addfile(member, io.BytesIO(blob))
                continue
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo(new_name)
        info.size = len(data)
        dst.addfile(info, io.BytesIO(data))
    assert _report(_ci(other)) == _report(_ci(archive))  # same layers, same figures
    assert len(os.listdir(_kind_dir(cache_home, "summaries"))) == 2


@pytest.mark.engine
def test_daemon_answers_from_inspect_alone(docker_client, build_image, cache_home):
    """Second CI run of an engine image: no `docker save`, no layer cache, the same report
    (hints included)."""
    image = build_image(DOCKERFILE, {"app.sh": APP_SH, "data.bin": DATA}, tag="i7-hints")

    cold, cold_saves = saves_during(docker_client, image, lambda: _ci(image.id))
    assert cold_saves == 1 and "Hints:" in cold
    shutil.rmtree(_kind_dir(cache_home, "layers"))
    warm, warm_saves = saves_during(docker_client, image, lambda: _ci(image.id))
    assert warm_saves == 0
    assert warm == cold
    fresh, _ = saves_during(docker_client, image, lambda: _ci(image.id, "--no-cache"))
    assert fresh == cold
