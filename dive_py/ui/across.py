"""What the explorer says about an image beyond its own layers: its platform, and which other
local images of its engine share a layer. Pure functions; the app calls them."""

from __future__ import annotations

from dive_py.errors import printable
from dive_py.model.image import Image, Layer

ENGINE_SOURCES = {"docker": "docker", "podman": "podman",
                  "docker container": "docker", "podman container": "podman"}


def platform_label(image: Image) -> str:
    """os/arch[/variant] from the image config, '' when the config does not say."""
    config = image.config
    parts = [config.get("os"), config.get("architecture"), config.get("variant")]
    if not parts[0] or not parts[1]:
        return ""
    return printable("/".join(str(p) for p in parts if p))


def engine_of(image: Image) -> str | None:
    """The engine whose local images can share this image's layers, if it came from one."""
    return ENGINE_SOURCES.get(image.source)


def other_users(users: dict[str, list[tuple[str, str]]], image: Image, layer: Layer) -> list[str]:
    """Names of the other local images using `layer` (users: diff ID -> [(image ID, name)])."""
    if not layer.digest:
        return []
    return [name for image_id, name in users.get(layer.digest, []) if image_id != image.image_id]


def shared_text(names: list[str] | None) -> str | None:
    """The layer-details line: None while unknown (not an engine image, or still looking)."""
    if names is None:
        return None
    if not names:
        return "no other local image"
    shown = ", ".join(printable(n) for n in names[:20])
    return shown + (f" and {len(names) - 20} more" if len(names) > 20 else "")
