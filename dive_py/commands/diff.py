"""`divepy diff IMAGE_A IMAGE_B`: the common base, then every path added, removed or changed."""

from __future__ import annotations

import argparse
import json
import sys

from humanize import naturalsize

from dive_py.analysis.imagediff import ADDED, CHANGED, REMOVED, ImageDiff, diff_images
from dive_py.commands.common import EXIT_OK, add_source_options, load_analysis, source_of, write_output
from dive_py.commands.table import table
from dive_py.errors import UsageError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="divepy diff",
        description="Compare two images (any sources): their common base layers, then every path "
                    "added, removed or changed from A's final tree to B's.")
    p.add_argument("image_a", metavar="IMAGE_A")
    p.add_argument("image_b", metavar="IMAGE_B")
    add_source_options(p)
    p.add_argument("--json", metavar="FILE", help="write the result as JSON to FILE ('-' for stdout)")
    p.add_argument("-e", "--explore", action="store_true",
                   help="open the explorer on the combined tree, marked as B relative to A")
    return p


def _name(analysis) -> str:
    image = analysis.image
    return image.tags[0] if image.tags else image.name


def summary(diff: ImageDiff) -> dict:
    return {
        "commonLayers": diff.common_layers, "commonBytes": diff.common_bytes,
        "layersA": len(diff.a.image.layers), "layersB": len(diff.b.image.layers),
        "sizeA": diff.a.size, "sizeB": diff.b.size,
        "finalSizeA": diff.a.final_size, "finalSizeB": diff.b.final_size,
        "added": diff.count(ADDED), "addedBytes": diff.bytes_of(ADDED, "b"),
        "removed": diff.count(REMOVED), "removedBytes": diff.bytes_of(REMOVED, "a"),
        "changed": diff.count(CHANGED), "changedBytesA": diff.bytes_of(CHANGED, "a"),
        "changedBytesB": diff.bytes_of(CHANGED, "b"),
    }


def to_json(diff: ImageDiff) -> dict:
    return {
        "imageA": _name(diff.a), "imageB": _name(diff.b),
        "commonBase": [layer.digest for layer in diff.a.image.layers[: diff.common_layers]],
        "summary": summary(diff),
        "paths": [{"path": c.path, "change": c.change, "kindA": c.kind_a or None, "kindB": c.kind_b or None,
                   "sizeA": c.size_a if c.kind_a else None, "sizeB": c.size_b if c.kind_b else None,
                   "layerA": c.layer_a, "layerB": c.layer_b} for c in diff.changes],
    }


def render(diff: ImageDiff) -> str:
    s = summary(diff)
    rows = []
    for c in diff.changes:
        rows.append(({ADDED: "+", REMOVED: "-", CHANGED: "~"}[c.change],
                     naturalsize(c.size_a) if c.kind_a else "", naturalsize(c.size_b) if c.kind_b else "",
                     f"#{c.layer_a}" if c.layer_a is not None else "", f"#{c.layer_b}" if c.layer_b is not None else "",
                     c.path + ("/" if (c.kind_b or c.kind_a) == "dir" else "")))
    lines = [
        f"A: {_name(diff.a)}  ({s['layersA']} layers, {naturalsize(s['sizeA'])})",
        f"B: {_name(diff.b)}  ({s['layersB']} layers, {naturalsize(s['sizeB'])})",
        f"Common base: {diff.common_layers} layers, {naturalsize(diff.common_bytes)}",
        "",
    ]
    if rows:
        lines.append(table(["", "Size A", "Size B", "Layer A", "Layer B", "Path"], rows, right=(1, 2, 3, 4)))
    else:
        lines.append("The final trees are identical.\n")
    lines.append(f"{s['added']} added ({naturalsize(s['addedBytes'])}), "
                 f"{s['removed']} removed ({naturalsize(s['removedBytes'])}), "
                 f"{s['changed']} changed ({naturalsize(s['changedBytesA'])} -> {naturalsize(s['changedBytesB'])})")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.explore:
        if args.json:
            raise UsageError("--explore and --json do not go together")
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise UsageError("not a terminal: the explorer needs one (drop --explore for a table)")
        from dive_py.config import load_config
        from dive_py.ui.diffapp import run

        config = load_config()
        return run(source_of(args, args.image_a), source_of(args, args.image_b), config)
    diff = diff_images(load_analysis(args, args.image_a), load_analysis(args, args.image_b))
    if args.json:
        write_output(args.json, json.dumps(to_json(diff), indent=2) + "\n")
    else:
        print(render(diff), end="")
    return EXIT_OK
