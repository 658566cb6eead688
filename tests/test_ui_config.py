"""The config drives the explorer: remapped keys, start options, pane width."""

from __future__ import annotations

import pytest

from dive_py.config import load_config
from dive_py.model.diff import DiffType
from dive_py.sources.resolve import Source
from dive_py.ui.app import DiveApp
from dive_py.ui.settings import keymap_from_config, start_options
from dive_py.ui.viewstate import CompareMode
from dive_py.ui.widgets import FileTreeView
from tests.test_ui import demo_path, press, run  # noqa: F401 (fixture)


def app_with(tmp_path, demo_path, text: str) -> DiveApp:  # noqa: F811
    path = tmp_path / "dive.yaml"
    path.write_text(text)
    config = load_config([str(path)])
    return DiveApp(Source("docker-archive", demo_path),
                   keymap=keymap_from_config(config.keybindings(), dict(config.origins)),
                   start=start_options(config))


def test_remapped_keys_act_and_the_old_ones_do_not(tmp_path, demo_path):  # noqa: F811
    app = app_with(tmp_path, demo_path,
                   "keybinding:\n  toggle-added-files: ctrl+x\n  toggle-view: ctrl+w\n  down: ctrl+j\n")

    async def scenario(pilot):
        await press(pilot, "ctrl+j")
        assert pilot.app.explorer.layer == 1
        assert not isinstance(pilot.app.focused, FileTreeView)
        await press(pilot, "ctrl+w")
        assert isinstance(pilot.app.focused, FileTreeView)
        hidden = pilot.app.explorer.tree.options.hidden
        await press(pilot, "ctrl+a")
        assert pilot.app.explorer.tree.options.hidden == hidden
        await press(pilot, "ctrl+x")
        assert DiffType.ADDED in pilot.app.explorer.tree.options.hidden
        assert all(row.diff is not DiffType.ADDED or row.context
                   for row in pilot.app.query_one(FileTreeView).state.rows)

    run(app, scenario)


def test_start_options_come_from_the_config(tmp_path, demo_path):  # noqa: F811
    app = app_with(tmp_path, demo_path,
                   "diff:\n  hide: [unmodified]\nfiletree:\n  collapse-dir: true\n  show-attributes: false\n"
                   "layer:\n  show-aggregated-changes: true\n")

    async def scenario(pilot):
        explorer = pilot.app.explorer
        assert explorer.mode is CompareMode.AGGREGATED
        assert explorer.tree.options.hidden == frozenset({DiffType.UNMODIFIED})
        tree = pilot.app.query_one(FileTreeView)
        assert not tree.show_attributes
        top_level = [row for row in tree.state.rows if row.depth == 0]
        assert top_level and all(row.collapsed for row in top_level if row.is_dir)
        assert len(tree.state.rows) == len(top_level)

    run(app, scenario)


@pytest.mark.parametrize("share", [0.3, 0.65])
def test_pane_width_sets_the_trees_share_and_narrow_screens_stack(tmp_path, demo_path, share):  # noqa: F811
    app = app_with(tmp_path, demo_path, f"filetree:\n  pane-width: {share}\n")

    async def scenario(pilot):
        left = pilot.app.query_one("#left").region
        tree = pilot.app.query_one("#tree-pane").region
        assert tree.width / (left.width + tree.width) == pytest.approx(share, abs=0.02)
        await pilot.resize_terminal(80, 40)
        await pilot.pause()
        tree = pilot.app.query_one("#tree-pane").region
        assert tree.width == 80 and tree.y > pilot.app.query_one("#left").region.y

    run(app, scenario)


def test_the_configs_default_keys_are_the_explorers_own():
    """dive_py.config lists the default keys (for `divepy config`) apart from the bindings the
    widgets declare; they must not drift apart."""
    from dive_py.config import KEYBINDINGS
    from dive_py.ui.app import DiveApp, FilterInput
    from dive_py.ui.fileactions import FILE_BINDINGS
    from dive_py.ui.settings import BINDING_IDS, textual_keys
    from dive_py.ui.widgets import FileTreeView, LayerList

    declared = {}
    for binding in [*DiveApp.BINDINGS, *LayerList.BINDINGS, *FileTreeView.BINDINGS, *FILE_BINDINGS,
                    *FilterInput.BINDINGS]:
        if binding.id:
            declared[binding.id] = set(binding.key.split(","))
    for name, ids in BINDING_IDS.items():
        for binding_id in ids:
            assert set(textual_keys(KEYBINDINGS[name], name)) <= declared[binding_id], (name, binding_id)
