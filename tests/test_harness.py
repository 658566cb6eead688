"""The test harness itself: the private engines that scripts/test starts work."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request

import pytest

BUSYBOX_IMAGE = "divepy-test/busybox:latest"  # made by scripts/engines.sh

pytestmark = pytest.mark.engine

TWO_RUNS = f"""\
FROM {BUSYBOX_IMAGE}
RUN echo one > /one.txt
RUN mkdir /d && echo two > /d/two.txt
"""


def test_docker_is_the_private_engine(docker_client):
    engine_dir = os.environ.get("DIVEPY_ENGINE_DIR")
    assert engine_dir, "DIVEPY_ENGINE_DIR is not set: run scripts/test"
    assert os.environ["DOCKER_HOST"] == f"unix://{engine_dir}/docker.sock"
    info = docker_client.info()
    assert info["DockerRootDir"].startswith(engine_dir + "/")
    assert info["Driver"] == "vfs"


def test_busybox_runs(docker_client, busybox_image):
    out = docker_client.containers.run(busybox_image.id, ["echo", "hi"], remove=True, network_mode="none")
    assert out == b"hi\n"


def test_build_adds_one_layer_per_run(docker_client, busybox_image, build_image):
    image = build_image(TWO_RUNS, None, "harness-two-runs")
    base_layers = busybox_image.attrs["RootFS"]["Layers"]
    layers = image.attrs["RootFS"]["Layers"]
    assert len(base_layers) == 1
    assert len(layers) == len(base_layers) + 2
    assert layers[0] == base_layers[0]
    assert image.tags[0].startswith("divepy-test/harness-two-runs:")
    # The same Dockerfile again is the same image, found by its tag.
    assert build_image(TWO_RUNS, None, "harness-two-runs").id == image.id


def test_build_with_files(docker_client, build_image):
    image = build_image(
        f"FROM {BUSYBOX_IMAGE}\nCOPY hello.txt /srv/hello.txt\n",
        {"hello.txt": b"hello from the context\n"},
        "harness-files",
    )
    out = docker_client.containers.run(image.id, ["cat", "/srv/hello.txt"], remove=True, network_mode="none")
    assert out == b"hello from the context\n"


def test_podman_has_busybox(podman_client, busybox_image):
    assert podman_client.ping()
    image = podman_client.images.get(BUSYBOX_IMAGE)
    # Loaded from `docker save`: the very same image config, so the same ID.
    assert image.id == busybox_image.id
    out = podman_client.containers.run(BUSYBOX_IMAGE, ["echo", "hi"], remove=True, network_mode="none")
    assert out == b"hi\n"


def test_podman_cli_sees_the_service_storage(podman_cmd):
    subprocess.run([*podman_cmd, "image", "exists", BUSYBOX_IMAGE], check=True, timeout=60)


def test_skopeo_pushes_to_registry(tmp_path, docker_client, busybox_image, registry_address):
    archive = tmp_path / "busybox.tar"
    with archive.open("wb") as f:
        for chunk in docker_client.api.get_image(BUSYBOX_IMAGE):
            f.write(chunk)
    subprocess.run(
        [
            "skopeo", "copy", "--quiet", "--dest-tls-verify=false",
            f"docker-archive:{archive}", f"docker://{registry_address}/busybox:harness",
        ],
        check=True,
        timeout=120,
    )  # fmt: skip
    with urllib.request.urlopen(f"http://{registry_address}/v2/busybox/tags/list", timeout=10) as resp:
        tags = json.load(resp)
    assert tags["name"] == "busybox"
    assert "harness" in tags["tags"]
