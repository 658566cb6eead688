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
    if lower.same_entry(upper):  # most directories a layer re-made: no FileInfo to make
        return False
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

    def _quick(self, lower: Node | None, upper: Node | None) -> DiffType | None:
        """The verdict if the nodes themselves decide it (or it is remembered), else None."""
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
        return self._dir_diff.get((id(lower), id(upper)))

    @staticmethod
    def _child_pairs(lower: Node, upper: Node):
        """The children side by side, or None if the two directories hold different names."""
        lc, uc = lower.children or {}, upper.children or {}
        if lc.keys() != uc.keys():
            return None
        return ((lc[name], child) for name, child in uc.items())

    def diff_of(self, lower: Node | None, upper: Node | None) -> DiffType:
        verdict = self._quick(lower, upper)
        if verdict is not None:
            return verdict
        # Two directories alike in themselves are alike if all their children are: decided
        # depth-first with an explicit stack, so a path thousands of levels deep cannot
        # exhaust the recursion limit.
        frames = [(lower, upper, self._child_pairs(lower, upper))]  # type: ignore[arg-type]
        finished: DiffType | None = None  # the verdict of the frame just popped
        while frames:
            lo, up, pairs = frames[-1]
            if finished is DiffType.MODIFIED or pairs is None:
                verdict = DiffType.MODIFIED
            else:
                verdict = DiffType.UNMODIFIED
                for lo_child, up_child in pairs:
                    quick = self._quick(lo_child, up_child)
                    if quick is None:  # an undecided directory: decide it first
                        frames.append((lo_child, up_child, self._child_pairs(lo_child, up_child)))  # type: ignore[arg-type]
                        verdict = None
                        break
                    if quick is not DiffType.UNMODIFIED:
                        verdict = DiffType.MODIFIED
                        break
                if verdict is None:
                    finished = None
                    continue
            frames.pop()
            self._dir_diff[(id(lo), id(up))] = verdict
            finished = verdict
        return finished  # type: ignore[return-value]

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
