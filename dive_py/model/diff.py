"""Comparing two merged trees: what a layer (or a range of layers) added, changed, removed.

Both compare modes of dive are one comparison here:
- "layer" mode at layer N compares tree(N-1) with tree(N);
- "aggregated" mode at layer N compares tree(0) with tree(N).
Layer 0 compares against the empty tree, so everything in it is Added.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from dive_py.model.filetree import Node


class DiffType(IntEnum):
    UNMODIFIED = 0
    MODIFIED = 1
    ADDED = 2
    REMOVED = 3

    @property
    def letter(self) -> str:
        return " MAR"[self]


class Entry(NamedTuple):
    """One row of a compared directory: the child under its name, on either side.

    A NamedTuple: flattening a big tree builds hundreds of thousands of these.
    """

    name: str
    lower: Node | None
    upper: Node | None
    diff: DiffType

    @property
    def node(self) -> Node:
        """What to show: the upper node, or the removed lower one."""
        return self.upper if self.upper is not None else self.lower  # type: ignore[return-value]


def _node_changed(lower: Node, upper: Node) -> bool:
    if lower.is_dir != upper.is_dir:
        return True
    a, b = lower.info, upper.info
    if a is None or b is None:
        return (a is None) != (b is None) and not lower.is_dir
    return not a.same_content(b)


class Comparison:
    """A lazy comparison of two trees; directory verdicts are computed once and remembered."""

    def __init__(self, lower: Node, upper: Node):
        self.lower = lower
        self.upper = upper
        self._dir_diff: dict[tuple[int, int], DiffType] = {}

    def diff_of(self, lower: Node | None, upper: Node | None) -> DiffType:
        if lower is upper:
            return DiffType.UNMODIFIED
        if lower is None:
            return DiffType.ADDED
        if upper is None:
            return DiffType.REMOVED
        if _node_changed(lower, upper):
            return DiffType.MODIFIED
        if not upper.is_dir:
            return DiffType.UNMODIFIED
        key = (id(lower), id(upper))
        verdict = self._dir_diff.get(key)
        if verdict is None:
            verdict = DiffType.UNMODIFIED
            lc, uc = lower.children or {}, upper.children or {}
            if lc.keys() != uc.keys():
                verdict = DiffType.MODIFIED
            else:
                for name, child in uc.items():
                    if self.diff_of(lc[name], child) != DiffType.UNMODIFIED:
                        verdict = DiffType.MODIFIED
                        break
            self._dir_diff[key] = verdict
        return verdict

    def entries(self, lower: Node | None, upper: Node | None, inherited: DiffType | None = None
                ) -> list[Entry]:
        """The children of a directory on both sides, sorted by name, with their diff type.

        `inherited` is the directory's own verdict when it is Added or Removed: then every
        child shares it without looking further.
        """
        lc = lower.children if lower is not None and lower.children else {}
        uc = upper.children if upper is not None and upper.children else {}
        if inherited == DiffType.ADDED:
            return [Entry(n, None, uc[n], DiffType.ADDED) for n in sorted(uc)]
        if inherited == DiffType.REMOVED:
            return [Entry(n, lc[n], None, DiffType.REMOVED) for n in sorted(lc)]
        out = []
        for name in sorted(lc.keys() | uc.keys()):
            lo, up = lc.get(name), uc.get(name)
            if lo is not None and up is not None and lo.is_dir != up.is_dir:
                # a type change is a removal of one thing and the addition of another; show the new
                out.append(Entry(name, lo, up, DiffType.MODIFIED))
                continue
            out.append(Entry(name, lo, up, self.diff_of(lo, up)))
        return out

    def child_inherited(self, entry: Entry) -> DiffType | None:
        if entry.diff in (DiffType.ADDED, DiffType.REMOVED):
            return entry.diff
        if entry.lower is not None and entry.upper is not None and entry.lower.is_dir != entry.upper.is_dir:
            return DiffType.ADDED
        return None
