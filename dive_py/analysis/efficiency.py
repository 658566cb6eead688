"""Efficiency, wasted bytes and inefficient files, computed exactly as dive 0.13.1 does.

For every layer, every leaf of dive's layer tree is visited (files, links, empty dirs,
whiteouts). A whiteout counts the size of the subtree it deletes, looked up in the merged
tree below; a deleted file counts 0. Per path: cumulative size, minimum size, copies.
A path seen in two or more layers is inefficient.

Where dive is wrong we differ on purpose, and only there: an opaque directory marker is read
as the explicit whiteouts it stands for (one `.wh.NAME` for each child the layers below hold
and this layer does not write again), where dive drops the marker and so misses the removal.
A whiteout of a path that was never there counts 0 (dive aborts the rest of that layer).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from dive_py.analysis.gosort import go_sort
from dive_py.analysis.layertree import LayerNodes, dive_layer_nodes, dive_order
from dive_py.model.fileinfo import OPAQUE_MARKER, WHITEOUT_PREFIX, FileInfo
from dive_py.model.filetree import Node


class Inefficiency(NamedTuple):  # a tuple: images can have tens of thousands
    path: str  # absolute, leading '/'
    count: int
    cumulative_size: int
    min_size: int


@dataclass(frozen=True, slots=True)
class Efficiency:
    score: float
    inefficiencies: tuple[Inefficiency, ...]  # largest cumulative size first, as dive lists them

    @property
    def wasted_bytes(self) -> int:
        return sum(item.cumulative_size for item in self.inefficiencies)


def _opaque_whiteouts(nodes: LayerNodes, entries: tuple[FileInfo, ...], below: Node | None) -> list[str]:
    """The explicit whiteouts that this layer's opaque markers stand for."""
    out: list[str] = []
    if below is None:
        return out

    def expand(dir_path: str) -> None:
        lower = below.get(dir_path)
        if lower is None or not lower.children:
            return
        base = f"{dir_path}/" if dir_path else ""
        for name, child in lower.children.items():
            path = base + name
            if path not in nodes:
                out.append(base + WHITEOUT_PREFIX + name)
            elif child.is_dir and (info := nodes[path]) is not None and info.is_dir:
                expand(path)  # re-made directory: its lower children are hidden too

    for entry in entries:
        parent, _, name = entry.path.rpartition("/")
        if name == OPAQUE_MARKER:
            expand(parent)
    return out


class Tally:
    """The efficiency figures, layer by layer as layers arrive (bottom first)."""

    def __init__(self) -> None:
        # path (no leading '/') -> its size when seen once, [cumulative, minimum, count] after:
        # most paths are seen once, and their keys are the entries' own path strings
        self._data: dict[str, int | list[int]] = {}
        # Paths seen a second time, by layer. dive lists them in the order it met them (leaves
        # in depth-first name order, layer by layer) before a stable-for-Go sort by size; only
        # the order of these matters, so only they are sorted, not every leaf.
        self._repeated: list[list[tuple[str, str]]] = []  # per layer: (leaf path, key)

    def add(self, entries: tuple[FileInfo, ...], below: Node | None) -> None:
        """The next layer's entries; `below`: the merged tree of the layers before it."""
        data = self._data
        nodes = dive_layer_nodes(entries)
        extra = _opaque_whiteouts(nodes, entries, below)
        for path in extra:
            nodes[path] = None
        seen_again: list[tuple[str, str]] = []
        shared: dict[str, list[str]] = {}  # keys two leaves gave: a whiteout and its target
        parents = {path.rpartition("/")[0] for path in nodes}
        get = data.get
        for path, info in nodes.items():
            if path in parents:
                continue  # not a leaf
            if WHITEOUT_PREFIX in path and (name := path.rpartition("/")[2]).startswith(WHITEOUT_PREFIX):
                parent = path[:len(path) - len(name) - 1] if len(path) > len(name) else ""
                target = f"{parent}/{name[len(WHITEOUT_PREFIX):]}" if parent else name[len(WHITEOUT_PREFIX):]
                key = target
                size = 0
                if below is not None:
                    gone = below.get(target)
                    if gone is not None and gone.info is not None and gone.info.is_dir:
                        size = gone.total_size()
                if target in nodes and target not in parents:
                    shared[key] = [path, target]
            else:
                key = path
                size = info.size if info is not None else 0
            record = get(key)
            if record is None:
                data[key] = size
            elif type(record) is int:
                data[key] = [record + size, min(record, size), 2]
                seen_again.append((path, key))
            else:
                record[0] += size
                if size < record[1]:
                    record[1] = size
                record[2] += 1
        if shared:  # dive met the key a second time at the second of its visits, in its order
            for i, (path, key) in enumerate(seen_again):
                if key in shared:
                    paths = dive_order(shared[key])
                    before = data[key][2] - len(paths)  # type: ignore[index]
                    seen_again[i] = (paths[1 - before], key)
        self._repeated.append(seen_again)

    def result(self) -> Efficiency:
        data = self._data
        minimum = discovered = 0
        for r in data.values():
            if type(r) is int:
                minimum += r
                discovered += r
            else:
                minimum += r[1]  # type: ignore[index]
                discovered += r[0]  # type: ignore[index]
        score = 1.0 if discovered == 0 else minimum / discovered
        matches: list[tuple[str, list[int]]] = []  # type: ignore[assignment]
        for seen_again in self._repeated:
            order = {path: key for path, key in seen_again}
            matches.extend((order[path], data[order[path]]) for path in dive_order(order))
        go_sort(matches, lambda a, b: a[1][0] < b[1][0])
        ordered = tuple(Inefficiency("/" + path, r[2], r[0], r[1]) for path, r in reversed(matches))
        return Efficiency(score, ordered)
