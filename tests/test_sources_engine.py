"""One image, built by a real engine, read through every source: the same analysis each time."""

from __future__ import annotations

import os
import subprocess

import pytest

from dive_py.analysis.analyze import analyze
from dive_py.sources.resolve import Source, resolve
from tests.helpers import divepy_json, run_dive_json

pytestmark = pytest.mark.engine

DOCKERFILE = """\
FROM divepy-test/busybox:latest
RUN mkdir -p /data/sub && echo one > /data/a.txt && echo two > /data/sub/b.txt \\
 && dd if=/dev/zero of=/data/big bs=1k count=64 && echo keep > /data/keep.txt
RUN echo changed > /data/a.txt
RUN chmod 600 /data/keep.txt && chown 1000:1000 /data/sub/b.txt
ENV STAGE=cleanup
RUN rm -rf /data/sub && rm /data/big
RUN mkdir /data/sub && echo back > /data/sub/c.txt
RUN rm -rf /data/sub && echo file > /data/sub
RUN rm /data/sub && mkdir /data/sub && echo again > /data/sub/d.txt
RUN ln -s /data/a.txt /data/link && echo linked > /data/h1 && ln /data/h1 /data/h2
COPY app.txt /app/app.txt
"""
SIMPLE = """\
FROM divepy-test/busybox:latest
RUN mkdir -p /w && dd if=/dev/zero of=/w/big bs=1k count=32 && echo a > /w/a
RUN echo b > /w/a && chmod 700 /w/big
RUN rm /w/big
"""


def fingerprint(analysis):
    layers = [sorted((e.path, e.type, e.size, e.mode, e.uid, e.gid, e.link, e.digest) for e in layer.entries)
              for layer in analysis.image.layers]
    return (analysis.score, analysis.wasted_bytes, analysis.size, analysis.reclaimable_bytes,
            [(i.path, i.count, i.cumulative_size) for i in analysis.inefficiencies],
            [layer.command for layer in analysis.image.layers],
            [layer.digest for layer in analysis.image.layers], layers)


@pytest.fixture(scope="module")
def engine_image(build_image):
    return build_image(DOCKERFILE, {"app.txt": b"hello app\n"}, tag="sources")


@pytest.fixture(scope="module")
def saved_archive(engine_image, docker_client, tmp_path_factory):
    path = tmp_path_factory.mktemp("save") / "image.tar"
    with open(path, "wb") as fh:
        for chunk in engine_image.save(named=True):
            fh.write(chunk)
    return str(path)


def skopeo(*args: str) -> None:
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_daemon_and_every_archive_form_agree(engine_image, saved_archive, tmp_path):
    from_daemon = analyze(Source("docker", engine_image.id).load())
    expected = fingerprint(from_daemon)
    assert len(from_daemon.image.layers) == 10
    assert fingerprint(analyze(resolve(saved_archive).load())) == expected

    oci_gzip = tmp_path / "gzip.tar"
    skopeo("copy", f"docker-archive:{saved_archive}", f"oci-archive:{oci_gzip}")
    oci_zstd = tmp_path / "zstd.tar"
    skopeo("copy", "--dest-compress-format", "zstd", f"docker-archive:{saved_archive}", f"oci-archive:{oci_zstd}")
    oci_dir = tmp_path / "layout"
    skopeo("copy", f"docker-archive:{saved_archive}", f"oci:{oci_dir}")
    for ref in (f"oci-archive://{oci_gzip}", f"oci-archive://{oci_zstd}", f"oci://{oci_dir}", str(oci_dir)):
        assert fingerprint(analyze(resolve(ref).load())) == expected, ref
    docker25 = docker25_archive(oci_dir, tmp_path / "docker25.tar")
    assert fingerprint(analyze(resolve(docker25).load())) == expected


def docker25_archive(layout, target) -> str:
    """Docker 25+ `docker save`: an OCI layout plus a manifest.json that points into blobs/."""
    import json
    import tarfile

    index = json.loads((layout / "index.json").read_text())
    manifest_path = layout / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads(manifest_path.read_text())
    docker_manifest = [{"Config": "blobs/sha256/" + manifest["config"]["digest"].split(":")[1],
                        "RepoTags": ["divepy-test/docker25:latest"],
                        "Layers": ["blobs/sha256/" + d["digest"].split(":")[1] for d in manifest["layers"]]}]
    (layout / "manifest.json").write_text(json.dumps(docker_manifest))
    with tarfile.open(target, "w") as tar:
        for name in ("blobs", "oci-layout", "index.json", "manifest.json"):
            tar.add(layout / name, arcname=name)
    return str(target)


def test_engine_image_model(engine_image):
    analysis = analyze(Source("docker", engine_image.id).load())
    final = analysis.trees[-1]
    assert final.get("data/sub").is_dir and final.get("data/sub/d.txt") is not None
    assert final.get("data/sub/b.txt") is None and final.get("data/big") is None
    assert final.get("data/link").info.link == "/data/a.txt"
    pair = {final.get("data/h1").info.type, final.get("data/h2").info.type}
    assert pair == {"0", "1"}  # one file, one hard link to it (same layer)
    assert final.get("app/app.txt").size == len(b"hello app\n")
    wasted_paths = {i.path for i in analysis.inefficiencies}
    assert {"/data/a.txt", "/data/keep.txt", "/data/big"} <= wasted_paths
    assert analysis.image.layers[-1].command.startswith("#(nop) COPY")


def test_podman_source_reads_the_same_image(saved_archive, podman_client, monkeypatch, engine_image):
    with open(saved_archive, "rb") as fh:
        loaded = podman_client.images.load(fh.read())
    ref = loaded[0].id
    monkeypatch.setenv("CONTAINER_HOST", os.environ["DIVEPY_PODMAN_HOST"])
    from_podman = analyze(Source("podman", ref).load())
    from_docker = analyze(Source("docker", engine_image.id).load())
    assert fingerprint(from_podman)[:5] == fingerprint(from_docker)[:5]


def test_cli_json_from_daemon_matches_dive_on_saved_archive(build_image, docker_client, tmp_path):
    image = build_image(SIMPLE, tag="parity")
    archive = tmp_path / "simple.tar"
    with open(archive, "wb") as fh:
        for chunk in image.save(named=True):
            fh.write(chunk)
    dive = run_dive_json(str(archive), str(tmp_path))
    mine = divepy_json(image.id, str(tmp_path))
    assert mine["image"]["efficiencyScore"] == dive["image"]["efficiencyScore"]
    assert mine["image"]["inefficientBytes"] == dive["image"]["inefficientBytes"]
    assert mine["image"]["fileReference"] == dive["image"]["fileReference"]
    assert [l["fileList"] for l in mine["layer"]] == [l["fileList"] for l in dive["layer"]]
