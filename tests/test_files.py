"""cat, extract, blame and find on an image built by the engine, read through every source."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys

import pytest

from tests.helpers import run_divepy

pytestmark = pytest.mark.engine

APP_SH = b"#!/bin/sh\necho hello from app\n"
DOCKERFILE = """\
FROM divepy-test/busybox:latest
RUN mkdir -p /app && echo v1 > /app/conf.txt && seq 1 20000 > /app/numbers.txt
COPY app.sh /app/app.sh
RUN echo v2 > /app/conf.txt && ln /app/numbers.txt /app/hard && ln -s numbers.txt /app/soft \\
 && ln -s /app /applink && mkdir -p /app/sub/deeper && echo deep > /app/sub/deeper/x.txt \
 && echo linked > /app/h1 && ln /app/h1 /app/h2
RUN chmod 750 /app/app.sh
RUN rm /app/conf.txt
"""
NUMBERS = b"".join(b"%d\n" % i for i in range(1, 20001))


@pytest.fixture(scope="module")
def image(build_image):
    return build_image(DOCKERFILE, {"app.sh": APP_SH}, tag="i7-files")


@pytest.fixture(scope="module")
def refs(image, tmp_path_factory) -> dict[str, str]:
    """The same image as the daemon, a docker save archive, an OCI layout and a gzip OCI archive."""
    tmp = tmp_path_factory.mktemp("i7-files")
    saved = tmp / "image.tar"
    with open(saved, "wb") as fh:
        for chunk in image.save(named=True):
            fh.write(chunk)
    for *options, dest in ([f"oci:{tmp / 'layout'}"], [f"oci-archive:{tmp / 'oci.tar'}"],
                           ["--dest-oci-accept-uncompressed-layers", f"oci:{tmp / 'plain'}"]):
        proc = subprocess.run(["skopeo", "copy", *options, f"docker-archive:{saved}", dest],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    return {"docker": image.id, "archive": str(saved), "layout": f"oci://{tmp / 'layout'}",
            "oci-archive": f"oci-archive://{tmp / 'oci.tar'}", "plain-layout": f"oci://{tmp / 'plain'}"}


def cat(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    return subprocess.run([sys.executable, "-m", "dive_py", "cat", *args], capture_output=True,
                          env=env, timeout=300)


@pytest.mark.parametrize("source", ["docker", "archive", "layout", "oci-archive", "plain-layout"])
def test_cat_gives_the_file_as_of_each_layer(refs, source):
    ref = refs[source]
    assert cat(ref, "/app/conf.txt", "--layer", "1").stdout == b"v1\n"
    assert cat(ref, "/app/conf.txt", "--layer", "3").stdout == b"v2\n"
    assert cat(ref, "app/app.sh").stdout == APP_SH
    assert cat(ref, "/app/h2").stdout == b"linked\n"
    for linked in ("/app/numbers.txt", "/app/hard", "/app/soft", "/applink/numbers.txt"):
        proc = cat(ref, linked)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == NUMBERS, linked


def test_cat_errors_name_the_path_and_layer(refs):
    gone = cat(refs["archive"], "/app/conf.txt")
    assert gone.returncode == 2
    assert gone.stderr.decode().strip() == "divepy: /app/conf.txt: not in the image as of layer 5"
    directory = cat(refs["archive"], "/app")
    assert directory.returncode == 2 and b"not a regular file" in directory.stderr
    layer = cat(refs["archive"], "/app/app.sh", "--layer", "9")
    assert layer.returncode == 2 and b"layers 0 to 5" in layer.stderr
    assert cat(refs["archive"], "/app/app.sh", "--layer", "-1").stdout == APP_SH


@pytest.mark.parametrize("source", ["docker", "layout"])
def test_extract_writes_the_subtree_with_modes_and_links(refs, source, tmp_path):
    out = tmp_path / "out"
    proc = run_divepy("extract", refs[source], "/app", "--to", str(out), "--layer", "4")
    assert proc.returncode == 0, proc.stderr
    app = out / "app"
    assert (app / "conf.txt").read_bytes() == b"v2\n"
    assert (app / "app.sh").read_bytes() == APP_SH
    assert stat.S_IMODE(os.lstat(app / "app.sh").st_mode) == 0o750
    assert (app / "numbers.txt").read_bytes() == NUMBERS
    assert (app / "hard").read_bytes() == NUMBERS  # a copy in the image: numbers.txt is in layer 1
    assert os.path.samefile(app / "h1", app / "h2")  # a hard link inside one layer stays one
    assert (app / "h2").read_bytes() == b"linked\n"
    assert os.readlink(app / "soft") == "numbers.txt"
    assert (app / "sub" / "deeper" / "x.txt").read_bytes() == b"deep\n"
    assert "extracted 7 files" in proc.stderr and "3 directories, 1 symlink" in proc.stderr
    assert sorted(os.listdir(out)) == ["app"]


def test_extract_of_a_single_file_at_an_earlier_layer(refs, tmp_path):
    proc = run_divepy("extract", refs["archive"], "/app/conf.txt", "--to", str(tmp_path), "--layer", "1")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "conf.txt").read_bytes() == b"v1\n"
    assert os.listdir(tmp_path) == ["conf.txt"]


def test_blame_lists_every_layer_that_touched_the_path(refs):
    proc = run_divepy("blame", refs["archive"], "/app/conf.txt")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split(None, 3) for line in proc.stdout.splitlines()[1:]]
    assert [(r[0], r[1]) for r in rows] == [("1", "added"), ("3", "content"), ("5", "removed")]
    assert "rm /app/conf.txt" in proc.stdout.splitlines()[3]
    chmod = run_divepy("blame", refs["archive"], "/app/app.sh").stdout.splitlines()[1:]
    assert [line.split()[:3] for line in chmod] == [["2", "added", str(len(APP_SH))],
                                                    ["4", "attributes", "only"]]
    assert "chmod 750 /app/app.sh" in chmod[1]


def test_blame_reports_removal_through_a_parent(tmp_path, build_image):
    img = build_image("FROM divepy-test/busybox:latest\nRUN mkdir -p /d/e && echo x > /d/e/f\n"
                      "RUN rm -rf /d\n", tag="i7-parent")
    proc = run_divepy("blame", img.id, "/d/e/f")
    lines = proc.stdout.splitlines()[1:]
    assert lines[0].split()[:2] == ["1", "added"]
    assert lines[1].split()[:3] == ["2", "removed", "(via"] and "/d)" in lines[1]


def test_find_lists_matches_with_the_layer_that_last_changed_each(refs):
    proc = run_divepy("find", refs["archive"], r"^/app/[^/]+$", "--sort", "name")
    assert proc.returncode == 0, proc.stderr
    rows = {re.search(r" (/\S*)", line).group(1): line.split()[0] for line in proc.stdout.splitlines()[1:]}
    assert rows == {"/app/app.sh": "4", "/app/conf.txt": "5", "/app/hard": "3", "/app/h1": "3", "/app/h2": "3", "/app/numbers.txt": "1",
                    "/app/soft": "3", "/app/sub": "3"}
    assert "(not in the final image)" in next(l for l in proc.stdout.splitlines() if "conf.txt" in l)
    by_size = run_divepy("find", refs["archive"], "app/").stdout.splitlines()[1:]
    sizes = [int(re.search(r" ([\d,]+)  /", line).group(1).replace(",", "")) for line in by_size]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == len(NUMBERS)
    assert by_size[0].split()[0] in ("1", "3") and by_size[0].endswith(("/app/numbers.txt", "/app/hard"))


def test_cat_and_extract_through_podman(refs, podman_client, tmp_path):
    with open(refs["archive"], "rb") as fh:
        loaded = podman_client.images.load(fh.read())
    env = {"CONTAINER_HOST": os.environ["DIVEPY_PODMAN_HOST"]}
    proc = run_divepy("cat", "--source", "podman", loaded[0].id, "/app/conf.txt", "--layer", "3", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "v2\n"
    proc = run_divepy("extract", "--source", "podman", loaded[0].id, "/app/sub", "--to", str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "sub" / "deeper" / "x.txt").read_bytes() == b"deep\n"


@pytest.mark.parametrize("source", ["docker", "archive", "layout", "oci-archive", "plain-layout"])
def test_open_file_is_seekable_and_reads_plain_layers_in_place(refs, source):
    import tempfile

    from dive_py.analysis.analyze import analyze
    from dive_py.sources.content import open_file
    from dive_py.sources.resolve import resolve

    src = resolve(refs[source])
    analysis = analyze(src.load())
    real, fh = open_file(src, analysis.image, analysis.trees, 5, "/applink/soft")
    with fh:
        assert real == "app/numbers.txt"
        assert fh.seek(0, os.SEEK_END) == len(NUMBERS)
        fh.seek(1000)
        assert fh.read(500) == NUMBERS[1000:1500]
        # plain layers in a file are read where they lie, not copied; the engine's stream and
        # gzip layers are copied into a spool
        spooled = isinstance(fh, tempfile.SpooledTemporaryFile)
        assert spooled == (source in ("docker", "layout", "oci-archive"))


def test_engine_blobs_kept_by_the_explorer_serve_later_reads(build_image, docker_client):
    """With the cache on (the explorer turns it on), one `docker save` serves every later read:
    the image can even be gone from the engine."""
    from dive_py.analysis.analyze import analyze
    from dive_py.sources import content
    from dive_py.sources.resolve import Source

    img = build_image("FROM divepy-test/busybox:latest\nRUN echo one > /one\nRUN echo two > /two\n",
                      tag="i7-cache")
    source = Source("docker", img.id)
    analysis = analyze(source.load())
    cache = content.keep_engine_blobs()
    try:
        _, fh = content.open_file(source, analysis.image, analysis.trees, 2, "/two")
        assert fh.read() == b"two\n"
        docker_client.images.remove(img.id, force=True)
        _, fh = content.open_file(source, analysis.image, analysis.trees, 1, "/one")
        assert fh.read() == b"one\n"
        assert cache.used >= sum(layer.size for layer in analysis.image.layers)
    finally:
        for cached in cache.files.values():
            cached.close()
        content._cache = None


def test_cat_and_extract_from_a_registry(refs, registry_address, tmp_path):
    proc = subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"docker-archive:{refs['archive']}",
                           f"docker://{registry_address}/i7/files:v1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    ref = f"registry://{registry_address}/i7/files:v1"
    assert cat(ref, "/app/conf.txt", "--layer", "1").stdout == b"v1\n"
    assert cat(ref, "/applink/soft").stdout == NUMBERS
    proc = run_divepy("extract", ref, "/app/app.sh", "--to", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "app.sh").read_bytes() == APP_SH


def test_files_of_a_container_come_from_its_writable_layer_or_its_image(image, docker_client):
    from dive_py.analysis.analyze import analyze
    from dive_py.sources.container import ContainerSource
    from dive_py.sources.content import open_file

    name = "divepy-test-i7-container"
    try:
        docker_client.containers.get(name).remove(force=True)
    except Exception:  # noqa: BLE001 - not there
        pass
    container = docker_client.containers.run(
        image.id, ["sh", "-c", "echo new > /new.txt && echo changed > /app/app.sh"],
        name=name, detach=True, network_mode="none")
    try:
        assert container.wait(timeout=120)["StatusCode"] == 0
        source = ContainerSource(name)
        analysis = analyze(source.load())
        top = len(analysis.image.layers) - 1
        for layer, path, expected in [(top, "/new.txt", b"new\n"), (top, "/app/app.sh", b"changed\n"),
                                      (top - 1, "/app/app.sh", APP_SH), (top, "/app/soft", NUMBERS)]:
            _, fh = open_file(source, analysis.image, analysis.trees, layer, path)
            with fh:
                assert fh.read() == expected, (layer, path)
    finally:
        container.remove(force=True)
