"""`divepy shared [IMAGE ...]`: which layers several images share, and what that saves."""

from __future__ import annotations

import argparse
import json

from humanize import naturalsize

from dive_py.analysis.shared import ImageLayers, Sharing, share
from dive_py.commands.common import (
    EXIT_OK,
    add_source_options,
    default_engine,
    load_image,
    source_of,
    write_output,
)
from dive_py.commands.table import table
from dive_py.sources.resolve import ENGINES


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="divepy shared",
        description="Which layers (by diff ID) the images use in common, each layer's size, the bytes "
                    "stored once instead of once per image, and each image's unique bytes.")
    p.add_argument("images", nargs="*", metavar="IMAGE",
                   help="images to compare (default: every local image of the engine)")
    add_source_options(p)
    p.add_argument("--json", metavar="FILE", help="write the result as JSON to FILE ('-' for stdout)")
    return p


def gather(args: argparse.Namespace) -> list[ImageLayers]:
    """Engine images are read in one save stream (each shared layer once); others one by one."""
    from dive_py.sources.local_images import saved_layers

    sources = [source_of(args, ref) for ref in args.images]
    engines = {s.kind for s in sources} or {default_engine(args)}
    if len(engines) == 1 and engines <= set(ENGINES):
        return saved_layers(engines.pop(), [s.ref for s in sources] or None)
    out = []
    for ref in args.images:
        image = load_image(args, ref)
        name = image.tags[0] if image.tags else image.name
        out.append(ImageLayers(name, tuple((layer.digest, layer.size) for layer in image.layers)))
    return out


def to_json(sharing: Sharing) -> dict:
    return {
        "images": [{"name": i.name, "layers": i.layers, "sizeBytes": i.size, "sharedBytes": i.shared,
                    "uniqueBytes": i.unique} for i in sharing.images],
        "layers": [{"digestId": layer.diff_id, "sizeBytes": layer.size, "images": list(layer.images),
                    "savedBytes": layer.saved} for layer in sharing.layers],
        "summary": {"images": len(sharing.images), "distinctLayers": len(sharing.layers),
                    "storedBytes": sharing.stored, "unsharedBytes": sharing.unshared,
                    "savedBytes": sharing.saved},
    }


def render(sharing: Sharing) -> str:
    layer_rows = [(layer.diff_id.removeprefix("sha256:")[:12], naturalsize(layer.size), len(layer.images),
                   naturalsize(layer.saved), ", ".join(layer.images)) for layer in sharing.layers]
    image_rows = [(i.name, i.layers, naturalsize(i.size), naturalsize(i.shared), naturalsize(i.unique))
                  for i in sharing.images]
    return "\n".join([
        "Layers (most shared first)",
        table(["Layer", "Size", "Images", "Saved", "Used by"], layer_rows, right=(1, 2, 3)),
        "Images",
        table(["Image", "Layers", "Size", "Shared", "Unique"], image_rows, right=(1, 2, 3, 4)),
        f"{len(sharing.images)} images, {len(sharing.layers)} distinct layers: "
        f"{naturalsize(sharing.stored)} stored once instead of {naturalsize(sharing.unshared)}, "
        f"{naturalsize(sharing.saved)} saved by sharing",
        "",
    ])


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    sharing = share(gather(args))
    if args.json:
        write_output(args.json, json.dumps(to_json(sharing), indent=2) + "\n")
    else:
        print(render(sharing), end="")
    return EXIT_OK
