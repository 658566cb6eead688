"""Tracing paths through the layers: which layers touched a path (blame), and a search over
every path any layer wrote (find), each with the layer that last changed it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from dive_py.analysis.analyze import Analysis
from dive_py.model.fileinfo import META_PREFIX, OPAQUE_MARKER, WHITEOUT_PREFIX, FileInfo
from dive_py.model.filetree import Node
from dive_py.model.lookup import clean


class Change(str, Enum):
    ADDED = "added"
    MODIFIED = "content modified"
    ATTRIBUTES = "attributes only"
    REWRITTEN = "rewritten unchanged"
    REMOVED = "removed"
    OPAQUE = "hidden by opaque dir"


@dataclass(frozen=True)
class Touch:
    """One layer's change to a path."""

    layer: int
    change: Change
    size: int  # of the path after the change (before it, for removals)
    command: str
    via: str = ""  # for removals: the path whose whiteout, opaque marker or replacement removed it


def _node_size(node: Node) -> int:
    return node.total_size() if node.is_dir else node.size


def _write_kind(before: Node | None, after: Node) -> Change:
    if before is None:
        return Change.ADDED
    a, b = before.info, after.info
    if a is None or b is None or before.is_dir != after.is_dir:
        return Change.MODIFIED if not (before.is_dir and after.is_dir) else Change.ATTRIBUTES
    if a.type != b.type or a.digest != b.digest or a.link != b.link or (a.size != b.size and not b.is_dir):
        return Change.MODIFIED
    if (a.mode, a.uid, a.gid) != (b.mode, b.uid, b.gid):
        return Change.ATTRIBUTES
    return Change.REWRITTEN


def _removal(entries: tuple[FileInfo, ...], path: str) -> tuple[Change, str]:
    """How a layer removed `path`: its own whiteout or an ancestor's, an opaque marker on an
    ancestor, or an ancestor replaced by a non-directory."""
    ancestors = []
    parts = path.split("/")
    for i in range(len(parts), 0, -1):
        ancestors.append("/".join(parts[:i]))
    whiteouts, opaque, written = set(), set(), set()
    for entry in entries:
        parent, _, name = entry.path.rpartition("/")
        if name == OPAQUE_MARKER:
            opaque.add(parent)
        elif name.startswith(META_PREFIX):
            continue
        elif name.startswith(WHITEOUT_PREFIX):
            target = name[len(WHITEOUT_PREFIX):]
            whiteouts.add(f"{parent}/{target}" if parent else target)
        elif not entry.is_dir:
            written.add(entry.path)
    for ancestor in ancestors:
        if ancestor in whiteouts:
            return Change.REMOVED, ancestor
        if ancestor in written and ancestor != path:
            return Change.REMOVED, ancestor
    for ancestor in ancestors[1:] + [""]:
        if ancestor in opaque:
            return Change.OPAQUE, ancestor
    return Change.REMOVED, path


def blame(analysis: Analysis, path: str) -> list[Touch]:
    """Every layer that added, changed or removed `path` (or removed a parent of it)."""
    path = clean(path)
    touches: list[Touch] = []
    before: Node | None = None
    for index, tree in enumerate(analysis.trees):
        layer = analysis.image.layers[index]
        after = tree.get(path)
        if after is not None and after is not before and (after.layer == index or before is None):
            touches.append(Touch(index, _write_kind(before, after), _node_size(after), layer.command))
        elif after is None and before is not None:
            change, via = _removal(layer.entries, path)
            touches.append(Touch(index, change, _node_size(before), layer.command, via))
        before = after
    return touches


@dataclass(frozen=True)
class Found:
    path: str  # without the leading '/'
    layer: int  # the last layer that changed it
    change: Change
    size: int  # now (or when removed)
    present: bool  # in the final image


def compile_pattern(text: str) -> re.Pattern[str]:
    """A regex searched in each path; a text that is not a valid regex is matched literally."""
    try:
        return re.compile(text)
    except re.error:
        return re.compile(re.escape(text))


def find(analysis: Analysis, pattern: str | re.Pattern[str], sort: str = "size",
         limit: int | None = None) -> list[Found]:
    """Every path any layer wrote whose '/'-rooted path matches `pattern`, with the layer
    that last changed it; largest first (sort='size') or by path (sort='name')."""
    regex = compile_pattern(pattern) if isinstance(pattern, str) else pattern
    last_write: dict[str, int] = {}
    for layer in analysis.image.layers:
        for path in layer.entries.paths:  # the paths alone: no FileInfo to make
            if path.rpartition("/")[2].startswith(WHITEOUT_PREFIX):
                continue
            if path in last_write or regex.search("/" + path):
                last_write[path] = layer.index
    trees = analysis.trees
    out = []
    for path, written in last_write.items():
        after = trees[written].get(path)
        if after is None:  # written and removed again in the same layer (whiteout wins)
            continue
        before = trees[written - 1].get(path) if written > 0 else None
        found = Found(path, written, _write_kind(before, after), _node_size(after), True)
        final = trees[-1].get(path)
        if final is not None and final.layer == written:
            out.append(found)
            continue
        for index in range(written + 1, len(trees)):  # removed in a later layer
            if trees[index].get(path) is None:
                change, _via = _removal(analysis.image.layers[index].entries, path)
                found = Found(path, index, change, found.size, final is not None)
                break
        out.append(found)
    if sort == "name":
        out.sort(key=lambda f: f.path)
    else:
        out.sort(key=lambda f: (-f.size, f.path))
    return out[:limit] if limit is not None else out
