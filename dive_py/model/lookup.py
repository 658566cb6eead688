"""Finding a path in a merged tree: symlinks followed inside the image, hard links to their
target, and where the bytes of a file as of some layer really are (layer, path)."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from dive_py.errors import UsageError
from dive_py.model.fileinfo import HARDLINK, REG, SYMLINK, normalise_path
from dive_py.model.filetree import Node

MAX_LINKS = 40  # as Linux: more symlinks than this on one lookup is a loop


def clean(path: str) -> str:
    """A user's path ('/etc/passwd', 'etc/passwd', './etc') as a tree path ('etc/passwd')."""
    return normalise_path(path)


def layer_index(count: int, layer: int | None) -> int:
    """--layer N (from 0; negative counts from the top), default the last layer."""
    if count == 0:
        raise UsageError("the image has no layers")
    if layer is None:
        return count - 1
    real = layer + count if layer < 0 else layer
    if not 0 <= real < count:
        raise UsageError(f"--layer {layer}: the image has layers 0 to {count - 1}")
    return real


def resolve(tree: Node, path: str, follow_last: bool = True) -> tuple[str, Node | None]:
    """The real path and node of `path` in `tree`, following symlinks the way the kernel
    would inside a chroot of the image ('..' stops at the root). Node None if absent."""
    parts = [p for p in clean(path).split("/") if p]
    done: list[str] = []
    hops = 0
    while parts:
        name = parts.pop(0)
        node = tree.get("/".join(done + [name]))
        if node is None:
            return "/".join(done + [name] + parts), None
        info = node.info
        if info is not None and info.type == SYMLINK and (parts or follow_last):
            hops += 1
            if hops > MAX_LINKS:
                raise UsageError(f"/{'/'.join(done + [name])}: too many levels of symbolic links")
            target = info.link
            base = "" if target.startswith("/") else "/".join(done)
            parts = [p for p in normalise_path(posixpath.join(base, target)).split("/") if p] + parts
            done = []
            continue
        done.append(name)
    real = "/".join(done)
    return real, tree.get(real)


def content_origin(trees: Sequence[Node], path: str, node: Node) -> tuple[int, str]:
    """(layer, path) of the tar entry holding the bytes of a regular file or hard link."""
    for _ in range(MAX_LINKS):
        info = node.info
        if info is None or info.type not in (REG, HARDLINK):
            kind = info.kind if info is not None else "directory"
            raise UsageError(f"/{path}: a {kind}, not a regular file")
        if info.type == REG:
            return node.layer, path
        target = clean(info.link)
        found = trees[node.layer].get(target)
        if found is None:
            raise UsageError(f"/{path}: hard link to /{target}, which is not in layer {node.layer}")
        path, node = target, found
    raise UsageError(f"/{path}: hard link loop")


def find_node(trees: Sequence[Node], layer: int, path: str, follow_last: bool = True) -> tuple[str, Node]:
    """The node at `path` as of `layer`, or UsageError naming the path and layer."""
    real, node = resolve(trees[layer], path, follow_last)
    if node is None:
        via = f" (links lead to /{real})" if real != clean(path) else ""
        raise UsageError(f"/{clean(path)}: not in the image as of layer {layer}{via}")
    return real, node
