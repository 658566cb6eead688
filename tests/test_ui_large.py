"""The explorer on 300,000 files (360,000 entries over 3 layers): it opens, moves, filters and
switches layers, showing the right rows. (Speed is measured in benchmarks/, not asserted here.)"""

from __future__ import annotations

import asyncio

import pytest

from dive_py.imagewriter import Entry, dir_entry, write_docker_archive
from dive_py.model.diff import DiffType
from dive_py.sources.resolve import Source
from dive_py.ui.app import DiveApp
from dive_py.ui.widgets import FileTreeView, LayerList
from dive_py.ui.pilot import settle
from tests.test_ui import press

DIRS, PER_DIR = 100, 1000  # per layer: 100 dirs of 1,000 files


def files(first_dir: int, tag: str) -> list[Entry]:
    entries = []
    for d in range(first_dir, first_dir + DIRS):
        entries.append(dir_entry(f"d{d:03}"))
        entries += [Entry(f"d{d:03}/f{f:04}", data=f"{tag}{d}.{f}\n".encode()) for f in range(PER_DIR)]
    return entries


@pytest.fixture(scope="module")
def big_archive(tmp_path_factory) -> str:
    rewritten = [Entry(f"d{d:03}/f{f:04}", data=f"new{d}.{f}\n".encode())
                 for d in range(60) for f in range(PER_DIR)]  # 60,000 files changed in layer 2
    layers = [files(0, "a"), files(100, "b"), files(200, "c") + rewritten]
    path = str(tmp_path_factory.mktemp("big") / "big.tar")
    return write_docker_archive(path, layers, tag="divepy-test/big:latest")


def screen_lines(app) -> list[str]:
    tree = app.query_one(FileTreeView)
    return [tree.render_line(y).text for y in range(tree.size.height)]


def test_a_300k_file_image_opens_moves_filters_and_switches_layers(big_archive):
    app = DiveApp(Source("docker-archive", big_archive))

    async def scenario(pilot):
        tree = pilot.app.query_one(FileTreeView)
        assert sum(len(layer.entries) for layer in pilot.app.analysis.image.layers) == 3 * DIRS * (PER_DIR + 1) + 60_000
        assert len(tree.state.rows) == DIRS * (PER_DIR + 1)  # layer 0: every row, none elided
        await press(pilot, "tab", "end")
        assert tree.state.current.path == "/d099/f0999"
        assert any("f0999" in line for line in screen_lines(pilot.app))

        await press(pilot, "tab", "end")  # last layer: the whole tree, its own changes marked
        assert pilot.app.query_one(LayerList).selected == 2
        rows = tree.state.rows
        assert sum(not row.is_dir for row in rows) == 3 * DIRS * PER_DIR
        changed = {row.path: row.diff for row in rows if not row.is_dir and row.diff is not DiffType.UNMODIFIED}
        assert len(changed) == DIRS * PER_DIR + 60_000
        assert changed["/d000/f0000"] is DiffType.MODIFIED and changed["/d299/f0999"] is DiffType.ADDED

        await press(pilot, "tab", "slash")
        for key in "d05./f099[0-2]$":
            await pilot.press(key)
        await press(pilot, "enter")
        shown = [row.path for row in tree.state.rows if not row.is_dir]
        assert shown == [f"/d05{d}/f099{f}" for d in range(10) for f in range(3)]
        assert any("f0992" in line for line in screen_lines(pilot.app))

        await press(pilot, "ctrl+u")  # hide unmodified: the filter keeps only modified files
        assert {row.diff for row in tree.state.rows if not row.is_dir} == {DiffType.MODIFIED}
        await press(pilot, "ctrl+u", "slash", "escape", "ctrl+space")  # all shown, no filter, collapsed
        assert len(tree.state.rows) == 3 * DIRS and all(row.collapsed for row in tree.state.rows)

    async def main():
        async with app.run_test(size=(140, 45)) as pilot:
            await settle(pilot, timeout=600)
            await scenario(pilot)

    asyncio.run(main())
