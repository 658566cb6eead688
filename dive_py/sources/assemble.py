"""From the parts an archive or engine hands over to an Image."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dive_py.model.entries import EMPTY
from dive_py.model.image import Image, Layer, pair_history, parse_history
from dive_py.sources.archive import ImageParts, ImagePlan, LayerData

# A layer not read yet: no entries, size unknown (the explorer shows the list before the contents)
PENDING: LayerData = (EMPTY, 0)


def _blob_id(path: str) -> str:
    """A layer's name in its source: the legacy folder name, or the blob's hex digest."""
    if path.endswith("/layer.tar"):
        return path[: -len("/layer.tar")].rsplit("/", 1)[-1]
    return path.rsplit("/", 1)[-1]


def image_from_plan(plan: ImagePlan, layers: Sequence[LayerData], name: str, source: str,
                    image_id: str = "", errors: Mapping[int, str] | None = None) -> Image:
    """The image the plan describes, with `layers[i]` as layer i's entries and size and
    `errors[i]` why layer i could not be read (kept empty)."""
    config = plan.config
    history = parse_history(config)
    diff_ids = [d for d in plan.diff_ids() if isinstance(d, str)]
    errors = errors or {}
    warnings = []
    count = len(layers)
    if diff_ids and len(diff_ids) != count:
        warnings.append(f"{name}: config lists {len(diff_ids)} layers, manifest {count}")
    with_layer = sum(1 for step in history if not step.empty_layer)
    if history and with_layer != count:
        warnings.append(f"{name}: history has {with_layer} steps with a layer, the image {count} layers")
    steps = pair_history(history, count)
    listed, keys = plan.diff_ids(), plan.layer_keys()
    built = tuple(  # (a layer's diff ID is the config's entry at its place, not the i-th string)
        Layer(index=i, digest=listed[i] if i < len(listed) and isinstance(listed[i], str) else "",
              blob_id=_blob_id(path), history=steps[i], entries=entries, size=size,
              error=errors.get(i, ""),
              content_digest=keys[i])
        for i, (path, (entries, size)) in enumerate(zip(plan.layer_paths, layers)))
    return Image(name=name, source=source, layers=built, config=config, history=history,
                 tags=tuple(plan.tags), image_id=image_id, warnings=tuple(warnings))


def image_from_parts(parts: ImageParts, name: str, source: str, image_id: str = "") -> Image:
    plan = ImagePlan(parts.config, "", parts.layer_paths, parts.tags)
    return image_from_plan(plan, parts.layers, name, source, image_id, parts.errors)
