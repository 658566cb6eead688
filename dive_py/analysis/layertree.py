"""dive's per-layer tree: the shape dive's efficiency and JSON export walk.

dive adds every tar entry of a layer to a tree of its own (AddPath): missing parents become
nodes without attributes, whiteout files stay as nodes named `.wh.NAME`, and any path
component starting with `.wh..wh.` (opaque markers and other overlay metadata) is dropped.
Duplicates keep one node whose attributes are the last entry's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from dive_py.model.fileinfo import META_PREFIX, FileInfo

LayerNodes = dict[str, FileInfo | None]


def dive_layer_nodes(entries: Iterable[FileInfo]) -> LayerNodes:
    nodes: LayerNodes = {}
    for entry in entries:
        path = entry.path
        parent, _, name = path.rpartition("/")
        # Every node's parents are nodes too, so a known parent leaves only the name to check
        # (tar writers list directories before their contents: this is the common case).
        if not parent or parent in nodes:
            if path in nodes or not name.startswith(META_PREFIX):
                nodes[path] = entry
            continue
        parts = path.split("/")
        prefix = ""
        complete = True
        for depth, part in enumerate(parts):
            path = f"{prefix}/{part}" if prefix else part
            if path not in nodes:
                if part.startswith(META_PREFIX):
                    complete = False
                    break
                if depth < len(parts) - 1:
                    nodes[path] = None
            prefix = path
        if complete:
            nodes[entry.path] = entry
    return nodes


def dive_order(paths: Iterable[str]) -> list[str]:
    """The order dive visits these paths in: depth first, sorted names.

    That is the order of the paths' component lists; with '/' swapped for NUL (which a tar name
    cannot hold, and which sorts before every other character) plain strings sort the same."""
    return sorted(paths, key=lambda p: p.replace("/", "\0"))


def child_first(nodes: LayerNodes) -> Iterator[str]:
    """Every node, children before their parent, siblings sorted: dive's VisitDepthChildFirst."""
    children: dict[str, list[str]] = {}
    for path in nodes:
        children.setdefault(path.rpartition("/")[0], []).append(path)
    for names in children.values():
        names.sort(key=lambda p: p.rpartition("/")[2])

    # iterative, so very deep trees cannot exhaust the recursion limit
    stack: list[tuple[str, int]] = [("", 0)]
    while stack:
        path, i = stack.pop()
        kids = children.get(path, ())
        if i < len(kids):
            stack.append((path, i + 1))
            stack.append((kids[i], 0))
        elif path:
            yield path
