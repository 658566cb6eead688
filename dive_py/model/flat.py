"""The merged image as one flat map, layer by layer: each path to the entry that shows there.

The layer semantics are dive_py.model.filetree's (which see): whiteouts, opaque directories,
a non-directory replacing a subtree, a directory keeping the children below, implied parent
directories, the last of duplicate entries winning. The trees keep every layer's state for
the explorer; this keeps only the latest, as a dict from path to an entry's number, which is
what the analysis needs (efficiency, hints, final size) at a fraction of the memory and time:
a layer without whiteouts is applied with set and dict operations alone.

An entry's number ("ref") counts across the layers: layer L's entry i is `starts[L] + i`.
Ref 0 (IMPLIED) stands for a directory that no entry described.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_right
from collections.abc import Iterable
from itertools import repeat
from operator import contains

from dive_py.model.entries import Entries
from dive_py.model.fileinfo import DIR, META_PREFIX, OPAQUE_MARKER, WHITEOUT_PREFIX, FileInfo

IMPLIED = 0
NUMPY_ABOVE = 50_000  # image paths from which total_size sums with numpy (if it is imported)

# A change one layer makes to a non-directory of the image below it: (path, its ref below,
# the ref that replaces it, or None where it is gone). The hints read these.
Change = tuple[str, int, int | None]


def parent_of(path: str) -> str:
    return path.rpartition("/")[0]


def ancestors(path: str) -> Iterable[str]:
    """Every proper ancestor of `path`, nearest first, the root ('') left out."""
    while True:
        path = path.rpartition("/")[0]
        if not path:
            return
        yield path


class LayerPaths:
    """One layer's paths as both the analysis and the flat image read them.

    `plain`: no name holds '.wh.' (no whiteout, opaque marker or overlay metadata) and no
    entry lies below a non-directory entry: the usual case, which both handle with set
    operations. `own`: path -> ref of the last entry with that path (refs of this layer start
    at `base`, which FlatImage.extend gives). `parents`: the parent of every path ('' included).
    `implied`: for a plain layer, the directories it implies (ancestors without an entry).
    """

    __slots__ = ("entries", "base", "plain", "own", "parents", "implied")

    def __init__(self, entries: Entries, base: int):
        paths = entries.paths
        self.entries = entries
        self.base = base
        self.plain = not any(map(contains, paths, repeat(WHITEOUT_PREFIX)))
        self.own: dict[str, int] = dict(zip(paths, range(base, base + len(paths))))
        self.own.pop("", None)
        self.parents = {path.rpartition("/")[0] for path in paths}
        self.implied = implied_dirs(self.own, self.parents) if self.plain else set()
        if self.plain:  # an entry below a non-directory entry of the layer: not plain either
            types, own = entries.types, self.own
            above = self.parents.union(map(parent_of, self.implied)).intersection(own)
            if any(types[own[path] - base] != DIR for path in above):
                self.plain, self.implied = False, set()


def implied_dirs(own: dict[str, int], parents: Iterable[str]) -> set[str]:
    """The directories a layer implies: ancestors of its paths that have no entry."""
    implied: set[str] = set()
    for parent in (parents if isinstance(parents, set) else set(parents)).difference(own, ("",)):
        if parent not in implied:
            implied.add(parent)
            implied.update(up for up in ancestors(parent) if up not in own)
    return implied


class FlatImage:
    """The image as of the last layer added."""

    def __init__(self) -> None:
        self.refs: dict[str, int] = {}  # path -> ref
        self.starts: list[int] = []  # each layer's first ref
        self.layers: list[Entries] = []
        self.types = DIR  # by ref: one character each, as FileInfo.type
        self.sizes = array("q", [0])  # by ref
        self._asked: tuple[frozenset[str], list[str]] | None = None  # see descendants

    # -- reading -------------------------------------------------------------------------

    def layer_of(self, ref: int) -> int:
        return bisect_right(self.starts, ref) - 1

    def entry(self, ref: int) -> FileInfo:
        """The FileInfo a ref (not IMPLIED) stands for."""
        layer = self.layer_of(ref)
        return self.layers[layer][ref - self.starts[layer]]

    def is_dir(self, ref: int) -> bool:
        return self.types[ref] == DIR

    def total_size(self, numpy_above: int = NUMPY_ABOVE) -> int:
        """The size of every entry the image shows (implied directories count 0).

        Over many entries, with numpy imported already (a layer dense with small files was
        read), the sizes are gathered and summed by numpy: 7-12 ms instead of 19-26 for the
        360,000 of the 300,000-file benchmark image, at the end of the run, where nothing else runs.
        A sum that could leave 64 bits (sizes are any int64) is summed by Python instead."""
        refs = self.refs
        numerics = sys.modules.get("dive_py.numerics") if len(refs) > numpy_above else None
        if numerics is None:
            return sum(map(self.sizes.__getitem__, refs.values()))
        np = numerics.numpy
        picked = np.frombuffer(self.sizes, np.int64)[np.fromiter(refs.values(), np.intp, len(refs))]
        if not len(picked):
            return 0
        if max(int(picked.max()), -int(picked.min())) < (1 << 63) // len(picked):
            return int(picked.sum())
        return sum(picked.tolist())

    def descendants(self, roots: set[str]) -> list[str]:
        """Every path strictly below one of `roots` (a scan of the whole image: the answer for
        the same roots is kept until the next layer is applied)."""
        if not roots:
            return []
        key = frozenset(roots)
        if self._asked is not None and self._asked[0] == key:
            return self._asked[1]
        found = self._descendants(roots)
        self._asked = (key, found)
        return found

    def _descendants(self, roots: set[str]) -> list[str]:
        if "" in roots:
            return list(self.refs)
        if len(roots) <= 16:  # each path tries every prefix: beyond a few, walking up is cheaper
            prefixes = tuple(root + "/" for root in roots)
            return [path for path in self.refs if path.startswith(prefixes)]
        out = []
        for path in self.refs:
            for up in ancestors(path):
                if up in roots:
                    out.append(path)
                    break
        return out

    def subtree_size(self, path: str, below: Iterable[str]) -> int:
        """The size of `path` and of `below` (its descendants, as `descendants` gave them)."""
        sizes, refs = self.sizes, self.refs
        return sizes[refs[path]] + sum(sizes[refs[p]] for p in below)

    # -- adding a layer ------------------------------------------------------------------

    def extend(self, entries: Entries) -> int:
        """Number the next layer's entries (the image shows none of them until `add`); the
        number of its first."""
        base = len(self.sizes)
        self.starts.append(base)
        self.layers.append(entries)
        self.types += entries.types
        self.sizes.extend(entries.sizes)
        return base

    def add(self, layer: LayerPaths) -> list[Change]:
        """Apply the layer last numbered; what it did to the non-directories below (for the hints)."""
        if layer.base != self.starts[-1]:
            raise ValueError("not the layer numbered last")
        if layer.plain:
            return self._apply(layer.own, set(), set(), layer.implied)
        return self._apply(*self._patch(layer))

    def _patch(self, layer: LayerPaths) -> tuple[dict[str, int], set[str], set[str], set[str]]:
        """A layer with whiteouts: its entries (path -> ref), whiteout targets, opaque
        directories and implied directories, without anything below a non-directory entry
        of the layer (which replaces its whole subtree)."""
        own: dict[str, int] = {}
        whiteouts: set[str] = set()
        opaque: set[str] = set()
        marked: set[str] = set()  # directories holding overlay metadata: implied only
        for i, path in enumerate(layer.entries.paths, layer.base):
            if not path:
                continue
            parent, _, name = path.rpartition("/")
            if name.startswith(WHITEOUT_PREFIX):
                if name == OPAQUE_MARKER:
                    opaque.add(parent)
                elif name.startswith(META_PREFIX):
                    marked.add(parent)
                elif target := name[len(WHITEOUT_PREFIX):]:
                    whiteouts.add(f"{parent}/{target}" if parent else target)
            else:
                own[path] = i
        implied = implied_dirs(own, [*map(parent_of, own), *map(parent_of, whiteouts),
                                     *map(parent_of, opaque), *map(parent_of, marked)])
        # a marked directory is implied too, unless it is also whited out and holds nothing of
        # this layer (then it is only gone)
        implied.update((opaque | marked).difference(own, whiteouts, ("",)))
        types = self.types
        files = {path for path, ref in own.items() if types[ref] != DIR}
        if files and not files.isdisjoint(map(parent_of, [*own, *implied, *whiteouts, *opaque])):
            def kept(path: str) -> bool:
                return all(up not in files for up in ancestors(path))
            own = {path: ref for path, ref in own.items() if kept(path)}
            whiteouts, opaque, implied = ({p for p in group if kept(p)} for group in (whiteouts, opaque, implied))
        return own, whiteouts, opaque, implied

    def _roots(self, own: dict[str, int], rewritten: set[str], whiteouts: set[str], opaque: set[str]) -> set[str]:
        """The directories of the image below whose subtrees go: whiteout targets, ones an entry
        of this layer replaces with a non-directory (`rewritten`: the paths of `own` the image
        has), and (their children only) opaque ones."""
        refs, types = self.refs, self.types
        roots = {path for path in whiteouts if (ref := refs.get(path)) is not None and types[ref] == DIR}
        roots.update(path for path in rewritten if types[refs[path]] == DIR and types[own[path]] != DIR)
        roots.update(path for path in opaque if path == "" or (path in refs and types[refs[path]] == DIR))
        return roots

    def _apply(self, own: dict[str, int], whiteouts: set[str], opaque: set[str],
               implied: set[str]) -> list[Change]:
        refs, types = self.refs, self.types
        rewritten = own.keys() & refs.keys()
        removed = self.descendants(self._roots(own, rewritten, whiteouts, opaque))
        self._asked = None  # the image changes now
        gone = {path for path in whiteouts if path in refs}
        touched = [*gone, *removed, *rewritten, *(implied & refs.keys())]
        before = {path: refs[path] for path in touched if types[refs[path]] != DIR}
        for path in (*gone, *removed):
            refs.pop(path, None)
        for path in implied:
            ref = refs.get(path)
            if ref is None or types[ref] != DIR:  # a directory below keeps its attributes
                refs[path] = IMPLIED
        refs.update(own)
        changes: list[Change] = []
        for path, old in before.items():
            new = refs.get(path)
            if new is None:
                changes.append((path, old, None))
            elif types[new] != DIR:
                changes.append((path, old, new))
        return changes
