"""The explorer across images: platform in the header, layers shared with other local images,
and `divepy diff --explore`'s combined tree (headless, on real engine images)."""

from __future__ import annotations

import asyncio

import pytest

from dive_py.model.diff import DiffType
from dive_py.sources.resolve import Source
from dive_py.ui.app import DiveApp
from dive_py.ui.diffapp import DiffApp
from dive_py.ui.pilot import settle
from tests.test_shared_diff import images  # noqa: F401  (the fixture: base, a and b built on it)
from tests.test_ui import SIZE, diffs, text_of

pytestmark = pytest.mark.engine


def run(app, scenario):
    async def main():
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, timeout=120)
            await app.workers.wait_for_complete()
            await pilot.pause()
            await scenario(pilot)

    asyncio.run(main())


def test_header_platform_and_layers_shared_with_other_local_images(images):  # noqa: F811
    base, a, b = images
    app = DiveApp(Source("docker", a.id))

    async def scenario(pilot):
        assert "linux/amd64" in text_of(app, "#title") or "linux/arm64" in text_of(app, "#title")
        assert "Shared with:" in text_of(app, "#layer-details")  # busybox's layer: every test image
        await pilot.press("down")  # the base's own layer: only the base and the two built on it
        await settle(pilot)
        second = text_of(app, "#layer-details")
        for other in (base.tags[0], b.tags[0]):
            assert other in second
        assert "divepy-test/busybox:latest" not in second
        assert a.tags[0] not in second  # the image itself is not "another" image
        await pilot.press("end")
        await settle(pilot)
        assert "Shared with: no other local image" in text_of(app, "#layer-details")

    run(app, scenario)


def test_an_archive_has_no_shared_with_line(demo_path):
    app = DiveApp(Source("docker-archive", demo_path))

    async def scenario(pilot):
        assert "Shared with" not in text_of(app, "#layer-details")
        assert "linux/amd64" in text_of(app, "#title")

    run(app, scenario)


def test_diff_explorer_marks_b_relative_to_a(images):  # noqa: F811
    _, a, b = images
    app = DiffApp(Source("docker", a.tags[0]), Source("docker", b.tags[0]))

    async def scenario(pilot):
        marks = diffs(pilot)
        assert marks["/app/app.txt"] == DiffType.MODIFIED
        assert marks["/data/only-b.bin"] == DiffType.ADDED
        assert marks["/common/common.bin"] == DiffType.REMOVED
        assert marks["/etc/conf/x"] == DiffType.REMOVED
        assert marks["/bin/busybox"] == DiffType.UNMODIFIED
        assert "B relative to A" in text_of(app, "#title")
        assert app.query_one("#tree-pane").border_title == "Combined tree: B relative to A"
        details = " ".join(text_of(app, "#image-details").split())
        assert "Added in B: 2 paths" in details and "Common base: 2 layers" in details
        await pilot.press("up")
        await settle(pilot)
        marks = diffs(pilot)
        assert "/data/only-b.bin" not in marks and marks["/app/only-a.txt"] == DiffType.ADDED
        assert "A alone" in text_of(app, "#title")
        assert app.query_one("#tree-pane").border_title == "A's final tree"

    run(app, scenario)


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory) -> str:
    from dive_py.demo import demo_archive

    return demo_archive(str(tmp_path_factory.mktemp("demo")))
