"""Efficiency, wasted bytes and inefficient files, computed exactly as dive 0.13.1 does.

For every layer, every leaf of dive's layer tree is visited (files, links, empty dirs,
whiteouts). A whiteout counts the size of the subtree it deletes, looked up in the image
below (dive_py.model.flat); a deleted file counts 0. Per path: cumulative size, minimum size,
copies. A path seen in two or more layers is inefficient. A layer without whiteouts (most)
is counted with set operations: its leaves are the paths that are nobody's parent.

Where dive is wrong we differ on purpose, and only there: an opaque directory marker is read
as the explicit whiteouts it stands for (one `.wh.NAME` for each child the layers below hold
and this layer does not write again), where dive drops the marker and so misses the removal.
A whiteout of a path that was never there counts 0 (dive aborts the rest of that layer).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import compress, tee
from operator import methodcaller, not_
from typing import NamedTuple

from dive_py.analysis.gosort import go_sort_by_key
from dive_py.analysis.layertree import LayerNodes, dive_layer_nodes, dive_order
from dive_py.model.entries import Entries
from dive_py.model.fileinfo import OPAQUE_MARKER, WHITEOUT_PREFIX
from dive_py.model.flat import IMPLIED, FlatImage, LayerPaths, ancestors, parent_of


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


def _opaque_whiteouts(nodes: LayerNodes, entries: Entries, below: FlatImage) -> list[str]:
    """The explicit whiteouts that this layer's opaque markers stand for."""
    dirs = {parent for parent, _, name in map(methodcaller("rpartition", "/"), entries.paths)
            if name == OPAQUE_MARKER}
    dirs = {d for d in dirs if d == "" or ((ref := below.refs.get(d)) is not None and below.is_dir(ref))}
    if not dirs:
        return []
    children: dict[str, list[str]] = {}  # the image below: directory -> its children's paths
    for path in below.descendants(dirs):
        children.setdefault(path.rpartition("/")[0], []).append(path)
    out: list[str] = []

    def expand(dir_path: str) -> None:
        base = f"{dir_path}/" if dir_path else ""
        for path in children.get(dir_path, ()):
            name = path[len(base):]
            if path not in nodes:
                out.append(base + WHITEOUT_PREFIX + name)
            elif below.is_dir(below.refs[path]) and (info := nodes[path]) is not None and info.is_dir:
                expand(path)  # re-made directory: its lower children are hidden too

    for dir_path in dirs:
        expand(dir_path)
    return out


class Tally:
    """The efficiency figures, layer by layer as layers arrive (bottom first)."""

    def __init__(self) -> None:
        # path (no leading '/') -> its size, for paths seen once (most), and
        # path -> [cumulative, minimum, count] for paths seen again
        self._once: dict[str, int] = {}
        self._again: dict[str, list[int]] = {}
        # Paths seen a second time, by layer. dive lists them in the order it met them (leaves
        # in depth-first name order, layer by layer) before a stable-for-Go sort by size; only
        # the order of these matters, so only they are sorted, not every leaf.
        self._repeated: list[list[tuple[str, str]]] = []  # per layer: (leaf path, key)
        # one int object for each size seen, while sizes repeat enough to pay for the table
        # (a layer of many small files has few sizes; most images' sizes are nearly all distinct)
        self._sizes: dict[int, int] | None = {}

    def _count(self, key: str, size: int) -> bool:
        """Count one leaf; whether this is the second time its key is seen."""
        record = self._again.get(key)
        if record is not None:
            record[0] += size
            if size < record[1]:
                record[1] = size
            record[2] += 1
            return False
        first = self._once.pop(key, None)
        if first is None:
            self._once[key] = size
            return False
        self._again[key] = [first + size, min(first, size), 2]
        return True

    def add(self, layer: LayerPaths, below: FlatImage) -> None:
        """The next layer; `below`: the image as of the layers before it."""
        if layer.plain:
            self._add_plain(layer, below)
        else:
            self._add_marked(layer.entries, below)

    def _add_plain(self, layer: LayerPaths, below: FlatImage) -> None:
        """A layer without whiteouts or overlay metadata: its dive tree is its entries and
        their parents, and its leaves are the paths that are nobody's parent."""
        own, sizes = layer.own, below.sizes  # numbered in the image already (FlatImage.extend)
        inner = layer.parents
        if layer.implied:  # parents with no entry of their own: their parents are no leaves
            inner = inner.union(map(parent_of, layer.implied))
        paths = layer.entries.paths
        found: Iterator[int]  # the leaves' sizes, made one at a time (a fresh int each)
        if len(own) == len(paths):  # no path twice, no root entry: path i is entry i, taken in order
            is_leaf = list(map(not_, map(inner.__contains__, paths)))
            leaves, found = list(compress(paths, is_leaf)), compress(layer.entries.sizes, is_leaf)
        else:
            leaves = list(own.keys() - inner)
            found = map(sizes.__getitem__, map(own.__getitem__, leaves))
        known = (self._once.keys() & leaves) | (self._again.keys() & leaves)
        seen_again = []
        if known:
            new = list(map(not_, map(known.__contains__, leaves)))
            leaves, found = list(compress(leaves, new)), compress(found, new)
            seen_again = [(key, key) for key in known if self._count(key, sizes[own[key]])]
        if self._sizes is None:
            self._once.update(zip(leaves, found))
        else:  # equal sizes: one int, each fresh one let go of at once
            self._once.update(zip(leaves, map(self._sizes.setdefault, *tee(found))))
            if len(self._sizes) * 4 > len(self._once):
                self._sizes = None
        self._repeated.append(seen_again)

    def _add_marked(self, entries: Entries, below: FlatImage) -> None:
        nodes = dive_layer_nodes(entries)
        for path in _opaque_whiteouts(nodes, entries, below):
            nodes[path] = None
        parents = {path.rpartition("/")[0] for path in nodes}
        leaves = [path for path in nodes if path not in parents]
        whiteouts = {}  # whiteout leaf -> its target
        for path in leaves:
            if WHITEOUT_PREFIX in path and (name := path.rpartition("/")[2]).startswith(WHITEOUT_PREFIX):
                parent = path[:len(path) - len(name) - 1] if len(path) > len(name) else ""
                whiteouts[path] = f"{parent}/{name[len(WHITEOUT_PREFIX):]}" if parent else name[len(WHITEOUT_PREFIX):]
        # a whiteout of a directory entry counts the size of the subtree it deletes
        refs = below.refs
        gone = {target for target in whiteouts.values()
                if (ref := refs.get(target)) is not None and ref != IMPLIED and below.is_dir(ref)}
        under: dict[str, list[str]] = {target: [] for target in gone}
        for path in below.descendants(gone):
            for up in ancestors(path):
                if up in under:
                    under[up].append(path)
        seen_again: list[tuple[str, str]] = []
        shared: dict[str, list[str]] = {}  # keys two leaves gave: a whiteout and its target
        for path in leaves:
            target = whiteouts.get(path)
            if target is not None:
                key = target
                size = below.subtree_size(target, under[target]) if target in under else 0
                if target in nodes and target not in parents:
                    shared[key] = [path, target]
            else:
                key = path
                info = nodes[path]
                size = info.size if info is not None else 0
            if self._count(key, size):
                seen_again.append((path, key))
        if shared:  # dive met the key a second time at the second of its visits, in its order
            for i, (path, key) in enumerate(seen_again):
                if key in shared:
                    paths = dive_order(shared[key])
                    before = self._again[key][2] - len(paths)
                    seen_again[i] = (paths[1 - before], key)
        self._repeated.append(seen_again)

    def result(self) -> Efficiency:
        """The figures; the tally is spent after (its tables are let go of)."""
        minimum = discovered = sum(self._once.values())
        self._once = {}
        for cumulative, least, _count in self._again.values():
            minimum += least
            discovered += cumulative
        score = 1.0 if discovered == 0 else minimum / discovered
        again = self._again
        matches: list[tuple[str, list[int]]] = []
        for seen_again in self._repeated:
            order = {path: key for path, key in seen_again}
            matches.extend((order[path], again[order[path]]) for path in dive_order(order))
        go_sort_by_key(matches, lambda match: match[1][0])
        ordered = tuple(Inefficiency("/" + path, r[2], r[0], r[1]) for path, r in reversed(matches))
        return Efficiency(score, ordered)
