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

from collections.abc import Iterable

from dive_py.model.entries import Entries
from dive_py.model.fileinfo import (
    DIR,
    META_PREFIX,
    OPAQUE_MARKER,
    WHITEOUT_PREFIX,
    FileInfo,
)


class Node:
    """A node of a merged tree. Treat as immutable once built: trees share nodes.

    `info` is None for a directory that no tar entry described (an implied parent); it is made
    from the layer's entry columns when asked for (the trees of a 300,000-file image would
    otherwise hold 300,000 FileInfo objects besides the columns).
    `layer` is the index of the layer that last wrote this path.
    `children` is None for non-directories.
    """

    __slots__ = ("name", "_source", "_index", "layer", "children", "_total")

    def __init__(self, name: str, info: FileInfo | Entries | None, layer: int,
                 children: dict[str, Node] | None, index: int = -1):
        """`info`: the FileInfo, or None; or, with an `index`, the Entries holding it."""
        self.name = name
        self._source = info
        self._index = index
        self.layer = layer
        self.children = children
        self._total = -1

    @property
    def info(self) -> FileInfo | None:
        if self._index < 0:
            return self._source  # type: ignore[return-value]
        return self._source[self._index]  # type: ignore[index]

    def same_entry(self, other: Node) -> bool:
        """Whether both nodes show the very same tar entry (or both none)."""
        return self._source is other._source and self._index == other._index

    @property
    def is_dir(self) -> bool:
        return self.children is not None

    @property
    def size(self) -> int:
        if self._index >= 0:
            return self._source.sizes[self._index]  # type: ignore[union-attr]
        return self._source.size if self._source is not None else 0  # type: ignore[union-attr]

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
    """What one layer does to one path: its entry (an index into the layer's entries, -1 for
    none), removal, opacity, child patches."""

    __slots__ = ("index", "whiteout", "opaque", "children")

    def __init__(self) -> None:
        self.index = -1
        self.whiteout = False
        self.opaque = False
        self.children: dict[str, _Patch] | None = None  # made for the first child: most have none

    def child(self, name: str) -> _Patch:
        """The patch for a child, made if new."""
        if self.children is None:
            self.children = {}
        patch = self.children.get(name)
        if patch is None:
            patch = self.children[name] = _Patch()
        return patch


def _build_patch(entries: Entries) -> _Patch:
    root = _Patch()
    patches = {"": root}  # path -> its patch, so an entry finds its parent's in one lookup

    def at(path: str) -> _Patch:
        patch = patches.get(path)
        if patch is not None:
            return patch
        missing = []
        while patch is None:  # up to the nearest known ancestor (the root at worst)
            missing.append(path)
            path = path.rpartition("/")[0]
            patch = patches.get(path)
        for full in reversed(missing):
            patches[full] = patch = patch.child(full.rpartition("/")[2])
        return patch

    for index, path in enumerate(entries.paths):
        if not path:
            continue
        parent, _, name = path.rpartition("/")
        if name.startswith(WHITEOUT_PREFIX):
            if name == OPAQUE_MARKER:
                at(parent).opaque = True
            elif name.startswith(META_PREFIX):
                at(parent)  # other overlay metadata: only implies the parent directory
            elif target := name[len(WHITEOUT_PREFIX):]:
                at(f"{parent}/{target}" if parent else target).whiteout = True
        else:
            patch = patches.get(path)
            if patch is None:  # the usual case, a new path under a known directory: no walk
                up = patches.get(parent) or at(parent)
                patches[path] = patch = up.child(name)
            patch.index = index
    return root


def _apply(lower: Node | None, patch: _Patch, name: str, layer: int, entries: Entries) -> Node:
    """The node for `name` after `patch` (of the layer `entries`) is applied on `lower`.

    Depth-first with an explicit stack, so a hostile path thousands of directories deep
    cannot exhaust Python's recursion limit.
    """
    # a frame: (lower, patch, name, children being built, pending child patches, the parent's
    # children being built (None for the top), the name to file the result under there)
    frames: list[tuple] = []
    top: list[Node] = []
    types = entries.types

    def enter(low: Node | None, pat: _Patch, nm: str, dest: dict | None) -> bool:
        """Make the node at once (True), or push a frame for its children (False)."""
        index = pat.index
        if index >= 0 and types[index] != DIR:
            node = Node(nm, entries, layer, None, index)
            if dest is None:
                top.append(node)
            else:
                dest[nm] = node
            return True
        if low is not None and low.children is not None and not pat.opaque:
            children = dict(low.children)
        else:
            children = {}
        frames.append((low, pat, nm, children, iter(pat.children.items() if pat.children else ()), dest))
        return False

    enter(lower, patch, name, None)
    while frames:
        low, pat, nm, children, pending, dest = frames[-1]
        for child_name, child_patch in pending:
            if child_patch.whiteout:
                children.pop(child_name, None)
                if child_patch.index < 0 and not child_patch.children:
                    continue
            if not enter(children.get(child_name), child_patch, child_name, children):
                break  # descend first
        else:
            frames.pop()
            if pat.index < 0:
                if low is not None and low.children is not None:
                    node = Node(nm, low._source, low.layer, children, low._index)
                else:
                    node = Node(nm, None, layer, children)
            else:
                node = Node(nm, entries, layer, children, pat.index)
            if dest is None:
                top.append(node)
            else:
                dest[nm] = node
    return top[0]


def stack(lower: Node, entries: Iterable[FileInfo], layer: int) -> Node:
    """The tree after applying one layer's entries (any sequence of FileInfo, best Entries) on
    top of `lower` (which is not changed)."""
    entries = Entries.of(entries)
    root = _apply(lower, _build_patch(entries), "", layer, entries)
    root._source, root._index = None, -1
    return root


def stack_all(layers: Iterable[Iterable[FileInfo]]) -> list[Node]:
    """Merged trees for every layer: result[i] is the image as of layer i."""
    trees = []
    tree = empty_root()
    for index, entries in enumerate(layers):
        tree = stack(tree, entries, index)
        trees.append(tree)
    return trees
