"""The merged ("stacked") file tree of an image, one immutable tree per layer.

Stacking layer N onto the tree of layers 0..N-1 copies only the directories that layer N
touches; everything else is shared. So the trees of every layer stay in memory at the cost
of the changes, and two trees compare in time proportional to what differs between them:
an identical object on both sides is an unchanged subtree.

Layer semantics follow the OCI image spec (the way containerd and Docker apply layers):
- `dir/.wh.NAME` removes NAME (and its subtree) of the layers below;
- `dir/.wh..wh..opq` hides every child of `dir` from the layers below;
- whiteouts never hide entries of their own layer, whatever the order in the tar;
- a non-directory entry replaces whatever was at its path, subtree included;
- a directory entry over a directory keeps the children below and takes the new attributes;
- duplicate entries in one layer: the last wins.
dive drops opaque markers and keeps a replaced directory's children; we do neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dive_py.model.fileinfo import (
    META_PREFIX,
    OPAQUE_MARKER,
    WHITEOUT_PREFIX,
    FileInfo,
)


class Node:
    """A node of a merged tree. Treat as immutable once built: trees share nodes.

    `info` is None for a directory that no tar entry described (an implied parent).
    `layer` is the index of the layer that last wrote this path.
    `children` is None for non-directories.
    """

    __slots__ = ("name", "info", "layer", "children", "_total")

    def __init__(self, name: str, info: FileInfo | None, layer: int,
                 children: dict[str, Node] | None):
        self.name = name
        self.info = info
        self.layer = layer
        self.children = children
        self._total = -1

    @property
    def is_dir(self) -> bool:
        return self.children is not None

    @property
    def size(self) -> int:
        return self.info.size if self.info is not None else 0

    def total_size(self) -> int:
        """Size of this node plus everything below it (cached: nodes never change)."""
        if self._total < 0:
            total = self.size
            if self.children:
                stack = list(self.children.values())
                while stack:
                    node = stack.pop()
                    if node._total >= 0:
                        total += node._total
                        continue
                    total += node.size
                    if node.children:
                        stack.extend(node.children.values())
            self._total = total
        return self._total

    def get(self, path: str) -> Node | None:
        node: Node | None = self
        if not path:
            return node
        for part in path.split("/"):
            if node is None or node.children is None:
                return None
            node = node.children.get(part)
        return node


def empty_root() -> Node:
    return Node("", None, -1, {})


class _Patch:
    """What one layer does to one path: new attributes, removal, opacity, child patches."""

    __slots__ = ("info", "whiteout", "opaque", "children")

    def __init__(self) -> None:
        self.info: FileInfo | None = None
        self.whiteout = False
        self.opaque = False
        self.children: dict[str, _Patch] = {}

    def child(self, path: str) -> _Patch:
        patch = self
        if path:
            for part in path.split("/"):
                nxt = patch.children.get(part)
                if nxt is None:
                    nxt = patch.children[part] = _Patch()
                patch = nxt
        return patch


def _build_patch(entries: Iterable[FileInfo]) -> _Patch:
    root = _Patch()
    for entry in entries:
        path = entry.path
        if not path:
            continue
        parent, _, name = path.rpartition("/")
        if name == OPAQUE_MARKER:
            root.child(parent).opaque = True
        elif name.startswith(META_PREFIX):
            root.child(parent)  # other overlay metadata: only implies the parent directory
        elif name.startswith(WHITEOUT_PREFIX):
            target = name[len(WHITEOUT_PREFIX):]
            if target:
                root.child(f"{parent}/{target}" if parent else target).whiteout = True
        else:
            root.child(path).info = entry
    return root


def _apply(lower: Node | None, patch: _Patch, name: str, layer: int) -> Node:
    """The node for `name` after `patch` is applied on `lower`.

    Depth-first with an explicit stack, so a hostile path thousands of directories deep
    cannot exhaust Python's recursion limit.
    """
    root_slot: list[Node] = []
    # a frame: (lower, patch, name, children being built, pending child names, where to put the result)
    frames: list[tuple] = []

    def enter(low: Node | None, pat: _Patch, nm: str, out: Callable[[Node], None]) -> None:
        info = pat.info
        if info is not None and not info.is_dir:
            out(Node(nm, info, layer, None))
            return
        if low is not None and low.children is not None and not pat.opaque:
            children = dict(low.children)
        else:
            children = {}
        frames.append((low, pat, nm, children, iter(pat.children.items()), out))

    enter(lower, patch, name, root_slot.append)
    while frames:
        low, pat, nm, children, pending, out = frames[-1]
        for child_name, child_patch in pending:
            if child_patch.whiteout:
                children.pop(child_name, None)
                if child_patch.info is None and not child_patch.children:
                    continue
            enter(children.get(child_name), child_patch, child_name,
                  lambda node, c=children, n=child_name: c.__setitem__(n, node))
            break
        else:
            frames.pop()
            info = pat.info
            if info is None:
                if low is not None and low.children is not None:
                    out(Node(nm, low.info, low.layer, children))
                else:
                    out(Node(nm, None, layer, children))
            else:
                out(Node(nm, info, layer, children))
    return root_slot[0]


def stack(lower: Node, entries: Iterable[FileInfo], layer: int) -> Node:
    """The tree after applying one layer's entries on top of `lower` (which is not changed)."""
    patch = _build_patch(entries)
    root = _apply(lower, patch, "", layer)
    root.info = None
    return root


def stack_all(layers: Iterable[Iterable[FileInfo]]) -> list[Node]:
    """Merged trees for every layer: result[i] is the image as of layer i."""
    trees = []
    tree = empty_root()
    for index, entries in enumerate(layers):
        tree = stack(tree, entries, index)
        trees.append(tree)
    return trees
