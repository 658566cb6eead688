"""What the explorer shows, as plain data: no Textual here, so all of it is testable alone.

The file tree is never rendered as widgets: `flatten()` turns a `Comparison` and the view
options (collapsed directories, hidden diff types, filter, sort) into a flat list of `Row`s,
and the widget draws only the rows inside its window. Rows are cheap (one small object per
visible entry, guides computed on demand), directories never visited when they are
collapsed or provably hidden, and long runs can be cancelled from another thread.

Paths are absolute ("/usr/bin/env"), as dive shows them and as the filter sees them.
"""

from __future__ import annotations

import gc
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

import humanize

from dive_py.errors import printable
from dive_py.model.diff import Comparison, DiffType, Entry
from dive_py.model.fileinfo import HARDLINK, SYMLINK, normalise_path
from dive_py.model.filetree import Node, empty_root


class CompareMode(str, Enum):
    LAYER = "layer"  # what the selected layer changed: tree(N-1) -> tree(N)
    AGGREGATED = "aggregated"  # everything changed since the base layer: tree(0) -> tree(N)


class SortMode(str, Enum):
    NAME = "name"
    SIZE = "size"  # largest first (directories by their total size), then by name

    def next(self) -> SortMode:
        members = list(SortMode)
        return members[(members.index(self) + 1) % len(members)]


DIFF_TYPES = (DiffType.ADDED, DiffType.REMOVED, DiffType.MODIFIED, DiffType.UNMODIFIED)


def comparison_for(trees: Sequence[Node], index: int, mode: CompareMode) -> Comparison:
    """The comparison shown at layer `index`: layer 0 always compares with the empty tree."""
    upper = trees[index]
    if index == 0:
        return Comparison(empty_root(), upper)
    lower = trees[index - 1] if mode is CompareMode.LAYER else trees[0]
    return Comparison(lower, upper)


class FilterError(ValueError):
    """The filter text is not a valid regular expression (the message says why)."""


def compile_filter(text: str) -> re.Pattern[str] | None:
    """The filter regex for `text`, None for an empty filter; FilterError if invalid."""
    if not text:
        return None
    try:
        return re.compile(text)
    except (re.error, RecursionError, OverflowError) as exc:
        raise FilterError(f"invalid regex: {exc}") from None


@dataclass(frozen=True)
class TreeOptions:
    """Everything besides the comparison that decides which rows exist and in what order.

    Directories are expanded unless `collapse_all`; `toggled` holds the paths whose state is
    the opposite of that default, so collapsing or expanding everything is O(1).
    """

    hidden: frozenset[DiffType] = frozenset()
    filter: re.Pattern[str] | None = None
    sort: SortMode = SortMode.NAME
    collapse_all: bool = False
    toggled: frozenset[str] = field(default_factory=frozenset)

    def is_collapsed(self, path: str) -> bool:
        return self.collapse_all != (path in self.toggled)

    def with_collapsed(self, path: str, collapsed: bool) -> TreeOptions:
        if self.is_collapsed(path) == collapsed:
            return self
        return replace(self, toggled=self.toggled ^ {path})


class Row:
    """One visible line of the file tree."""

    __slots__ = ("entry", "path", "depth", "parent", "last", "collapsed", "context", "_child_prefix")

    def __init__(self, entry: Entry, path: str, depth: int, parent: Row | None):
        self.entry = entry
        self.path = path
        self.depth = depth
        self.parent = parent
        self.last = False  # the last visible child of its directory
        self.collapsed = False
        self.context = False  # shown only because something below it is (filter, hidden types)
        self._child_prefix: str | None = None

    @property
    def node(self) -> Node:
        return self.entry.node

    @property
    def diff(self) -> DiffType:
        return self.entry.diff

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def is_dir(self) -> bool:
        return self.entry.node.is_dir

    def child_prefix(self) -> str:
        """The guide columns that this directory's children inherit."""
        if self._child_prefix is None:
            # up to the nearest known prefix, then down: no recursion, however deep the tree
            chain: list[Row] = []
            row: Row | None = self
            while row is not None and row._child_prefix is None:
                chain.append(row)
                row = row.parent
            prefix = row._child_prefix if row is not None else ""
            for row in reversed(chain):
                prefix = row._child_prefix = prefix + ("    " if row.last else "│   ")  # type: ignore[operator]
        return self._child_prefix  # type: ignore[return-value]

    def guide(self) -> str:
        """The tree guide in front of the name, e.g. '│   ├── ' ('─⊕ ' for a collapsed dir)."""
        above = self.parent.child_prefix() if self.parent is not None else ""
        branch = "└" if self.last else "├"
        return above + branch + ("─⊕ " if self.collapsed else "── ")

    def __repr__(self) -> str:
        return f"Row({self.path!r}, {self.diff.name}{', collapsed' if self.collapsed else ''})"


class Cancelled(Exception):
    """Raised inside flatten() when its `cancelled` callback says so."""


class BudgetExceeded(Exception):
    """Raised inside flatten() when it visits more entries than its budget allows."""


Check = Callable[[], bool]


_caches: weakref.WeakKeyDictionary[Comparison, dict] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def _entry_cache(comparison: Comparison) -> dict:
    """Children lists already computed for this comparison (kept while it lives)."""
    with _caches_lock:
        cache = _caches.get(comparison)
        if cache is None:
            cache = _caches[comparison] = {}
        return cache


def _child_entries(comparison: Comparison, sort: SortMode, entry: Entry | None,
                   cache: dict | None) -> list[Entry]:
    if entry is None:
        key: tuple = (None, None, None, sort)
    else:
        key = (id(entry.lower), id(entry.upper), entry.diff, sort)
    if cache is not None:
        entries = cache.get(key)
        if entries is not None:
            return entries
    if sort is SortMode.NAME:
        if entry is None:
            entries = comparison.entries(comparison.lower, comparison.upper, None)
        else:
            entries = comparison.entries(entry.lower, entry.upper, comparison.child_inherited(entry))
    else:
        by_name = _child_entries(comparison, SortMode.NAME, entry, cache)
        entries = sorted(by_name, key=_size_key)  # stable: equal sizes stay in name order
    if cache is not None:
        cache[key] = entries
    return entries


def _size_key(entry: Entry) -> int:
    return -entry.node.total_size()


def _subtree_hidden(entry: Entry, hidden: frozenset[DiffType]) -> bool:
    """True when nothing below this directory can be shown whatever the filter.

    Below an Added (Removed, Unmodified) directory everything is Added (Removed,
    Unmodified); only a Modified directory mixes kinds.
    """
    return entry.diff in hidden and entry.diff is not DiffType.MODIFIED


def _own_visible(entry: Entry, path: str, options: TreeOptions) -> bool:
    if entry.diff in options.hidden:
        return False
    return options.filter is None or options.filter.search(path) is not None


class _Frame:
    __slots__ = ("row", "entries", "pos", "base", "depth", "start", "own", "last_row")

    def __init__(self, row: Row | None, entries: list[Entry], base: str, depth: int,
                 start: int, own: bool):
        self.row = row
        self.entries = entries
        self.pos = 0
        self.base = base
        self.depth = depth
        self.start = start
        self.own = own
        self.last_row: Row | None = None


_CHECK_EVERY = 4096


def _any_visible(comparison: Comparison, options: TreeOptions, entry: Entry, path: str,
                 cancelled: Check | None, cache: dict | None) -> bool:
    """Whether some entry below this directory is visible (depth-first, stops at the first)."""
    stack = [(entry, path)]
    steps = 0
    while stack:
        current, base = stack.pop()
        for child in _child_entries(comparison, options.sort, current, cache):
            steps += 1
            if cancelled is not None and steps % _CHECK_EVERY == 0 and cancelled():
                raise Cancelled
            child_path = f"{base}/{child.name}"
            if _own_visible(child, child_path, options):
                return True
            if child.node.is_dir and not _subtree_hidden(child, options.hidden):
                stack.append((child, child_path))
    return False


def _run(comparison: Comparison, options: TreeOptions, parent: Row | None, out: list[Row],
         cancelled: Check | None, budget: int | None) -> None:
    cache = _entry_cache(comparison)
    sort = options.sort
    hidden = options.hidden
    search = options.filter.search if options.filter is not None else None
    everything = search is None and not hidden
    collapse_all, toggled = options.collapse_all, options.toggled
    entry = parent.entry if parent is not None else None
    base = parent.path + "/" if parent is not None else "/"
    depth = parent.depth + 1 if parent is not None else 0
    stack = [_Frame(parent, _child_entries(comparison, sort, entry, cache), base, depth, len(out), True)]
    append = out.append
    steps = 0
    while stack:
        frame = stack[-1]
        if frame.pos >= len(frame.entries):
            stack.pop()
            if frame.last_row is not None:
                frame.last_row.last = True
            if not stack:
                break
            row = frame.row
            if frame.own or frame.last_row is not None:
                row.context = not frame.own
                stack[-1].last_row = row
            else:
                del out[frame.start:]  # only the directory's own row is there
            continue
        child = frame.entries[frame.pos]
        frame.pos += 1
        steps += 1
        if steps % _CHECK_EVERY == 0 and cancelled is not None and cancelled():
            raise Cancelled
        if budget is not None and steps > budget:
            raise BudgetExceeded
        path = frame.base + child.name
        if everything:
            own = True
        else:
            own = child.diff not in hidden and (search is None or search(path) is not None)
        node = child.upper if child.upper is not None else child.lower
        if node.children is not None:
            if not own and child.diff in hidden and child.diff is not DiffType.MODIFIED:
                continue  # nothing below can be shown
            row = Row(child, path, frame.depth, frame.row)
            if collapse_all != (path in toggled):
                row.collapsed = True
                if own or _any_visible(comparison, options, child, path, cancelled, cache):
                    row.context = not own
                    append(row)
                    frame.last_row = row
                continue
            start = len(out)
            append(row)
            stack.append(_Frame(row, _child_entries(comparison, sort, child, cache), path + "/",
                                frame.depth + 1, start, own))
        elif own:
            row = Row(child, path, frame.depth, frame.row)
            append(row)
            frame.last_row = row


class _GcPause:
    """Cyclic garbage collection off while rows are built (re-entrant, across threads).

    Rows form no reference cycles, and every full collection would walk all the trees of
    the image again: with large images that is most of the time spent.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._was_enabled:
                gc.enable()


_gc_paused = _GcPause()


def flatten(comparison: Comparison, options: TreeOptions, cancelled: Check | None = None
            ) -> list[Row]:
    """Every visible row of the comparison, in display order.

    A row is visible when its diff type is not hidden and its path matches the filter, or
    when it is a directory holding a visible row (collapsed or not). Collapsed directories
    are only looked into when that is needed to decide whether they are visible. Children
    lists are remembered per comparison, so re-flattening with other options is cheaper.
    """
    out: list[Row] = []
    with _gc_paused:
        _run(comparison, options, None, out, cancelled, None)
    return out


def flatten_children(comparison: Comparison, options: TreeOptions, parent: Row,
                     budget: int | None = None) -> list[Row]:
    """The visible rows below an (expanded) directory row, for splicing under it."""
    out: list[Row] = []
    with _gc_paused:
        _run(comparison, options, parent, out, None, budget)
    return out


def subtree_end(rows: Sequence[Row], index: int) -> int:
    """Index just past the rows that sit below rows[index]."""
    depth = rows[index].depth
    end = index + 1
    n = len(rows)
    while end < n and rows[end].depth > depth:
        end += 1
    return end


def locate(rows: Sequence[Row], candidates: Sequence[str]) -> int | None:
    """Index of the row whose path comes first in `candidates`, None if none is there."""
    rank = {}
    for i, path in enumerate(candidates):
        rank.setdefault(path, i)
    best, best_rank = None, len(candidates)
    for index, row in enumerate(rows):
        r = rank.get(row.path)
        if r is not None and r < best_rank:
            best, best_rank = index, r
            if r == 0:
                break
    return best


def ancestors(path: str) -> list[str]:
    """'/a/b/c' -> ['/a/b', '/a']."""
    out = []
    while True:
        path = path.rpartition("/")[0]
        if not path:
            return out
        out.append(path)


def find_row(rows: Sequence[Row], path: str) -> int | None:
    """Index of the row with this path, else of its nearest shown ancestor, else None."""
    return locate(rows, [path, *ancestors(path)])


def cursor_candidates(rows: Sequence[Row], cursor: int, lookback: int = 256) -> list[str]:
    """Where the cursor should land in new rows, best first: its own row, the rows just
    above it (nearest first, its ancestors among them), then its other ancestors."""
    if not 0 <= cursor < len(rows):
        return []
    out = [rows[i].path for i in range(cursor, max(-1, cursor - lookback - 1), -1)]
    out.extend(ancestors(rows[cursor].path))
    return out


# ---------------------------------------------------------------- cells shown for a row

def format_size(size: int) -> str:
    return humanize.naturalsize(size)


def row_size(row: Row) -> int:
    node = row.node
    return node.total_size() if node.is_dir else node.size


def row_attributes(row: Row, trees: Sequence[Node] = ()) -> tuple[str, str, str]:
    """(permissions, uid:gid, size) of a row; implied directories show '-' placeholders.
    A hard link shows the size of its target, looked up in `trees` (the compared trees)."""
    info = row.node.info
    if info is None:
        return "d---------", "-", format_size(row_size(row))
    size = row_size(row)
    if info.type == HARDLINK:
        size = hardlink_size(info.link, trees, size)
    return info.perm_string(), f"{info.uid}:{info.gid}", format_size(size)


def hardlink_size(link: str, trees: Sequence[Node], default: int) -> int:
    """The size of the file a hard link names, from the first tree that holds it."""
    path = normalise_path(link)
    for tree in trees:
        target = tree.get(path)
        if target is not None and not target.is_dir:
            return target.size
    return default


def row_label(row: Row) -> tuple[str, str]:
    """(name, link suffix) escaped for display; the suffix is ' → target' for links."""
    info = row.node.info
    suffix = ""
    if info is not None and info.type in (SYMLINK, HARDLINK) and info.link:
        suffix = " → " + printable(info.link)
    return printable(row.name), suffix


# ---------------------------------------------------------------- the tree's state

class TreeState:
    """The file tree pane: its comparison, options, rows and cursor.

    Changes that can keep most rows (collapsing, expanding a small directory) edit `rows`
    in place; every other change only bumps `options` and the caller recomputes the rows
    with `flatten(state.comparison, state.options)` (possibly in a thread) and hands them
    back with `set_rows`.
    """

    EXPAND_BUDGET = 50_000  # entries visited in-line when expanding; more goes to a worker

    def __init__(self) -> None:
        self.comparison: Comparison | None = None
        self.options = TreeOptions()
        self.rows: list[Row] = []
        self.cursor = 0
        self.filter_text = ""
        self.filter_error: str | None = None

    # --- rows
    def refresh_rows(self) -> None:
        """Recompute the rows synchronously (small trees, tests)."""
        rows = flatten(self.comparison, self.options) if self.comparison is not None else []
        current = self.current
        found = (current.path, locate(rows, self.candidates())) if current is not None else None
        self.set_rows(rows, found)

    def set_rows(self, rows: list[Row], found: tuple[str, int | None] | None = None) -> None:
        """Install new rows, keeping the cursor on the same path if it is still shown, else on
        the nearest row above it that is.

        `found` is (cursor path, index) when a worker already computed it from
        `cursor_candidates`; it is used if the cursor is still on that path.
        """
        current = self.current
        self.rows = rows
        if current is None:
            index = None
        elif found is not None and found[0] == current.path:
            index = found[1]
        else:
            index = locate(rows, self.candidates())
        self.cursor = index if index is not None else 0

    def candidates(self) -> list[str]:
        return cursor_candidates(self.rows, self.cursor)

    @property
    def current(self) -> Row | None:
        if 0 <= self.cursor < len(self.rows):
            return self.rows[self.cursor]
        return None

    # --- cursor
    def move_to(self, index: int) -> None:
        self.cursor = max(0, min(index, len(self.rows) - 1))

    def move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def parent_index(self, index: int) -> int | None:
        row = self.rows[index]
        if row.parent is None:
            return None
        for i in range(index - 1, -1, -1):
            if self.rows[i] is row.parent:
                return i
        return None

    # --- collapsing
    def set_collapsed(self, index: int, collapsed: bool) -> bool:
        """Collapse or expand the directory at `index`, editing rows in place.

        Returns False when the expansion is too big to do in-line: then `options` already
        says expanded and the caller must recompute the rows.
        """
        row = self.rows[index]
        if not row.is_dir or row.collapsed == collapsed:
            return True
        self.options = self.options.with_collapsed(row.path, collapsed)
        if collapsed:
            del self.rows[index + 1:subtree_end(self.rows, index)]
            row.collapsed = True
            return True
        assert self.comparison is not None
        try:
            children = flatten_children(self.comparison, self.options, row, self.EXPAND_BUDGET)
        except BudgetExceeded:
            return False
        row.collapsed = False
        self.rows[index + 1:index + 1] = children
        return True

    def toggle(self, index: int) -> bool:
        row = self.rows[index]
        return self.set_collapsed(index, not row.collapsed)

    def toggle_all(self) -> None:
        """Collapse every directory if any is expanded, else expand every one."""
        any_expanded = any(row.is_dir and not row.collapsed for row in self.rows)
        self.options = replace(self.options, collapse_all=any_expanded, toggled=frozenset())

    # --- what is shown
    def toggle_hidden(self, diff: DiffType) -> None:
        self.options = replace(self.options, hidden=self.options.hidden ^ {diff})

    def cycle_sort(self) -> None:
        self.options = replace(self.options, sort=self.options.sort.next())

    def set_filter(self, text: str) -> bool:
        """Set the filter text; returns False (and keeps the previous regex) if invalid."""
        self.filter_text = text
        try:
            pattern = compile_filter(text)
        except FilterError as exc:
            self.filter_error = str(exc)
            return False
        self.filter_error = None
        self.options = replace(self.options, filter=pattern)
        return True


@dataclass(frozen=True)
class StartOptions:
    """How the explorer starts (from the config: layer.show-aggregated-changes, diff.hide,
    filetree.collapse-dir, filetree.show-attributes, filetree.pane-width, layer.show-build-steps)."""

    mode: CompareMode = CompareMode.LAYER
    hidden: frozenset[DiffType] = frozenset()
    collapse_all: bool = False
    show_attributes: bool = True
    pane_width: float = 0.6  # share of the width for the file tree
    show_build_steps: bool = False  # list the steps that made no layer in the layers pane


class ExplorerState:
    """The selected layer and compare mode, and the tree state they feed."""

    def __init__(self, trees: Sequence[Node], start: StartOptions = StartOptions()):
        self.trees = trees
        self.layer = 0
        self.mode = start.mode
        self.tree = TreeState()
        self.tree.options = replace(self.tree.options, hidden=start.hidden, collapse_all=start.collapse_all)
        # a few recent comparisons (with their cached children lists) for quick returns
        self._comparisons: OrderedDict[tuple[int, CompareMode], Comparison] = OrderedDict()

    KEEP_COMPARISONS = 4

    def comparison(self) -> Comparison:
        key = (self.layer, self.mode if self.layer > 0 else CompareMode.LAYER)
        comparison = self._comparisons.get(key)
        if comparison is None:
            comparison = self._comparisons[key] = comparison_for(self.trees, self.layer, self.mode)
            while len(self._comparisons) > self.KEEP_COMPARISONS:
                self._comparisons.popitem(last=False)
        else:
            self._comparisons.move_to_end(key)
        return comparison

    def select_layer(self, index: int) -> bool:
        index = max(0, min(index, len(self.trees) - 1))
        if index == self.layer:
            return False
        self.layer = index
        self.tree.comparison = self.comparison()
        return True

    def set_mode(self, mode: CompareMode) -> bool:
        if mode is self.mode:
            return False
        self.mode = mode
        self.tree.comparison = self.comparison()
        return True

    def start(self) -> None:
        self.tree.comparison = self.comparison()
