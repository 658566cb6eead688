#!/usr/bin/env python3
"""Screenshots of the explorer on the demo image, headless at 140x45, as SVG in screenshots/.

    python scripts/screenshots.py [--out DIR] [--size 140x45]

Writes overview.svg, layer-changes.svg, filtered.svg, collapsed.svg, build-steps.svg,
image-config.svg, help.svg, viewer.svg, find.svg and blame.svg.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from dive_py.demo import demo_archive  # noqa: E402
from dive_py.sources.resolve import Source  # noqa: E402
from dive_py.ui.app import DiveApp  # noqa: E402
from dive_py.ui.pilot import settle  # noqa: E402
from dive_py.ui.viewstate import find_row  # noqa: E402
from dive_py.ui.widgets import FileTreeView  # noqa: E402


async def press(pilot, *keys: str) -> None:
    """Press keys; "goto:/some/path" puts the tree's cursor on that row instead."""
    for key in keys:
        if key.startswith("goto:"):
            tree = pilot.app.query_one(FileTreeView)
            index = find_row(tree.state.rows, key[5:])
            if index is None:
                raise SystemExit(f"screenshots: no row {key[5:]}")
            tree.move_cursor(index)
        else:
            await pilot.press(key)
        await settle(pilot)


# name -> keys pressed from a fresh start
SCENES: dict[str, list[str]] = {
    "overview": [],
    # the pip layer, compared with the layer below, unchanged files hidden
    "layer-changes": ["down"] * 5 + ["ctrl+l", "tab", "ctrl+u"],
    "filtered": ["end", "slash", "a", "p", "p", "enter"],
    # everything closed, then a few directories opened again
    "collapsed": ["end", "tab", "ctrl+@", "goto:/etc", "space", "goto:/etc/app", "space",
                  "goto:/usr", "space", "goto:/usr/local", "space", "goto:/usr/local/lib", "space"],
    # every build step, the metadata-only ones dimmed, the cursor on one (ENV)
    "build-steps": ["b", "down", "down", "down"],
    "image-config": ["c"],
    "help": ["question_mark"],
    # a file as of the last layer, highlighted by its name; find across all layers; blame
    "viewer": ["end", "tab", "goto:/app/server.py", "enter"],
    "find": ["f", "a", "p", "t", "/"],
    "blame": ["end", "tab", "goto:/app/config.yaml", "b"],
}


async def shoot(archive: str, name: str, keys: list[str], out: str, size: tuple[int, int]) -> str:
    app = DiveApp(Source("docker-archive", archive))
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await press(pilot, *keys)
        await pilot.pause(0.2)
        return app.save_screenshot(f"{name}.svg", out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.path.join(ROOT, "screenshots"))
    p.add_argument("--size", default="140x45")
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive = demo_archive(tmp)
        for name, keys in SCENES.items():
            path = asyncio.run(shoot(archive, name, keys, args.out, (width, height)))
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
