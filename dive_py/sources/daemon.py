"""Images from a container engine (Docker, or podman's Docker-compatible API) via the Docker SDK.

The image's `docker save` stream is parsed as it arrives: nothing is written to disk.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import replace
from collections.abc import Iterator
from typing import Any

from dive_py.errors import ArchiveError, SourceError
from dive_py.model.entries import EMPTY
from dive_py.model.image import Image, Storage
from dive_py.sources.archive import ImagePlan, Progress, StreamedTar, image_plan, read_layers
from dive_py.sources.assemble import PENDING, image_from_plan
from dive_py.sources.layercache import LayerCache
from dive_py.sources.loader import OnLayer, OnOutline

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


def get_object(collection: Any, kind: str, ref: str, engine: str) -> Any:
    """`collection.get(ref)` (client.images, client.containers) with one-line errors."""
    from docker.errors import APIError, NotFound

    try:
        return collection.get(ref)
    except NotFound:
        raise SourceError(f"{kind} {ref!r} not found in {engine} at {engine_host(engine)}") from None
    except APIError as exc:
        raise SourceError(f"{engine} refused to inspect {kind} {ref!r}: {exc.explanation or exc}") from None


def get_image(client: Any, ref: str, engine: str) -> Any:
    return get_object(client.images, "image", ref, engine)


def outline(ref: str, engine: str = "docker") -> Image:
    """The layer list alone (see _outline): `inspect` and the history endpoint."""
    client = connect(engine)
    return _outline(client, get_image(client, ref, engine), ref, engine)


def _outline(client: Any, image: Any, ref: str, engine: str) -> Image:
    """The layer list from `inspect` and the history endpoint alone, before any layer is read.

    The history endpoint does not say which steps made a layer; a step with a size did, and
    when that count disagrees with the layers, steps marked `#(nop)` (other than ADD/COPY) made
    none. Commands and sizes here are a preview: the loaded image replaces them.
    """
    diff_ids = [d for d in (image.attrs.get("RootFS") or {}).get("Layers") or [] if isinstance(d, str)]
    try:
        rows = list(reversed(client.api.history(image.id)))
    except Exception:  # the outline is a courtesy; the real load reports real errors
        rows = []
    commands = [str(row.get("CreatedBy") or "") for row in rows]
    sized = [not row.get("Size") for row in rows]
    nop = ["#(nop)" in c and " ADD " not in c and " COPY " not in c for c in commands]
    empties = next((e for e in (sized, nop) if e.count(False) == len(diff_ids)), sized)
    history = [{"created_by": command, "comment": str(row.get("Comment") or ""), "empty_layer": empty}
               for row, command, empty in zip(rows, commands, empties)]
    sizes = [int(row.get("Size") or 0) for row, empty in zip(rows, empties) if not empty]
    sizes += [0] * (len(diff_ids) - len(sizes))
    plan = ImagePlan({"history": history, "rootfs": {"diff_ids": diff_ids}}, "", list(diff_ids),
                     list(image.tags))
    return image_from_plan(plan, [(EMPTY, size) for size in sizes[:len(diff_ids)]], ref, engine, image.id)


def _cached_plan(image: Any, cache: LayerCache) -> ImagePlan | None:
    """The image's plan from the cache (its config and the layer paths of its last export)."""
    raw = cache.get_config(image.id)
    if raw is None:
        return None
    try:
        config = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(config, dict):
        return None
    plan = ImagePlan(config, "", [], list(image.tags))
    diff_ids = plan.diff_ids()
    if not diff_ids or not all(isinstance(d, str) for d in diff_ids):
        return None
    paths = cache.get_paths(image.id, len(diff_ids))
    if paths is None:
        return None
    plan.layer_paths = paths
    return plan


def _from_cache(image: Any, ref: str, engine: str, cache: LayerCache,
                on_layer: OnLayer | None) -> Image | None:
    """The whole image from the cache when its config and every layer are there: no export."""
    plan = _cached_plan(image, cache)
    keys = plan.layer_keys() if plan is not None else []
    if plan is None or not all(key and cache.has_layer(key) for key in keys):
        return None
    layers = []
    for i, key in enumerate(keys):
        data = cache.get_layer(key)
        if data is None:  # went bad since has_layer: fall back to the export
            return None
        layers.append(data)
        if on_layer is not None:
            on_layer(i, data)
    return _engine_image(image_from_plan(plan, layers, ref, engine, image.id), image, plan.tags)


def cached_outline(ref: str, engine: str, cache: LayerCache) -> Image | None:
    """The image with its layers listed but not read, when the cache knows its config (from an
    earlier load): `inspect` alone, no export. None when it does not."""
    client = connect(engine)
    image = get_image(client, ref, engine)
    plan = _cached_plan(image, cache)
    if plan is None:
        return None
    return _engine_image(image_from_plan(plan, [PENDING] * len(plan.layer_paths), ref, engine, image.id),
                         image, plan.tags)


def load(ref: str, engine: str = "docker", progress: Progress | None = None,
         platform: str | None = None, keep_broken: bool = False, cache: LayerCache | None = None,
         on_outline: OnOutline | None = None, on_layer: OnLayer | None = None) -> Image:
    from docker.errors import APIError

    client = connect(engine)
    image = get_image(client, ref, engine)
    where = f"{engine}:{ref}"
    if on_outline is not None:
        on_outline(_outline(client, image, ref, engine))
    if cache is not None:
        cached = _from_cache(image, ref, engine, cache, on_layer)
        if cached is not None:
            return cached
    try:
        chunks = image.save(chunk_size=SAVE_CHUNK, named=False)
        stream = io.BufferedReader(ChunkStream(iter(chunks), where), SAVE_CHUNK)
        blobs = StreamedTar(stream, where, progress)
        plan = image_plan(blobs, where, platform)
        layers, errors = read_layers(blobs, plan, where, keep_broken, cache, on_layer)
        if cache is not None and not errors:
            cache.put_config(blobs.raw(plan.config_path))
            cache.put_paths(image.id, plan.layer_paths)
    except APIError as exc:
        raise SourceError(f"{where}: engine refused to export the image ({exc.explanation or exc})") from None
    except ArchiveError as exc:
        raise SourceError(f"{where}: the engine's export is unreadable: {exc}") from None
    return _engine_image(image_from_plan(plan, layers, ref, engine, image.id, errors), image, plan.tags)


def _engine_image(loaded: Image, image: Any, tags: list[str]) -> Image:
    """What the engine adds to an image read from it: its tags, repo digests and storage."""
    attrs = image.attrs if isinstance(image.attrs, dict) else {}
    digests = tuple(d for d in attrs.get("RepoDigests") or () if isinstance(d, str))
    return replace(loaded, tags=tuple(image.tags) or tuple(tags), repo_digests=digests,
                   storage=storage_of(attrs))


def storage_of(attrs: dict[str, Any]) -> Storage | None:
    """The engine's GraphDriver from an image inspect, as it reports it (data may be null)."""
    driver = attrs.get("GraphDriver")
    if not isinstance(driver, dict) or not driver.get("Name"):
        return None
    data = driver.get("Data") if isinstance(driver.get("Data"), dict) else {}
    return Storage(str(driver["Name"]), tuple(sorted((str(k), str(v)) for k, v in data.items())))
