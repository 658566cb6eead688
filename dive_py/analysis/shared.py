"""Which layers (by diff ID) several images share, and what sharing saves.

An engine stores each distinct layer once, however many images use it: a layer of size S
used by N images saves S * (N - 1) bytes against every image keeping its own copy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageLayers:
    """An image as sharing sees it: its name and its layers as (diff ID, size) pairs."""

    name: str
    layers: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class SharedLayer:
    diff_id: str
    size: int
    images: tuple[str, ...]  # names of the images using it, in input order

    @property
    def saved(self) -> int:
        return self.size * (len(self.images) - 1)


@dataclass(frozen=True)
class ImageShare:
    name: str
    layers: int
    size: int  # the image's distinct layers
    shared: int  # bytes in layers another image uses too
    unique: int  # bytes in layers only this image uses


@dataclass(frozen=True)
class Sharing:
    layers: tuple[SharedLayer, ...]  # most shared first, then largest
    images: tuple[ImageShare, ...]

    @property
    def stored(self) -> int:
        """Bytes stored with sharing: each distinct layer once."""
        return sum(layer.size for layer in self.layers)

    @property
    def unshared(self) -> int:
        """Bytes if every image kept its own copy of its layers."""
        return sum(image.size for image in self.images)

    @property
    def saved(self) -> int:
        return self.unshared - self.stored


def share(images: list[ImageLayers]) -> Sharing:
    sizes: dict[str, int] = {}
    users: dict[str, list[str]] = {}
    for image in images:
        for diff_id, size in dict(image.layers).items():
            sizes[diff_id] = size
            users.setdefault(diff_id, []).append(image.name)
    layers = sorted((SharedLayer(d, sizes[d], tuple(users[d])) for d in sizes),
                    key=lambda layer: (-len(layer.images), -layer.size, layer.diff_id))
    shares = []
    for image in images:
        distinct = dict(image.layers)
        shared = sum(size for d, size in distinct.items() if len(users[d]) > 1)
        total = sum(distinct.values())
        shares.append(ImageShare(image.name, len(image.layers), total, shared, total - shared))
    return Sharing(tuple(layers), tuple(shares))
