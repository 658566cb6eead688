"""The explorer on hostile images: names shown escaped and literal on the real screen, and a
broken layer shown as an error row while every other layer stays usable."""

from __future__ import annotations

import gzip

from dive_py.sources.resolve import Source
from dive_py.ui.app import DiveApp
from dive_py.ui.widgets import LayerList
from tests.hostile import Entry, dir_entry, files_named, layer_tar, legacy, sha256, write_tar
from tests.test_ui import press, run, text_of, tree_of


def screen_text(app) -> str:
    """Every character on the screen as the terminal would get it, line by line."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


# a "/" makes directories of a tar name, so the markup with closing tags is in a path
EVIL = ["esc\x1b[2J\x1b]0;title\x07", "[bold red]boom", "bad\udcffbyte", "cr\rlf\nname",
        "[@click=app.quit]q", "tags/[red]x[/]"]


def test_hostile_names_and_commands_on_the_screen(tmp_path):
    layer = lambda content: files_named(EVIL, content)
    history = [{"created_by": "/bin/sh -c echo \x1b[31m[blink]pwn[/blink]"}, {"created_by": "[i]two[/i]"}]
    path = write_tar(tmp_path / "evil.tar", legacy([layer(b"aa"), layer(b"bbb")], history=history))
    app = DiveApp(Source("docker-archive", path))

    async def scenario(pilot):
        assert pilot.app.explorer is not None, pilot.app.load_error
        await press(pilot, "down")  # layer 1: the evil names are modified, both layers listed
        screen = screen_text(pilot.app)
        assert "\x1b" not in screen and "\x07" not in screen and "\r" not in screen
        for shown in ("esc\\x1b[2J\\x1b]0;title\\x07", "[bold red]boom", "bad\\xffbyte",
                      "cr\\x0dlf\\x0aname", "[@click=app.quit]q", "/tags/[red]x[/]",
                      "echo \\x1b[31m[blink]pwn[/blink]", "[i]two[/i]"):
            assert shown in screen, shown
        # the inefficient-files table lists them too, literally
        details = text_of(pilot.app, "#image-details")
        assert "/[bold red]boom" in details and "/esc\\x1b[2J" in details
        # a filter on a markup-looking name matches it as text
        await press(pilot, "tab", "slash", *"boom", "enter")
        assert [row.name for row in tree_of(pilot).state.rows] == ["[bold red]boom"]
        await press(pilot, "escape", "tab")
        assert pilot.app.is_running  # nothing clicked app.quit

    run(app, scenario)


def _broken_image(tmp_path) -> str:
    good = [layer_tar([dir_entry("etc"), Entry("etc/base", data=b"b" * 100)]),
            layer_tar([Entry("etc/two", data=b"2" * 200)]),
            layer_tar([Entry("etc/three", data=b"3" * 300), Entry("etc/base", data=b"B" * 100)])]
    blobs = [good[0], gzip.compress(good[1])[:-30], good[2]]  # layer 1: a cut gzip stream
    diff_ids = [sha256(t) for t in good]
    return write_tar(tmp_path / "broken.tar", legacy(blobs, diff_ids=diff_ids))


def test_a_broken_layer_is_an_error_row_and_the_rest_stays_usable(tmp_path):
    app = DiveApp(Source("docker-archive", _broken_image(tmp_path)))

    async def scenario(pilot):
        app = pilot.app
        assert app.load_error is None and app.explorer is not None
        layers = app.query_one(LayerList)
        assert "    error  step 1" in layers.render_row(1, 120).text
        assert "error" not in layers.render_row(0, 120).text
        assert "Unreadable" in text_of(app, "#image-details") and "#1" in text_of(app, "#image-details")

        await press(pilot, "down")
        message = text_of(app, "#message")
        assert app.query_one("#message").display
        assert "Layer #1 could not be read" in message and "layer1/layer.tar" in message
        assert "gzip" in message
        assert "Error" in text_of(app, "#layer-details")

        await press(pilot, "down")  # past the broken layer: everything works as usual
        assert not app.query_one("#message").display
        rows = {row.path: row.diff.name for row in tree_of(pilot).state.rows}
        assert rows["/etc/three"] == "ADDED" and rows["/etc/base"] == "MODIFIED"
        await press(pilot, "ctrl+a")  # aggregated compare across the broken layer
        assert "/etc/three" in [row.path for row in tree_of(pilot).state.rows]
        await press(pilot, "tab", "ctrl+b", "end", "home", "slash", *"three", "enter")
        assert [row.path for row in tree_of(pilot).state.rows if not row.is_dir] == ["/etc/three"]
        await pilot.press("q")

    run(app, scenario)
    assert app.return_code == 0


def test_the_cli_still_refuses_the_broken_layer(tmp_path):
    from tests.hostile import fails
    from tests.test_hostile_archives import run as run_cli

    fails(run_cli(_broken_image(tmp_path), tmp_path)[0], "broken.tar", "layer1/layer.tar", "gzip")


def test_deep_paths_and_link_loops_browse(tmp_path):
    deep = "/".join(["d"] * 1500) + "/leaf"  # well past Python's recursion limit (1000)
    path = write_tar(tmp_path / "deep.tar", legacy([
        layer_tar([Entry(deep, data=b"x"), Entry("loop1", "2", link="loop2"), Entry("loop2", "2", link="loop1"),
                   Entry("n" * 5000, data=b"long")]),
        layer_tar([Entry(deep, data=b"y"), Entry("never/.wh.there"), Entry(".wh..wh..opq")]),
    ]))
    app = DiveApp(Source("docker-archive", path))

    async def scenario(pilot):
        assert pilot.app.explorer is not None, pilot.app.load_error
        await press(pilot, "down", "ctrl+a", "tab", "end", "home", "ctrl+o", "slash", *"leaf", "enter")
        assert [row.name for row in tree_of(pilot).state.rows if not row.is_dir] == ["leaf"]
        assert "leaf" in screen_text(pilot.app) or "d" in screen_text(pilot.app)

    run(app, scenario)


def _broken_archives(tmp_path) -> dict[str, str]:
    members = legacy([layer_tar([Entry("a", data=b"a" * 5000)])])
    data = open(write_tar(tmp_path / "whole.tar", members), "rb").read()
    (tmp_path / "cut.tar").write_bytes(data[:3000])
    shapeless = dict(members, **{"manifest.json": b'[{"Config": 1}]'})
    wrong_id = legacy([layer_tar([Entry("a", data=b"a")])], diff_ids=[sha256(b"other")])
    return {"cut.tar": str(tmp_path / "cut.tar"),
            "shape.tar": write_tar(tmp_path / "shape.tar", shapeless),
            "diffid.tar": write_tar(tmp_path / "diffid.tar", wrong_id)}


def test_broken_archives_show_one_line_and_quit(tmp_path):
    """A broken archive is one error line; a layer that fails its digest an error row."""
    for name, path in _broken_archives(tmp_path).items():
        app = DiveApp(Source("docker-archive", path))

        async def scenario(pilot):
            message = text_of(pilot.app, "#message")
            if name == "diffid.tar":  # a layer that is not what the config says: an error row
                assert pilot.app.analysis.image.layers[0].error
                assert message.startswith("Layer #0 could not be read") and "diff ID" in message
            else:
                assert pilot.app.load_error and name in pilot.app.load_error
                assert message.startswith("Error: ") and "\n" not in message.strip()
            await press(pilot, "tab", "down", "slash", "escape")  # keys do nothing harmful
            await pilot.press("q")

        run(app, scenario)
        assert app.return_code == 0, name
