"""Across the images of one engine: which images use which layers.

- `layer_users(engine)`: diff ID -> names of the local images using it, from image inspection
  alone (no layer is read); the explorer uses it to say who shares a layer.
- `saved_layers(engine, refs)`: every image's layers with their sizes, from ONE save stream of
  all the images, in which each distinct layer appears (and is read) once.
"""

from __future__ import annotations

import io
import re
from typing import Any

from dive_py.analysis.shared import ImageLayers
from dive_py.errors import ArchiveError, SourceError
from dive_py.sources.archive import StreamedTar
from dive_py.sources.daemon import SAVE_CHUNK, ChunkStream, _short_reason, connect, engine_host, get_image

_HEX = re.compile(r"[0-9a-f]{64}")


def display_name(attrs: dict[str, Any]) -> str:
    """An image's first tag, else its short ID."""
    tags = [t for t in attrs.get("RepoTags") or [] if t and t != "<none>:<none>"]
    return tags[0] if tags else attrs.get("Id", "").removeprefix("sha256:")[:12]


def _inspect_all(client: Any, engine: str, refs: list[str] | None) -> list[dict[str, Any]]:
    from docker.errors import APIError

    try:
        ids = [get_image(client, r, engine).id for r in refs] if refs else \
            [summary["Id"] for summary in client.api.images()]
        seen: dict[str, dict[str, Any]] = {}
        for image_id in ids:
            if image_id not in seen:
                seen[image_id] = client.api.inspect_image(image_id)
    except APIError as exc:
        raise SourceError(f"{engine} at {engine_host(engine)} refused to list images: {exc.explanation or exc}") from None
    return list(seen.values())


def layer_users(engine: str = "docker") -> dict[str, list[tuple[str, str]]]:
    """diff ID -> (image ID, name) of every local image whose layers include it."""
    users: dict[str, list[tuple[str, str]]] = {}
    client = connect(engine)
    for attrs in _inspect_all(client, engine, None):
        for diff_id in dict.fromkeys((attrs.get("RootFS") or {}).get("Layers") or []):
            users.setdefault(diff_id, []).append((attrs["Id"], display_name(attrs)))
    return users


def _config_hex(path: str) -> str:
    found = _HEX.findall(path)
    return found[-1] if found else ""


def saved_layers(engine: str = "docker", refs: list[str] | None = None) -> list[ImageLayers]:
    """The images named (default: every local image) with each layer's diff ID and size."""
    client = connect(engine)
    images = _inspect_all(client, engine, refs)
    if not images:
        return []
    where = f"{engine}: {len(images)} images"
    try:
        response = client.api._get(client.api._url("/images/get"),
                                    params={"names": [a["Id"] for a in images]}, stream=True)
        if response.status_code >= 400:
            raise SourceError(f"{where}: engine refused to export the images (HTTP {response.status_code}: "
                              f"{response.text.strip()[:200]})")
        chunks = response.iter_content(SAVE_CHUNK, decode_unicode=False)
        blobs = StreamedTar(io.BufferedReader(ChunkStream(iter(chunks), where), SAVE_CHUNK), where)
    except ArchiveError as exc:
        raise SourceError(f"{where}: the engine's export is unreadable: {exc}") from None
    except OSError as exc:
        raise SourceError(f"{where}: engine stopped sending the images ({_short_reason(exc)})") from None
    entries = blobs.json("manifest.json")
    if not isinstance(entries, list):
        raise SourceError(f"{where}: the engine's export has no manifest list")
    by_config = {}
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("Config"), str):
            by_config[_config_hex(entry["Config"])] = entry
    out = []
    for attrs in images:
        image_id = attrs["Id"].removeprefix("sha256:")
        entry = by_config.get(image_id)
        if entry is None:
            raise SourceError(f"{where}: the export lacks image {image_id[:12]} ({display_name(attrs)})")
        diff_ids = (attrs.get("RootFS") or {}).get("Layers") or []
        paths = entry.get("Layers") or []
        if len(diff_ids) != len(paths):
            raise SourceError(f"{where}: {display_name(attrs)} has {len(diff_ids)} diff IDs "
                              f"but {len(paths)} layers in the export")
        layers = tuple((d, blobs.layer(p)[1]) for d, p in zip(diff_ids, paths))
        out.append(ImageLayers(display_name(attrs), layers))
    return out
