"""Images from a container engine (Docker, or podman's Docker-compatible API) via the Docker SDK.

The image's `docker save` stream is parsed as it arrives: nothing is written to disk.
"""

from __future__ import annotations

import io
import os
from dataclasses import replace
from collections.abc import Iterator
from typing import Any

from dive_py.errors import ArchiveError, SourceError
from dive_py.model.image import Image, Storage
from dive_py.sources.archive import Progress, read_tar_stream
from dive_py.sources.assemble import image_from_parts

SAVE_CHUNK = 4 << 20


def podman_socket() -> str:
    """Where podman's API listens: $CONTAINER_HOST, the user's socket, or the system one."""
    host = os.environ.get("CONTAINER_HOST")
    if host:
        return host
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    candidates = [os.path.join(runtime, "podman", "podman.sock")] if runtime else []
    candidates.append("/run/podman/podman.sock")
    for path in candidates:
        if os.path.exists(path):
            return f"unix://{path}"
    return f"unix://{candidates[0]}"


def engine_host(engine: str) -> str:
    if engine == "podman":
        return podman_socket()
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(engine: str = "docker") -> Any:
    """A Docker SDK client for the engine, or SourceError naming where it looked."""
    import docker
    from docker.errors import DockerException, InvalidVersion

    host = engine_host(engine)
    hint = ("start podman's API service (podman system service) or set CONTAINER_HOST"
            if engine == "podman" else "is the Docker daemon running? set DOCKER_HOST to reach another one")
    try:
        if engine == "podman":
            client = docker.DockerClient(base_url=host, timeout=300)
        else:
            client = docker.from_env(timeout=300)
        client.ping()
    except InvalidVersion:
        raise SourceError(f"{engine} at {host} speaks Docker API {_server_api(engine, host)}, too old: "
                          f"divepy needs {_minimum_api()} or newer (upgrade the engine)") from None
    except DockerException as exc:
        reason = _short_reason(exc)
        raise SourceError(f"cannot reach {engine} at {host}: {reason} ({hint})") from None
    except Exception as exc:  # requests/urllib3 errors surface here when the socket is wrong
        raise SourceError(f"cannot reach {engine} at {host}: {_short_reason(exc)} ({hint})") from None
    return client


def _minimum_api() -> str:
    from docker.constants import MINIMUM_DOCKER_API_VERSION

    return MINIMUM_DOCKER_API_VERSION


def _server_api(engine: str, host: str) -> str:
    """The API version an engine reports, asked at the oldest version the SDK speaks."""
    import docker

    try:
        kwargs = {"base_url": host} if engine == "podman" else docker.utils.kwargs_from_env()
        api = docker.APIClient(version=_minimum_api(), timeout=30, **kwargs)
        return str(api.version(api_version=False).get("ApiVersion", "(unknown)"))
    except Exception:  # only for the message: the version is already known to be unusable
        return "(unknown)"


def _short_reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "Permission denied" in str(exc):
        return "permission denied on the socket"
    if "FileNotFoundError" in str(exc) or "No such file" in str(exc):
        return "no socket there"
    if "Connection refused" in str(exc):
        return "connection refused"
    return text[:200]


def _stream_failure(exc: BaseException) -> str:
    from docker.errors import NotFound

    if isinstance(exc, NotFound):
        return f"the image was removed while being read ({exc.explanation or exc})"
    return f"engine stopped sending the image ({_short_reason(exc)})"


class ChunkStream(io.RawIOBase):
    """A file-like view of an iterator of byte chunks (the SDK's save stream)."""

    def __init__(self, chunks: Iterator[bytes], where: str):
        self._chunks = chunks
        self._buffer = b""
        self._where = where

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
            except Exception as exc:
                raise SourceError(f"{self._where}: {_stream_failure(exc)}") from None
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def get_image(client: Any, ref: str, engine: str) -> Any:
    from docker.errors import APIError, ImageNotFound

    try:
        return client.images.get(ref)
    except ImageNotFound:
        raise SourceError(f"image {ref!r} not found in {engine} at {engine_host(engine)}") from None
    except APIError as exc:
        raise SourceError(f"{engine} refused to inspect {ref!r}: {exc.explanation or exc}") from None


def load(ref: str, engine: str = "docker", progress: Progress | None = None,
         platform: str | None = None, keep_broken: bool = False) -> Image:
    from docker.errors import APIError

    client = connect(engine)
    image = get_image(client, ref, engine)
    where = f"{engine}:{ref}"
    try:
        chunks = image.save(chunk_size=SAVE_CHUNK, named=False)
        stream = io.BufferedReader(ChunkStream(iter(chunks), where), SAVE_CHUNK)
        parts = read_tar_stream(stream, where, platform, progress, keep_broken)
    except APIError as exc:
        raise SourceError(f"{where}: engine refused to export the image ({exc.explanation or exc})") from None
    except ArchiveError as exc:
        raise SourceError(f"{where}: the engine's export is unreadable: {exc}") from None
    tags = tuple(image.tags) or tuple(parts.tags)
    attrs = image.attrs if isinstance(image.attrs, dict) else {}
    digests = tuple(d for d in attrs.get("RepoDigests") or () if isinstance(d, str))
    return replace(image_from_parts(parts, ref, engine, image.id), tags=tags,
                   repo_digests=digests, storage=storage_of(attrs))


def storage_of(attrs: dict[str, Any]) -> Storage | None:
    """The engine's GraphDriver from an image inspect, as it reports it (data may be null)."""
    driver = attrs.get("GraphDriver")
    if not isinstance(driver, dict) or not driver.get("Name"):
        return None
    data = driver.get("Data") if isinstance(driver.get("Data"), dict) else {}
    return Storage(str(driver["Name"]), tuple(sorted((str(k), str(v)) for k, v in data.items())))
