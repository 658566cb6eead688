"""From the parts an archive or engine hands over to an Image."""

from __future__ import annotations

from dive_py.model.image import Image, Layer, pair_history, parse_history
from dive_py.sources.archive import ImageParts


def _blob_id(path: str) -> str:
    """A layer's name in its source: the legacy folder name, or the blob's hex digest."""
    if path.endswith("/layer.tar"):
        return path[: -len("/layer.tar")].rsplit("/", 1)[-1]
    return path.rsplit("/", 1)[-1]


def image_from_parts(parts: ImageParts, name: str, source: str, image_id: str = "") -> Image:
    config = parts.config
    history = parse_history(config)
    rootfs = config.get("rootfs") if isinstance(config.get("rootfs"), dict) else {}
    listed = rootfs.get("diff_ids")
    diff_ids = [d for d in listed if isinstance(d, str)] if isinstance(listed, list) else []
    warnings = []
    count = len(parts.layers)
    if diff_ids and len(diff_ids) != count:
        warnings.append(f"{name}: config lists {len(diff_ids)} layers, manifest {count}")
    with_layer = sum(1 for step in history if not step.empty_layer)
    if history and with_layer != count:
        warnings.append(f"{name}: history has {with_layer} steps with a layer, the image {count} layers")
    steps = pair_history(history, count)
    layers = tuple(
        Layer(index=i, digest=diff_ids[i] if i < len(diff_ids) else "",
              blob_id=_blob_id(path), history=steps[i], entries=entries, size=size,
              error=parts.errors.get(i, ""))
        for i, (path, (entries, size)) in enumerate(zip(parts.layer_paths, parts.layers)))
    return Image(name=name, source=source, layers=layers, config=config, history=history,
                 tags=tuple(parts.tags), image_id=image_id, warnings=tuple(warnings))
