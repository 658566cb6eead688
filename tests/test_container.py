"""`divepy container`: real containers (Docker and podman, running and stopped) that add,
change and delete files; the extra layer is checked against the engine's own export."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time

import docker
import pytest

from dive_py.analysis.analyze import analyze
from dive_py.sources.container import ContainerSource
from dive_py.sources.tarscan import file_digest
from tests.helpers import run_divepy

pytestmark = pytest.mark.engine

KEEP = b"kept line\n"
SCRIPT = ("mkdir -p /srv/new/deep && echo hello > /srv/new/deep/f && echo extra >> /data/keep"
          " && rm -rf /data/olddir && rm /bin/vi && touch /tmp/ready")
# what an engine puts into every container's filesystem itself (mount points, .dockerenv)
ENGINE_MADE = ("proc", "sys", "dev", ".dockerenv", "etc/hostname", "etc/hosts", "etc/resolv.conf",
               "run/.containerenv", "run", "etc/mtab")


@pytest.fixture(scope="module")
def image(build_image):
    return build_image("FROM divepy-test/busybox:latest\nCOPY keep /data/keep\nCOPY old /data/olddir/old\n",
                       {"keep": KEEP, "old": b"to be deleted\n"}, tag="i8-container")


def _run(client, image_ref: str, name: str, keep_running: bool):
    try:
        client.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        pass
    command = SCRIPT + (" && sleep 600" if keep_running else "")
    container = client.containers.run(image_ref, ["sh", "-c", command], name=name, detach=True,
                                      network_mode="none")
    deadline = time.monotonic() + 60
    while True:
        container.reload()
        paths = {c["Path"] for c in container.diff() or []}
        if "/tmp/ready" in paths and (keep_running or container.status == "exited"):
            return container
        assert time.monotonic() < deadline, f"container {name} did not finish its script: {container.logs()}"
        time.sleep(0.2)


@pytest.fixture
def containers(docker_client, image):
    made = []

    def run(name: str, keep_running: bool, client=None, image_ref=None):
        container = _run(client or docker_client, image_ref or image.id, name, keep_running)
        made.append(container)
        return container

    yield run
    for container in made:
        container.remove(force=True)


def _expected_layer(entries) -> None:
    by_path = {e.path: e for e in entries}
    assert by_path["srv/new/deep/f"].size == len(b"hello\n")
    assert by_path["data/keep"].digest == file_digest(KEEP + b"extra\n")
    assert "data/.wh.olddir" in by_path and "bin/.wh.vi" in by_path
    assert not any(p.startswith("data/olddir/") for p in by_path)
    assert by_path["srv"].is_dir and by_path["data"].is_dir


def _export_files(container) -> dict[str, tuple[str, int]]:
    """The container's filesystem as the engine exports it: path -> (type, xxh64 of content)."""
    out = {}
    stream = b"".join(container.export())
    with tarfile.open(fileobj=io.BytesIO(stream)) as tar:
        for member in tar:
            path = member.name.strip("/").removeprefix("./")
            if not path or any(path == p or path.startswith(p + "/") for p in ENGINE_MADE):
                continue
            digest = file_digest(tar.extractfile(member).read()) if member.isreg() else 0
            out[path] = ("dir" if member.isdir() else "reg" if member.isreg() else "other", digest)
    return out


def _tree_files(tree) -> dict[str, tuple[str, int]]:
    out = {}
    stack = [("", tree)]
    while stack:
        base, node = stack.pop()
        for name, child in (node.children or {}).items():
            path = f"{base}/{name}" if base else name
            if any(path == p or path.startswith(p + "/") for p in ENGINE_MADE):
                continue
            kind = "dir" if child.is_dir else "reg" if child.info and child.info.kind == "file" else "other"
            out[path] = (kind, child.info.digest if kind == "reg" else 0)
            if child.children:
                stack.append((path, child))
    return out


def test_stopped_container_layer_matches_the_engine_export(containers):
    container = containers("i8-ctr-stopped", keep_running=False)
    analysis = analyze(ContainerSource("i8-ctr-stopped").load())
    layers = analysis.image.layers
    assert len(layers) == 4 and layers[-1].command.startswith("container i8-ctr-stopped: writable layer")
    _expected_layer(layers[-1].entries)
    final = analysis.trees[-1]
    assert final.get("data/olddir") is None and final.get("bin/vi") is None
    assert final.get("data/keep").info.size == len(KEEP) + len(b"extra\n")
    assert _tree_files(final) == _export_files(container)


def test_running_container_json_and_ci(containers):
    container = containers("i8-ctr-running", keep_running=True)
    before = sorted(container.diff(), key=lambda c: c["Path"])
    proc = run_divepy("container", "i8-ctr-running", "--json", "-")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    top = report["layer"][-1]
    assert top["index"] == 3 and top["digestId"] == ""
    paths = {f["path"]: f for f in top["fileList"]}
    assert paths["srv/new/deep/f"]["size"] == 6 and paths["data/keep"]["size"] == len(KEEP) + 6
    assert top["sizeBytes"] == sum(f["size"] for f in top["fileList"])
    container.reload()
    assert container.status == "running" and sorted(container.diff(), key=lambda c: c["Path"]) == before

    ci = run_divepy("container", container.id[:12], "--ci", "--lowestEfficiency=0.5",
                    "--highestUserWastedPercent=disabled", "--highestWastedBytes=disabled")
    assert ci.returncode == 0, ci.stdout + ci.stderr
    assert "PASS: lowestEfficiency" in ci.stdout
    strict = run_divepy("container", "i8-ctr-running", "--ci", "--highestUserWastedPercent=0.0001")
    assert strict.returncode == 1 and "FAIL: highestUserWastedPercent" in strict.stdout


def test_podman_container(podman_client, podman_cmd, docker_client, image, containers, monkeypatch):
    podman_client.images.load(b"".join(docker_client.api.get_image(image.id)))
    containers("i8-ctr-podman", keep_running=True, client=podman_client, image_ref=image.id)
    monkeypatch.setenv("CONTAINER_HOST", os.environ["DIVEPY_PODMAN_HOST"])
    analysis = analyze(ContainerSource("i8-ctr-podman", "podman").load())
    _expected_layer(analysis.image.layers[-1].entries)
    proc = run_divepy("container", "--source", "podman", "i8-ctr-podman", "--json", "-",
                      env={"CONTAINER_HOST": os.environ["DIVEPY_PODMAN_HOST"]})
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["layer"]) == 4


def test_missing_container_and_wrong_source():
    proc = run_divepy("container", "i8-no-such-container", "--json", "-")
    assert proc.returncode == 3
    assert proc.stderr.startswith("divepy: container 'i8-no-such-container' not found in docker")
    assert proc.stderr.count("\n") == 1
    wrong = run_divepy("container", "x", "--source", "oci", "--json", "-")
    assert wrong.returncode == 2 and "containers live in an engine" in wrong.stderr
