"""What `cat`, `extract`, `blame` and `find` share: an image, its trees, and a chosen layer."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from dive_py.commands.common import add_source_options, source_of, status
from dive_py.errors import printable


@dataclass(frozen=True)
class Opened:
    source: object  # dive_py.sources.resolve.Source
    analysis: object  # dive_py.analysis.analyze.Analysis
    layer: int


def parser(prog: str, description: str, with_layer: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"divepy {prog}", description=description)
    p.add_argument("image", help="image reference, docker-archive://FILE, oci-archive://FILE, oci://DIR or a path")
    add_source_options(p)
    if with_layer:
        p.add_argument("--layer", type=int, metavar="N",
                       help="the image as of layer N (from 0, as in the JSON export; -1 is the last, the default)")
    return p


def open_image(args: argparse.Namespace) -> Opened:
    from dive_py.analysis.analyze import analyze
    from dive_py.model.lookup import layer_index

    source = source_of(args, args.image)
    image = source.load()
    for warning in image.warnings:
        status(f"warning: {printable(warning)}")
    analysis = analyze(image)
    return Opened(source, analysis, layer_index(len(image.layers), getattr(args, "layer", None)))
