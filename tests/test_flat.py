"""The flat image (dive_py.model.flat) against the merged trees (dive_py.model.filetree): after
every layer of random stacks, the same paths show the same entries, and the changes a layer
reports are exactly the files whose tree node it replaced or removed."""

from hypothesis import given, settings
from hypothesis import strategies as st

import dive_py.numerics  # noqa: F401 (total_size sums with numpy only where it is imported)
from dive_py.model.entries import Entries
from dive_py.model.fileinfo import DIR, REG, SYMLINK, FileInfo
from dive_py.model.filetree import Node, stack_all
from dive_py.model.flat import IMPLIED, FlatImage, LayerPaths

NAMES = ["a", "b", "c"]
paths = st.lists(st.sampled_from(NAMES), min_size=1, max_size=4).map("/".join)


def _entry(kind: str, path: str, size: int) -> FileInfo:
    parent, _, name = path.rpartition("/")
    prefix = f"{parent}/" if parent else ""
    if kind == "whiteout":
        return FileInfo(f"{prefix}.wh.{name}", REG, 0, 0o644, 0, 0, "", 0)
    if kind == "opaque":
        return FileInfo(f"{path}/.wh..wh..opq", REG, 0, 0o644, 0, 0, "", 0)
    if kind == "root-opaque":
        return FileInfo(".wh..wh..opq", REG, 0, 0o644, 0, 0, "", 0)
    if kind == "meta":
        return FileInfo(f"{path}/.wh..wh.plnk", REG, 0, 0o644, 0, 0, "", 0)
    return FileInfo(path, {"file": REG, "dir": DIR, "link": SYMLINK}[kind], size, 0o644, 0, 0, "", size)


entry = st.builds(_entry, st.sampled_from(["file", "file", "dir", "dir", "link", "whiteout", "opaque",
                                           "root-opaque", "meta"]), paths, st.integers(0, 5))
stacks = st.lists(st.lists(entry, max_size=12), min_size=1, max_size=5)


def _flatten(tree: Node) -> dict[str, Node]:
    out: dict[str, Node] = {}
    todo = [("", tree)]
    while todo:
        path, node = todo.pop()
        for name, child in (node.children or {}).items():
            child_path = f"{path}/{name}" if path else name
            out[child_path] = child
            todo.append((child_path, child))
    return out


@settings(max_examples=800, deadline=None)
@given(stacks)
def test_the_flat_image_shows_what_the_trees_show(layers):
    trees = stack_all(layers)
    flat = FlatImage()
    previous: dict[str, Node] = {}
    for index, (layer, tree) in enumerate(zip(layers, trees)):
        entries = Entries.of(layer)
        changes = flat.add(LayerPaths(entries, flat.extend(entries)))
        nodes = _flatten(tree)
        assert flat.refs.keys() == nodes.keys()
        for path, ref in flat.refs.items():
            node = nodes[path]
            if ref == IMPLIED:
                assert node.info is None
            else:
                assert flat.entry(ref) == node.info and flat.layer_of(ref) == node.layer
        assert flat.total_size() == flat.total_size(numpy_above=0) == tree.total_size()
        # a file of the image below changed where its node is not the same object any more
        expected = set()
        for path, lower in previous.items():
            upper = nodes.get(path)
            if lower.is_dir or upper is lower:
                continue
            if upper is None:
                expected.add((path, lower.info, None))
            elif not upper.is_dir:
                expected.add((path, lower.info, upper.info))
        got = {(path, flat.entry(old), None if new is None else flat.entry(new)) for path, old, new in changes}
        assert got == expected
        previous = nodes


def _image(*sizes: int) -> FlatImage:
    flat = FlatImage()
    entries = Entries.of([FileInfo(f"f{i}", REG, size, 0o644, 0, 0, "", 0) for i, size in enumerate(sizes)])
    flat.add(LayerPaths(entries, flat.extend(entries)))
    return flat


def test_the_final_size_is_exact_beyond_64_bits():
    """Sizes are any int64 (a base-256 size can be that large, or negative): summed with numpy
    they could wrap around, so such a sum is Python's."""
    for sizes in ([2**62, 2**62, 2**62], [2**63 - 1, 1], [-(2**63), -1], [5, -3, 2**63 - 1]):
        flat = _image(*sizes)
        assert flat.total_size() == flat.total_size(numpy_above=0) == sum(sizes)


def test_many_paths_are_summed_alike_either_way():
    flat = _image(*range(60_000))
    assert flat.total_size() == flat.total_size(numpy_above=10**9) == sum(range(60_000))
