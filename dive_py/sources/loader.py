"""Reading an image from an archive or layout through the layer cache, telling a listener as it goes.

`on_outline(image)` gets the image as soon as its manifest and config are known, every layer
still without entries; `on_layer(index, (entries, size))` gets each layer once it is read.
"""

from __future__ import annotations

from collections.abc import Callable

from dive_py.model.image import Image
from dive_py.sources.archive import ImagePlan, LayerData, _Blobs, image_plan, read_layers
from dive_py.sources.assemble import PENDING, image_from_plan
from dive_py.sources.layercache import LayerCache

OnOutline = Callable[[Image], None]
OnLayer = Callable[[int, LayerData], None]


def outline_of(plan: ImagePlan, name: str, kind: str, image_id: str = "") -> Image:
    """The image as the plan lists it, no layer read yet."""
    return image_from_plan(plan, [PENDING] * len(plan.layer_paths), name, kind, image_id)


def load_image(blobs: _Blobs, where: str, name: str, kind: str, platform: str | None,
               keep_broken: bool, cache: LayerCache | None, on_outline: OnOutline | None = None,
               on_layer: OnLayer | None = None, image_id: str = "") -> Image:
    plan = image_plan(blobs, where, platform)
    if on_outline is not None:
        on_outline(outline_of(plan, name, kind, image_id))
    layers, errors = read_layers(blobs, plan, where, keep_broken, cache, on_layer)
    return image_from_plan(plan, layers, name, kind, image_id, errors)
