"""Two images compared: their common base (the shared layer prefix) and every path that
differs between their final trees, with sizes and the layer of each image that last wrote it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from dive_py.analysis.analyze import Analysis
from dive_py.model.diff import Comparison, DiffType, _node_changed
from dive_py.model.filetree import Node, empty_root

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


class PathChange(NamedTuple):
    path: str
    change: str  # added, removed, changed
    kind_a: str  # file, dir, symlink, ... ('' when absent)
    kind_b: str
    size_a: int
    size_b: int
    layer_a: int | None  # index of the layer of A that last wrote the path
    layer_b: int | None


@dataclass(frozen=True)
class ImageDiff:
    a: Analysis
    b: Analysis
    common_layers: int  # how many bottom layers (by diff ID) both images have
    changes: tuple[PathChange, ...]  # in path order

    @cached_property
    def common_bytes(self) -> int:
        return sum(layer.size for layer in self.a.image.layers[: self.common_layers])

    def count(self, change: str) -> int:
        return sum(1 for c in self.changes if c.change == change)

    def bytes_of(self, change: str, side: str) -> int:
        """Sum of the sizes (own sizes, so nothing is counted twice) on side 'a' or 'b'."""
        return sum(c.size_a if side == "a" else c.size_b for c in self.changes if c.change == change)


def _kind(node: Node | None) -> str:
    if node is None:
        return ""
    return node.info.kind if node.info is not None else "dir"


def _record(out: list[PathChange], path: str, change: str, lo: Node | None, up: Node | None) -> None:
    out.append(PathChange(path, change, _kind(lo), _kind(up), lo.size if lo else 0, up.size if up else 0,
                          lo.layer if lo else None, up.layer if up else None))


def _all_below(out: list[PathChange], node: Node, base: str, change: str) -> None:
    """Every path below `node` as added or removed, depth first by name (an explicit stack of
    iterators, so trees thousands of levels deep are fine)."""
    stack = [(iter(sorted((node.children or {}).items())), base)]
    while stack:
        step = next(stack[-1][0], None)
        if step is None:
            stack.pop()
            continue
        prefix = stack[-1][1]
        name, child = step
        path = f"{prefix}/{name}" if prefix else name
        _record(out, path, change, None if change == ADDED else child, child if change == ADDED else None)
        if child.children:
            stack.append((iter(sorted(child.children.items())), path))


def changed_paths(lower: Node, upper: Node) -> list[PathChange]:
    """Every path added, removed or changed from `lower` to `upper`, depth first by name."""
    comparison = Comparison(lower, upper)
    out: list[PathChange] = []

    stack = [(iter(comparison.entries(lower, upper)), "")]  # depth first, without recursion
    while stack:
        entry = next(stack[-1][0], None)
        if entry is None:
            stack.pop()
            continue
        if entry.diff == DiffType.UNMODIFIED:
            continue
        base = stack[-1][1]
        path = f"{base}/{entry.name}" if base else entry.name
        lo, up = entry.lower, entry.upper
        if lo is None or up is None:
            change = ADDED if lo is None else REMOVED
            _record(out, path, change, lo, up)
            _all_below(out, up if lo is None else lo, path, change)  # type: ignore[arg-type]
            continue
        if _node_changed(lo, up):
            _record(out, path, CHANGED, lo, up)
        if lo.is_dir and up.is_dir:
            stack.append((iter(comparison.entries(lo, up)), path))
        elif lo.is_dir or up.is_dir:  # a directory replaced by a file, or the other way
            _all_below(out, lo, path, REMOVED)
            _all_below(out, up, path, ADDED)
    return out


def common_prefix(a: Analysis, b: Analysis) -> int:
    count = 0
    for la, lb in zip(a.image.layers, b.image.layers):
        if not la.digest or la.digest != lb.digest:
            break
        count += 1
    return count


def diff_images(a: Analysis, b: Analysis) -> ImageDiff:
    lower = a.trees[-1] if a.trees else empty_root()
    upper = b.trees[-1] if b.trees else empty_root()
    return ImageDiff(a, b, common_prefix(a, b), tuple(changed_paths(lower, upper)))
