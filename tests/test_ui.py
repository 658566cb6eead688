"""The Textual explorer, driven headless with Pilot on the demo image (no daemon needed)."""

from __future__ import annotations

import asyncio

import pytest
from rich.text import Text

from dive_py.demo import demo_archive
from dive_py.imagewriter import Entry, dir_entry, write_docker_archive
from dive_py.model.diff import DiffType
from dive_py.sources.resolve import Source
from dive_py.ui.app import DiveApp
from dive_py.ui.help import HelpScreen
from dive_py.ui.pilot import settle
from dive_py.ui.viewstate import CompareMode, SortMode, row_size
from dive_py.ui.widgets import FileTreeView, LayerList

SIZE = (140, 45)


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory) -> str:
    return demo_archive(str(tmp_path_factory.mktemp("demo")))


def run(app: DiveApp, scenario, size=SIZE):
    """Run `scenario(pilot)` against the app, headless."""

    async def main():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await scenario(pilot)

    asyncio.run(main())


async def press(pilot, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


def tree_of(pilot) -> FileTreeView:
    return pilot.app.query_one(FileTreeView)


def paths(pilot) -> list[str]:
    return [row.path for row in tree_of(pilot).state.rows]


def diffs(pilot) -> dict[str, DiffType]:
    return {row.path: row.diff for row in tree_of(pilot).state.rows}


def text_of(app, selector: str) -> str:
    """What a Static shows, as plain text."""
    content = app.screen.query_one(selector).content
    if isinstance(content, Text):
        return content.plain
    options = app.console.options.update_width(200)
    return "".join(segment.text for segment in app.console.render(content, options))


def demo_app(demo_path: str) -> DiveApp:
    return DiveApp(Source("docker-archive", demo_path))


# ---------------------------------------------------------------- start and layers

def test_starts_on_the_first_layer_with_the_layers_pane_focused(demo_path):
    async def scenario(pilot):
        app = pilot.app
        assert isinstance(app.focused, LayerList)
        assert app.explorer.layer == 0
        assert app.query_one(LayerList).selected == 0
        rows = tree_of(pilot).state.rows
        assert rows and all(row.diff is DiffType.ADDED for row in rows)
        assert "/bin/busybox" in paths(pilot)

    run(demo_app(demo_path), scenario)


def test_down_and_j_select_layers_and_the_tree_follows(demo_path):
    async def scenario(pilot):
        app = pilot.app
        before = diffs(pilot)
        await press(pilot, "down")
        assert app.explorer.layer == 1
        after = diffs(pilot)
        assert after != before
        assert after["/usr/bin/curl"] is DiffType.ADDED
        assert after["/bin/busybox"] is DiffType.UNMODIFIED
        await press(pilot, "j")
        assert app.explorer.layer == 2
        assert diffs(pilot)["/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease"] \
            is DiffType.REMOVED
        await press(pilot, "k")
        assert app.explorer.layer == 1
        await press(pilot, "end")
        assert app.explorer.layer == 6
        await press(pilot, "home")
        assert app.explorer.layer == 0

    run(demo_app(demo_path), scenario)


def test_clicking_a_layer_selects_it(demo_path):
    async def scenario(pilot):
        await pilot.click(LayerList, offset=(5, 3))
        await settle(pilot)
        assert pilot.app.explorer.layer == 3
        assert diffs(pilot)["/app/server.py"] is DiffType.ADDED

    run(demo_app(demo_path), scenario)


def test_ctrl_a_and_ctrl_l_switch_the_compare_mode(demo_path):
    async def scenario(pilot):
        app = pilot.app
        await press(pilot, *["down"] * 4)  # layer 4: chmod -R 755 /app
        assert app.explorer.mode is CompareMode.LAYER
        assert diffs(pilot)["/app/server.py"] is DiffType.MODIFIED
        assert diffs(pilot)["/usr/bin/curl"] is DiffType.UNMODIFIED
        await press(pilot, "ctrl+a")
        assert app.explorer.mode is CompareMode.AGGREGATED
        assert diffs(pilot)["/app/server.py"] is DiffType.ADDED
        assert diffs(pilot)["/usr/bin/curl"] is DiffType.ADDED
        assert "aggregated" in text_of(app, "#title")
        await press(pilot, "ctrl+l")
        assert app.explorer.mode is CompareMode.LAYER
        assert diffs(pilot)["/app/server.py"] is DiffType.MODIFIED

    run(demo_app(demo_path), scenario)


# ---------------------------------------------------------------- the tree

def test_collapse_and_expand(demo_path):
    async def scenario(pilot):
        app = pilot.app
        await press(pilot, "tab")
        tree = tree_of(pilot)
        assert app.focused is tree
        assert tree.state.current.path == "/bin"
        assert "/bin/busybox" in paths(pilot)
        await press(pilot, "left")
        assert tree.state.current.collapsed
        assert "/bin/busybox" not in paths(pilot)
        await press(pilot, "right")
        assert "/bin/busybox" in paths(pilot)
        await press(pilot, "h")
        assert "/bin/busybox" not in paths(pilot)
        await press(pilot, "l")
        assert "/bin/busybox" in paths(pilot)
        await press(pilot, "space")
        assert "/bin/busybox" not in paths(pilot)
        await press(pilot, "space")
        assert "/bin/busybox" in paths(pilot)
        # left on a file goes to its directory
        await press(pilot, "down", "left")
        assert tree.state.current.path == "/bin"
        # ctrl+space closes everything, then opens everything
        total = len(paths(pilot))
        await press(pilot, "ctrl+@")
        assert all(row.depth == 0 for row in tree.state.rows)
        assert all(row.collapsed for row in tree.state.rows if row.is_dir)
        await press(pilot, "ctrl+@")
        assert len(paths(pilot)) == total

    run(demo_app(demo_path), scenario)


def test_clicking_a_directory_toggles_it(demo_path):
    async def scenario(pilot):
        tree = tree_of(pilot)
        index = paths(pilot).index("/etc")
        await pilot.click(FileTreeView, offset=(40, index))
        await settle(pilot)
        assert tree.state.current.path == "/etc"
        assert "/etc/passwd" not in paths(pilot)
        await pilot.click(FileTreeView, offset=(40, index))
        await settle(pilot)
        assert "/etc/passwd" in paths(pilot)

    run(demo_app(demo_path), scenario)


def test_hiding_unmodified_hides_rows(demo_path):
    async def scenario(pilot):
        await press(pilot, "down", "down")  # layer 2: removes the apt lists
        total = len(paths(pilot))
        await press(pilot, "tab", "ctrl+u")
        rows = tree_of(pilot).state.rows
        assert 0 < len(rows) < total
        assert all(row.diff is not DiffType.UNMODIFIED for row in rows)
        assert "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease" in paths(pilot)
        assert "/bin/busybox" not in paths(pilot)
        await press(pilot, "ctrl+r")  # hide removed too: only the directories that changed
        assert paths(pilot) == ["/var", "/var/lib", "/var/lib/apt", "/var/lib/apt/lists"]
        assert set(diffs(pilot).values()) == {DiffType.MODIFIED}
        await press(pilot, "ctrl+r", "ctrl+u")
        assert len(paths(pilot)) == total

    run(demo_app(demo_path), scenario)


def test_hiding_added_and_modified(demo_path):
    async def scenario(pilot):
        await press(pilot, *["down"] * 4, "tab")
        assert diffs(pilot)["/app/server.py"] is DiffType.MODIFIED
        await press(pilot, "ctrl+n")
        assert "/app/server.py" not in paths(pilot)
        await press(pilot, "ctrl+n", "ctrl+a")
        assert "/app/server.py" in paths(pilot)

    run(demo_app(demo_path), scenario)


def test_filter_narrows_rows_and_survives_an_invalid_regex(demo_path):
    async def scenario(pilot):
        app = pilot.app
        await press(pilot, "end")  # the last layer: /app exists, /etc/app/legacy.conf is removed
        total = len(paths(pilot))
        await press(pilot, "slash")
        assert app.focused.id == "filter"
        await press(pilot, *"app")
        filtered = paths(pilot)
        assert 0 < len(filtered) < total
        assert "/app/server.py" in filtered and "/etc/app/legacy.conf" in filtered
        assert "/bin/busybox" not in filtered
        # every row matches, or leads to a row that does
        for path in filtered:
            assert "app" in path or any(p.startswith(path + "/") and "app" in p for p in filtered)
        await press(pilot, "(")  # "app(" is not a valid regex
        assert app.query_one("#filter-error").display
        assert "invalid regex" in text_of(app, "#filter-error")
        assert paths(pilot) == filtered  # the last valid filter stays
        await press(pilot, "backspace")
        assert not app.query_one("#filter-error").display
        await press(pilot, "enter")
        assert app.focused is tree_of(pilot)
        assert paths(pilot) == filtered
        await press(pilot, "ctrl+f", "escape")
        assert len(paths(pilot)) == total
        assert not app.query_one("#filter-bar").display
        # keys bound elsewhere ("/", "q") are typed into the filter
        await press(pilot, "ctrl+f", "slash", "e", "t", "c", "slash", "q")
        assert app.is_running
        assert app.query_one("#filter").value == "/etc/q"
        assert paths(pilot) == []

    run(demo_app(demo_path), scenario)


def test_sort_by_size(demo_path):
    async def scenario(pilot):
        tree = tree_of(pilot)
        by_name = [row.path for row in tree.state.rows if row.depth == 0]
        assert by_name == sorted(by_name)
        await press(pilot, "tab", "ctrl+o")
        assert tree.state.options.sort is SortMode.SIZE
        top = [row for row in tree.state.rows if row.depth == 0]
        sizes = [row_size(row) for row in top]
        assert sizes == sorted(sizes, reverse=True)
        assert top[0].path == "/bin"  # busybox is the biggest thing of the base layer
        await press(pilot, "ctrl+o")
        assert [row.path for row in tree.state.rows if row.depth == 0] == by_name

    run(demo_app(demo_path), scenario)


def test_attributes_column_toggles(demo_path):
    async def scenario(pilot):
        tree = tree_of(pilot)
        line = tree.render_row(0, 120).text
        assert line.startswith("drwxr-xr-x")
        await press(pilot, "tab", "ctrl+b")
        line = tree.render_row(0, 120).text
        assert not line.startswith("drwx")
        assert "bin" in line

    run(demo_app(demo_path), scenario)


def test_help_lists_every_key(demo_path):
    async def scenario(pilot):
        app = pilot.app
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        rendered = text_of(app, "#help-table")
        for key in ("tab", "^a", "^l", "^r", "^n", "^u", "^b", "^o", "^f", "space", "esc", "q"):
            assert key in rendered, key
        await press(pilot, "escape")
        assert not isinstance(app.screen, HelpScreen)

    run(demo_app(demo_path), scenario)


def test_keys_can_be_remapped_by_binding_id(demo_path):
    keymap = {"layers.down": "n", "tree.toggle-unmodified": "x"}
    app = DiveApp(Source("docker-archive", demo_path), keymap=keymap)

    async def scenario(pilot):
        await press(pilot, "n")
        assert pilot.app.explorer.layer == 1
        await press(pilot, "tab", "x")
        assert DiffType.UNMODIFIED in tree_of(pilot).state.options.hidden
        await press(pilot, "question_mark")
        assert "n" in text_of(pilot.app, "#help-table").split("Down one row")[0].splitlines()[-1]

    run(app, scenario)


@pytest.mark.parametrize("key", ["q", "ctrl+c"])
def test_q_and_ctrl_c_quit(demo_path, key):
    app = demo_app(demo_path)

    async def scenario(pilot):
        await press(pilot, "tab")
        await pilot.press(key)

    run(app, scenario)
    assert app.return_code == 0
    assert not app.is_running


def test_a_load_error_shows_one_line_and_q_still_quits(tmp_path):
    app = DiveApp(Source("docker-archive", str(tmp_path / "missing.tar")))

    async def scenario(pilot):
        assert pilot.app.load_error is not None
        message = text_of(pilot.app, "#message")
        assert "missing.tar: no such file or directory" in message
        assert "\n" not in message.strip()
        await pilot.press("q")

    run(app, scenario)
    assert app.return_code == 0


def test_a_broken_archive_shows_the_error(tmp_path):
    path = tmp_path / "broken.tar"
    path.write_bytes(b"this is not a tar file at all" * 40)
    app = DiveApp(Source("docker-archive", str(path)))

    async def scenario(pilot):
        assert pilot.app.load_error
        assert "Error" in text_of(pilot.app, "#message")

    run(app, scenario)


def test_names_from_the_image_are_escaped_not_markup(tmp_path):
    evil = "[bold red]boom[/]\x1b[2J"
    path = write_docker_archive(str(tmp_path / "evil.tar"), [[
        dir_entry("etc"), Entry(f"etc/{evil}", data=b"x"), Entry("etc/link", "2", link=f"/{evil}"),
    ]], [{"created_by": f"/bin/sh -c echo {evil}"}], tag="evil/[red]tag[/]:latest")
    app = DiveApp(Source("docker-archive", path))

    async def scenario(pilot):
        tree = tree_of(pilot)
        texts = [tree.render_row(i, 200).text for i in range(len(tree.state.rows))]
        assert any("[bold red]boom[/]\\x1b[2J" in text for text in texts)
        assert any("link → /[bold red]boom[/]\\x1b[2J" in text for text in texts)
        assert not any("\x1b" in text for text in texts)
        layers = pilot.app.query_one(LayerList)
        assert "echo [bold red]boom[/]\\x1b[2J" in layers.render_row(0, 200).text
        assert "evil/[red]tag[/]:latest" in text_of(pilot.app, "#title")

    run(app, scenario)


def test_stacked_layout_when_narrow(demo_path):
    async def scenario(pilot):
        app = pilot.app
        assert app.screen.has_class("-narrow")
        left, right = app.query_one("#left"), app.query_one("#tree-pane")
        assert right.region.y > left.region.y
        assert right.region.width > 80
        await press(pilot, "down")
        assert app.explorer.layer == 1

    run(demo_app(demo_path), scenario, size=(90, 45))


def test_the_header_fits_the_width_and_cuts_no_word(demo_path):
    async def scenario(pilot):
        app = pilot.app
        await press(pilot, "down", "down")
        for width, expected in ((140, "layer compare: what layer #2 changed"), (80, "layer compare")):
            await pilot.resize_terminal(width, 40)
            await settle(pilot)
            title = text_of(app, "#title")
            assert title.rstrip().endswith(expected) and len(title) <= width, (width, title)

    run(demo_app(demo_path), scenario, size=(140, 40))


def test_snapshot_of_the_main_screen(demo_path, snap_compare):
    assert snap_compare(demo_app(demo_path), terminal_size=SIZE, run_before=settle)

