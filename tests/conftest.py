"""Fixtures that connect tests to the private engines started by scripts/test.

scripts/engines.sh starts a dockerd, a podman API service and a registry and
writes their addresses to an env file that scripts/test sources. A test that
asks for one of these fixtures outside scripts/test fails (it is not skipped),
so a missing engine can never pass as a green run.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
import urllib.request
from collections.abc import Callable, Iterator

import docker
import pytest

BUSYBOX_IMAGE = "divepy-test/busybox:latest"


@pytest.fixture(autouse=True)
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """divepy's layer cache ($XDG_CACHE_HOME/divepy) is new for each test, for the in-process
    loads and the `python -m dive_py` runs alike: never in the user's home, and never a layer
    cached by another test standing in for one a test means to read (or to find broken)."""
    path = str(tmp_path_factory.mktemp("xdg-cache"))
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = path
    yield path
    if saved is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = saved


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: run the tests through scripts/test, which starts "
            "the private engines (or `scripts/engines.sh start` and source "
            "/tmp/divepy-engines/env)",
            pytrace=False,
        )
    return value


def _connect(base_url: str, what: str) -> docker.DockerClient:
    try:
        # version="auto" already asks the server, so this is inside the try.
        client = docker.DockerClient(base_url=base_url, version="auto", timeout=300)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not there"
        pytest.fail(
            f"{what} at {base_url} does not answer ({exc}); run scripts/test",
            pytrace=False,
        )
    return client


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = _connect(_env("DOCKER_HOST"), "dockerd")
    yield client
    client.close()


@pytest.fixture(scope="session")
def podman_client() -> Iterator[docker.DockerClient]:
    """The podman service through its Docker-compatible API.

    Its compat API ignores podman's default of no network, and bridge
    networking is disabled on purpose: run containers with network_mode="none".
    """
    client = _connect(_env("DIVEPY_PODMAN_HOST"), "podman service")
    yield client
    client.close()


@pytest.fixture(scope="session")
def podman_cmd() -> list[str]:
    """The podman CLI on the podman service's storage: podman_cmd + ["images"]."""
    return [
        "podman",
        "--root", _env("DIVEPY_PODMAN_ROOT"),
        "--runroot", _env("DIVEPY_PODMAN_RUNROOT"),
        "--storage-driver", "vfs",
    ]  # fmt: skip


@pytest.fixture(scope="session")
def registry_address() -> str:
    """host:port of a plain-HTTP registry (use --tls-verify=false and the like)."""
    address = _env("DIVEPY_REGISTRY")
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=10) as resp:
            assert resp.status == 200
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"registry at {address} does not answer ({exc}); run scripts/test", pytrace=False)
    return address


@pytest.fixture(scope="session")
def busybox_image(docker_client: docker.DockerClient):
    """The busybox image that scripts/engines.sh makes from busybox-static."""
    try:
        return docker_client.images.get(BUSYBOX_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{BUSYBOX_IMAGE} is missing from dockerd; run scripts/test", pytrace=False)


def _context_tar(dockerfile: bytes, files: dict[str, bytes]) -> io.BytesIO:
    """An in-memory build context. Fixed mtimes, owners and modes: the classic
    builder copies them into the image, and layers must not change between runs."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [("Dockerfile", dockerfile), *sorted(files.items())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


@pytest.fixture(scope="session")
def build_image(docker_client: docker.DockerClient) -> Callable[..., docker.models.images.Image]:
    """build_image(dockerfile_text, files=None, tag="build") -> Image.

    Builds with the classic builder (no BuildKit) on the private dockerd, with
    no network. The image is tagged divepy-test/<tag>:<hash of Dockerfile,
    files and the busybox image ID>; when that tag already exists it is
    returned without building, so re-runs are fast. (The busybox ID is in the
    hash because every base image here comes from it: a rebuilt busybox must
    not leave stale images behind the same tag.) `files` maps context paths
    to contents (mode 0644).
    """
    try:
        base_id = docker_client.images.get(BUSYBOX_IMAGE).id
    except docker.errors.ImageNotFound:
        base_id = "none"

    def build(dockerfile_text: str, files: dict[str, bytes] | None = None, tag: str = "build"):
        if not re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*", tag):
            raise ValueError(f"tag must be a lowercase name component, got {tag!r}")
        files = dict(files or {})
        dockerfile = dockerfile_text.encode()
        digest = hashlib.sha256(f"{base_id}\0".encode())
        for name, data in [("Dockerfile", dockerfile), *sorted(files.items())]:
            digest.update(f"{name}\0{len(data)}\0".encode())
            digest.update(data)
        ref = f"divepy-test/{tag}:{digest.hexdigest()[:16]}"
        try:
            return docker_client.images.get(ref)
        except docker.errors.ImageNotFound:
            pass
        try:
            image, _ = docker_client.images.build(
                fileobj=_context_tar(dockerfile, files),
                custom_context=True,
                tag=ref,
                rm=True,
                forcerm=True,
                pull=False,
                network_mode="none",
            )
        except docker.errors.BuildError as exc:
            log = "".join(str(chunk.get("stream") or chunk.get("error") or "") for chunk in exc.build_log)
            raise AssertionError(f"building {ref} failed: {exc.msg}\n{log}") from None
        return image

    return build


@pytest.fixture(scope="session")
def podman_busybox(docker_client: docker.DockerClient, podman_client: docker.DockerClient, busybox_image) -> str:
    """The busybox base image, copied from dockerd into the podman service; its name there."""
    name = f"localhost/{BUSYBOX_IMAGE}"
    try:
        podman_client.images.get(name)
    except docker.errors.ImageNotFound:
        data = b"".join(busybox_image.save(named=True))
        podman_client.images.load(data)
        podman_client.images.get(name)
    return name
