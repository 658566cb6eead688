"""Reading an image's layers through the layer cache, telling a listener as it goes.

`on_outline(image)` gets the image as soon as its manifest and config are known, every layer
still without entries; `on_layer(index, (entries, size))` gets each layer once it is read.
"""

from __future__ import annotations

from collections.abc import Callable

from dive_py.model.image import Image
from dive_py.sources.archive import ImagePlan, LayerData, _Blobs, image_plan
from dive_py.sources.assemble import PENDING, image_from_plan
from dive_py.sources.layercache import LayerCache

OnOutline = Callable[[Image], None]
OnLayer = Callable[[int, LayerData], None]


def load_layers(blobs: _Blobs, plan: ImagePlan, cache: LayerCache | None,
                on_layer: OnLayer | None = None) -> list[LayerData]:
    """Each layer from the cache when its diff ID is there, else from the blobs (then cached
    under the diff ID computed from its bytes, never the one the config claims)."""
    diff_ids = plan.diff_ids()
    layers = []
    for i, path in enumerate(plan.layer_paths):
        claimed = diff_ids[i] if i < len(diff_ids) else ""
        data = cache.get_layer(claimed) if cache is not None and claimed and blobs.lazy else None
        if data is None:
            data = blobs.layer(path)
            computed = blobs.diff_id(path)
            if cache is not None and computed and (blobs.lazy or not cache.has_layer(computed)):
                cache.put_layer(computed, data)
        layers.append(data)
        if on_layer is not None:
            on_layer(i, data)
    return layers


def load_image(blobs: _Blobs, where: str, name: str, kind: str, platform: str | None,
               cache: LayerCache | None, on_outline: OnOutline | None = None,
               on_layer: OnLayer | None = None, image_id: str = "") -> Image:
    plan = image_plan(blobs, where, platform)
    if on_outline is not None:
        on_outline(image_from_plan(plan, [PENDING] * len(plan.layer_paths), name, kind, image_id))
    layers = load_layers(blobs, plan, cache, on_layer)
    return image_from_plan(plan, layers, name, kind, image_id)
