"""The explorer's file keys, driven headless on an engine-built image: view, extract, blame, find."""

from __future__ import annotations

import asyncio
import os

import pytest
from rich.syntax import Syntax
from rich.text import Text

from dive_py.sources.resolve import Source
from dive_py.ui.app import DiveApp
from dive_py.ui.blame import BlameScreen
from dive_py.ui.extract import ExtractScreen
from dive_py.ui.find import FindScreen
from dive_py.ui.help import HelpScreen
from dive_py.ui.pilot import settle
from dive_py.ui.viewer import TEXT_PAGE, FileViewer
from dive_py.ui.widgets import FileTreeView
from tests.test_ui import press
from tests.test_ui import run as run_app

pytestmark = pytest.mark.engine

APP_PY = b"import os\n\n\ndef main():\n    print(os.getcwd())\n"
DOCKERFILE = """\
FROM divepy-test/busybox:latest
RUN mkdir /w && seq 1 30000 > /w/numbers.txt && head -c 5000 /bin/busybox > /w/blob.bin
COPY app.py /w/app.py
RUN echo 'main()' >> /w/app.py
"""
NUMBERS = b"".join(b"%d\n" % i for i in range(1, 30001))


@pytest.fixture(scope="module")
def image(build_image):
    return build_image(DOCKERFILE, {"app.py": APP_PY}, tag="i7-ui")


def run(image, scenario):
    """Run `scenario(pilot)` headless on an engine image (or on a Source)."""
    source = image if isinstance(image, Source) else Source("docker", image.id)
    run_app(DiveApp(source), scenario)


async def on_path(pilot, layer: int, path: str, key: str):
    """Put the tree on `path` at `layer`, press `key`, and return the screen it opens."""
    pilot.app.jump_to(layer, path)
    await settle(pilot)
    await press(pilot, key)
    return pilot.app.screen


def cursor_path(pilot) -> str:
    return pilot.app.query_one(FileTreeView).state.current.path


def test_enter_views_text_highlighted_and_pages_large_files(image):
    async def scenario(pilot):
        app = pilot.app
        viewer = await on_path(pilot, 3, "/w/app.py", "enter")
        assert isinstance(viewer, FileViewer)
        body = viewer.query_one("#viewer-body").content
        assert isinstance(body, Syntax) and body.lexer.name == "Python"
        assert body.code == (APP_PY + b"main()\n").decode()
        await press(pilot, "escape")
        assert not isinstance(app.screen, FileViewer)

        await on_path(pilot, 3, "/w/numbers.txt", "v")
        pager = app.screen.pager
        assert pager.text and pager.size == len(NUMBERS)
        first = pager.current
        assert len(first.data) <= TEXT_PAGE and first.data.endswith(b"\n") and first.line == 1
        await press(pilot, "n")
        second = pager.current
        assert second.offset == len(first.data) and second.line == first.data.count(b"\n") + 1
        assert NUMBERS[second.offset:second.offset + len(second.data)] == second.data
        await press(pilot, "p")
        assert pager.current is first

    run(image, scenario)


def test_binary_files_show_as_hex(image):
    async def scenario(pilot):
        app = pilot.app
        await on_path(pilot, 1, "/w/blob.bin", "enter")
        body = app.screen.query_one("#viewer-body").content
        assert isinstance(body, Text) and not app.screen.pager.text
        assert body.plain.startswith("00000000  7f 45 4c 46")  # busybox's ELF header
        assert app.screen.pager.size == 5000

    run(image, scenario)


def test_x_extracts_the_selected_directory_where_asked(image, tmp_path):
    async def scenario(pilot):
        app = pilot.app
        await on_path(pilot, 2, "/w", "x")
        assert isinstance(app.screen, ExtractScreen)
        field = app.screen.query_one("#extract-dir")
        field.value = str(tmp_path / "out")
        await press(pilot, "enter")
        assert not isinstance(app.screen, ExtractScreen)
        assert app.last_extract.files == 3

    run(image, scenario)
    out = tmp_path / "out" / "w"
    assert (out / "app.py").read_bytes() == APP_PY  # as of layer 2, before the append
    assert (out / "numbers.txt").read_bytes() == NUMBERS
    assert sorted(os.listdir(out)) == ["app.py", "blob.bin", "numbers.txt"]


def test_b_shows_blame_for_the_selected_file(image):
    async def scenario(pilot):
        app = pilot.app
        screen = await on_path(pilot, 3, "/w/app.py", "b")
        assert isinstance(screen, BlameScreen)
        assert [(t.layer, t.change.value) for t in screen.touches] == [(2, "added"), (3, "content modified")]
        options = app.console.options.update_width(120)
        text = "".join(s.text for s in app.console.render(screen.query_one("#blame-table").content, options))
        assert "content modified" in text and "echo 'main()' >> /w/app.py" in text

    run(image, scenario)


def test_f_finds_across_layers_and_jumps_to_the_layer(image):
    async def scenario(pilot):
        app = pilot.app
        await press(pilot, "f")
        assert isinstance(app.screen, FindScreen)
        await press(pilot, *"numbers")
        screen = app.screen
        assert [(f.path, f.layer) for f in screen.results] == [("w/numbers.txt", 1)]
        await press(pilot, "enter", "enter")
        assert not isinstance(app.screen, FindScreen)
        assert app.explorer.layer == 1
        assert cursor_path(pilot) == "/w/numbers.txt"
        assert app.focused is app.query_one(FileTreeView)

    run(image, scenario)


def test_help_lists_the_file_keys(image):
    async def scenario(pilot):
        await press(pilot, "question_mark")
        assert isinstance(pilot.app.screen, HelpScreen)
        options = pilot.app.console.options.update_width(200)
        table = pilot.app.screen.query_one("#help-table").content
        text = "".join(s.text for s in pilot.app.console.render(table, options))
        for words in ("View the file", "Extract the selected", "Every layer that added", "Find paths in all layers"):
            assert words in text

    run(image, scenario)


def test_image_details_show_the_hints(tmp_path):
    from dive_py.demo import demo_archive

    async def scenario(pilot):
        options = pilot.app.console.options.update_width(100)
        content = pilot.app.query_one("#image-details").content
        text = "".join(s.text for s in pilot.app.console.render(content, options))
        hints = text.split("Hints", 1)[1]
        assert "layer 1 writes the apt cache" in hints and "--no-cache-dir" in hints
        assert "COPY --chmod" in hints

    run(Source("docker-archive", demo_archive(str(tmp_path))), scenario)


def test_the_diff_explorer_views_the_file_of_a_or_b(image, build_image):
    from dive_py.ui.diffapp import DiffApp

    other = build_image("FROM divepy-test/busybox:latest\nRUN mkdir /w && echo other > /w/app.py\n", tag="i7-ui-a")

    async def main():
        app = DiffApp(Source("docker", other.id), Source("docker", image.id))
        async with app.run_test(size=(140, 45)) as pilot:
            await settle(pilot)
            for layer, expected in ((0, "other\n"), (1, (APP_PY + b"main()\n").decode())):
                await on_path(pilot, layer, "/w/app.py", "enter")
                assert isinstance(app.screen, FileViewer)
                assert app.screen.query_one("#viewer-body").content.code == expected
                await press(pilot, "escape")
            await press(pilot, "f")
            assert not isinstance(app.screen, FindScreen)

    asyncio.run(main())
