"""The explorer's pure view state (dive_py/ui/viewstate.py), without Textual."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dive_py.model.diff import DiffType
from dive_py.model.fileinfo import FileInfo
from dive_py.model.filetree import stack_all
from dive_py.ui.viewstate import (
    Cancelled,
    CompareMode,
    ExplorerState,
    FilterError,
    SortMode,
    TreeOptions,
    TreeState,
    compile_filter,
    comparison_for,
    find_row,
    flatten,
    row_attributes,
    row_label,
    subtree_end,
)


def d(path: str, mode: int = 0o755, uid: int = 0) -> FileInfo:
    return FileInfo(path, "5", 0, 0o040000 | mode, uid, uid)


def f(path: str, size: int = 10, digest: int = 1, mode: int = 0o644) -> FileInfo:
    return FileInfo(path, "0", size, 0o100000 | mode, 0, 0, digest=digest)


def link(path: str, target: str) -> FileInfo:
    return FileInfo(path, "2", 0, 0o120777, 0, 0, link=target)


LAYERS = [
    [d("bin"), f("bin/sh", 100), link("bin/ls", "sh"), d("etc"), f("etc/passwd", 5), f("etc/group", 3),
     d("var"), d("var/cache"), f("var/cache/big", 1000)],
    [d("etc"), f("etc/passwd", 6, digest=2), f("etc/new.conf", 7), d("var/cache"),
     FileInfo("var/cache/.wh.big", "0", 0, 0o100644, 0, 0)],
    [d("app"), f("app/main.py", 50), d("app/lib"), f("app/lib/util.py", 20)],
]


@pytest.fixture(scope="module")
def trees():
    return stack_all(LAYERS)


def paths(rows) -> list[str]:
    return [row.path for row in rows]


def by_path(rows) -> dict:
    return {row.path: row for row in rows}


# ---------------------------------------------------------------- flattening

def test_layer_zero_is_all_added_in_both_modes(trees):
    for mode in CompareMode:
        rows = flatten(comparison_for(trees, 0, mode), TreeOptions())
        assert paths(rows) == ["/bin", "/bin/ls", "/bin/sh", "/etc", "/etc/group", "/etc/passwd",
                               "/var", "/var/cache", "/var/cache/big"]
        assert {row.diff for row in rows} == {DiffType.ADDED}


def test_flatten_depths_guides_and_last_flags(trees):
    rows = flatten(comparison_for(trees, 0, CompareMode.LAYER), TreeOptions())
    rows = by_path(rows)
    assert rows["/bin"].depth == 0 and rows["/bin/sh"].depth == 1 and rows["/var/cache/big"].depth == 2
    assert rows["/bin"].guide() == "├── "
    assert rows["/bin/sh"].guide() == "│   └── "
    assert rows["/bin/ls"].guide() == "│   ├── "
    assert rows["/var"].guide() == "└── "
    assert rows["/var/cache/big"].guide() == "        └── "
    assert rows["/var"].last and not rows["/etc"].last


def test_layer_mode_marks_what_the_layer_changed(trees):
    rows = by_path(flatten(comparison_for(trees, 1, CompareMode.LAYER), TreeOptions()))
    assert rows["/etc/passwd"].diff is DiffType.MODIFIED
    assert rows["/etc/new.conf"].diff is DiffType.ADDED
    assert rows["/etc/group"].diff is DiffType.UNMODIFIED
    assert rows["/var/cache/big"].diff is DiffType.REMOVED
    assert rows["/bin"].diff is DiffType.UNMODIFIED
    assert rows["/etc"].diff is DiffType.MODIFIED


def test_aggregated_mode_compares_with_the_base_layer(trees):
    layer = by_path(flatten(comparison_for(trees, 2, CompareMode.LAYER), TreeOptions()))
    aggregated = by_path(flatten(comparison_for(trees, 2, CompareMode.AGGREGATED), TreeOptions()))
    assert layer["/etc/passwd"].diff is DiffType.UNMODIFIED
    assert aggregated["/etc/passwd"].diff is DiffType.MODIFIED
    assert aggregated["/app/lib/util.py"].diff is DiffType.ADDED
    assert "/var/cache/big" not in layer
    assert aggregated["/var/cache/big"].diff is DiffType.REMOVED


def test_collapsed_directories_hide_their_rows(trees):
    comparison = comparison_for(trees, 0, CompareMode.LAYER)
    rows = flatten(comparison, TreeOptions().with_collapsed("/etc", True))
    assert paths(rows) == ["/bin", "/bin/ls", "/bin/sh", "/etc", "/var", "/var/cache", "/var/cache/big"]
    assert by_path(rows)["/etc"].collapsed
    assert by_path(rows)["/etc"].guide() == "├─⊕ "
    everything_closed = flatten(comparison, TreeOptions(collapse_all=True))
    assert paths(everything_closed) == ["/bin", "/etc", "/var"]
    one_open = flatten(comparison, TreeOptions(collapse_all=True).with_collapsed("/var", False))
    assert paths(one_open) == ["/bin", "/etc", "/var", "/var/cache"]


def test_hidden_diff_types(trees):
    comparison = comparison_for(trees, 1, CompareMode.LAYER)
    rows = flatten(comparison, TreeOptions(hidden=frozenset({DiffType.UNMODIFIED})))
    assert paths(rows) == ["/etc", "/etc/new.conf", "/etc/passwd", "/var", "/var/cache", "/var/cache/big"]
    # a directory whose own type is hidden stays, dimmed, when something below it is shown
    rows = flatten(comparison, TreeOptions(hidden=frozenset({DiffType.UNMODIFIED, DiffType.MODIFIED})))
    assert paths(rows) == ["/etc", "/etc/new.conf", "/var", "/var/cache", "/var/cache/big"]
    assert by_path(rows)["/etc"].context and not by_path(rows)["/etc/new.conf"].context
    rows = flatten(comparison, TreeOptions(hidden=frozenset(DiffType)))
    assert rows == []


def test_filter_searches_full_paths_and_keeps_ancestors(trees):
    comparison = comparison_for(trees, 2, CompareMode.AGGREGATED)
    rows = flatten(comparison, TreeOptions(filter=compile_filter("util")))
    assert paths(rows) == ["/app", "/app/lib", "/app/lib/util.py"]
    assert [row.context for row in rows] == [True, True, False]
    assert rows[-1].last and rows[0].last
    rows = flatten(comparison, TreeOptions(filter=compile_filter("^/etc/")))
    assert paths(rows) == ["/etc", "/etc/group", "/etc/new.conf", "/etc/passwd"]
    # a matching directory is shown even when collapsed, and a collapsed one leading to a match too
    rows = flatten(comparison, TreeOptions(filter=compile_filter("util"), collapse_all=True))
    assert paths(rows) == ["/app"]
    assert rows[0].collapsed and rows[0].context


def test_invalid_filter(trees):
    with pytest.raises(FilterError, match="invalid regex"):
        compile_filter("(")
    assert compile_filter("") is None
    state = TreeState()
    state.comparison = comparison_for(trees, 0, CompareMode.LAYER)
    assert state.set_filter("pass")
    assert not state.set_filter("pass(")
    assert state.filter_error and "invalid regex" in state.filter_error
    assert state.options.filter.pattern == "pass"  # the last valid one stays
    state.refresh_rows()
    assert paths(state.rows) == ["/etc", "/etc/passwd"]


def test_sort_by_size(trees):
    comparison = comparison_for(trees, 0, CompareMode.LAYER)
    rows = flatten(comparison, TreeOptions(sort=SortMode.SIZE))
    assert [row.path for row in rows if row.depth == 0] == ["/var", "/bin", "/etc"]
    assert paths(rows) == ["/var", "/var/cache", "/var/cache/big", "/bin", "/bin/sh", "/bin/ls",
                           "/etc", "/etc/passwd", "/etc/group"]
    assert SortMode.NAME.next() is SortMode.SIZE and SortMode.SIZE.next() is SortMode.NAME


def test_cancelling_a_flatten(trees):
    many = [[d("x")] + [f(f"x/{i}") for i in range(10_000)]]
    comparison = comparison_for(stack_all(many), 0, CompareMode.LAYER)
    with pytest.raises(Cancelled):
        flatten(comparison, TreeOptions(), cancelled=lambda: True)
    assert len(flatten(comparison, TreeOptions(), cancelled=lambda: False)) == 10_001


# ---------------------------------------------------------------- the tree state

def state_at(trees, layer: int, mode=CompareMode.LAYER, **options) -> TreeState:
    state = TreeState()
    state.comparison = comparison_for(trees, layer, mode)
    state.options = TreeOptions(**options)
    state.refresh_rows()
    return state


@pytest.mark.parametrize("options", [{}, {"hidden": frozenset({DiffType.UNMODIFIED})},
                                     {"filter": compile_filter("a")}, {"sort": SortMode.SIZE}])
def test_collapsing_in_place_matches_a_full_flatten(trees, options):
    for layer in range(len(trees)):
        state = state_at(trees, layer, CompareMode.AGGREGATED, **options)
        for path in [row.path for row in state.rows if row.is_dir]:
            index = paths(state.rows).index(path)
            assert state.set_collapsed(index, True)
            assert paths(state.rows) == paths(flatten(state.comparison, state.options))
            assert state.set_collapsed(index, False)
            expected = flatten(state.comparison, state.options)
            assert paths(state.rows) == paths(expected)
            assert [r.guide() for r in state.rows] == [r.guide() for r in expected]


def test_a_big_expansion_is_left_to_a_full_flatten(trees):
    many = [[d("x")] + [f(f"x/{i}") for i in range(2_000)]]
    state = TreeState()
    state.comparison = comparison_for(stack_all(many), 0, CompareMode.LAYER)
    state.options = TreeOptions(collapse_all=True)
    state.refresh_rows()
    state.EXPAND_BUDGET = 100
    assert not state.set_collapsed(0, False)
    assert not state.options.is_collapsed("/x")
    state.refresh_rows()
    assert len(state.rows) == 2_001


def test_toggle_all(trees):
    state = state_at(trees, 0)
    state.toggle_all()
    state.refresh_rows()
    assert paths(state.rows) == ["/bin", "/etc", "/var"]
    state.toggle_all()
    state.refresh_rows()
    assert len(state.rows) == 9


def test_cursor_follows_its_path_across_changes(trees):
    state = state_at(trees, 0)
    state.move_to(paths(state.rows).index("/etc/passwd"))
    state.comparison = comparison_for(trees, 2, CompareMode.LAYER)
    state.refresh_rows()
    assert state.current.path == "/etc/passwd"
    state.set_filter("group")
    state.refresh_rows()
    assert state.current.path == "/etc/group"  # the nearest row above that is still shown
    state.set_filter("^/etc$")
    state.refresh_rows()
    assert state.current.path == "/etc"
    state.set_filter("nothing matches this")
    state.refresh_rows()
    assert state.rows == [] and state.cursor == 0 and state.current is None
    state.set_filter("")
    state.refresh_rows()
    assert state.current.path == "/app"
    state.move(100)
    assert state.cursor == len(state.rows) - 1
    state.move(-100)
    assert state.cursor == 0


def test_parent_index_and_subtree_end(trees):
    state = state_at(trees, 0)
    rows = paths(state.rows)
    assert state.parent_index(rows.index("/var/cache/big")) == rows.index("/var/cache")
    assert state.parent_index(rows.index("/bin")) is None
    assert subtree_end(state.rows, rows.index("/bin")) == rows.index("/etc")
    assert find_row(state.rows, "/etc/missing") == rows.index("/etc")
    assert find_row(state.rows, "/nowhere") is None


def test_explorer_state(trees):
    explorer = ExplorerState(trees)
    explorer.start()
    assert explorer.tree.comparison.lower.children == {}
    assert explorer.select_layer(2)
    assert not explorer.select_layer(2)
    assert explorer.tree.comparison.lower is trees[1]
    assert explorer.set_mode(CompareMode.AGGREGATED)
    assert explorer.tree.comparison.lower is trees[0]
    assert not explorer.select_layer(99)  # clamped to the last layer, already selected


# ---------------------------------------------------------------- cells

def test_cells_are_escaped(trees):
    evil = [[d("etc"), f("etc/\x1b[31mred"), link("etc/l", "/tmp/\x07bell")]]
    rows = by_path(flatten(comparison_for(stack_all(evil), 0, CompareMode.LAYER), TreeOptions()))
    assert row_label(rows["/etc/\x1b[31mred"]) == ("\\x1b[31mred", "")
    assert row_label(rows["/etc/l"]) == ("l", " → /tmp/\\x07bell")
    perm, owner, size = row_attributes(rows["/etc"])
    assert (perm, owner) == ("drwxr-xr-x", "0:0")
    assert size == "10 Bytes"  # directories show their total size


def test_hard_links_show_their_target_and_its_size():
    layers = [[d("bin"), f("bin/busybox", size=900_000)],
              [FileInfo("bin/sh", "1", 0, 0o100755, 0, 0, link="bin/busybox")]]
    trees = stack_all(layers)
    comparison = comparison_for(trees, 1, CompareMode.LAYER)
    rows = by_path(flatten(comparison, TreeOptions()))
    assert row_label(rows["/bin/sh"]) == ("sh", " → bin/busybox")
    assert row_attributes(rows["/bin/sh"], (comparison.upper, comparison.lower))[2] == "900.0 kB"
    assert row_attributes(rows["/bin/sh"])[2] == "0 Bytes"  # the tar header's own size


def test_viewstate_does_not_import_textual():
    code = "import sys, dive_py.ui.viewstate; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
