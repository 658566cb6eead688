"""From waste to Dockerfile fixes: concrete hints, each with the bytes it would save and the
layers and paths involved.

Kinds (only user layers, 1 and up, are judged: the base image is not the Dockerfile's):
- package-cache: a package manager's cache left in a layer (apt, pip, npm, yarn, apk, dnf/yum);
- deleted-later: files a layer added that a later layer deletes (the bytes stay in the image);
- attributes-only: files a later layer rewrote with new mode or owner only (chmod/chown);
- duplicate-content: the same bytes added in several layers;
- large-file: large files in a user layer that the final image keeps.
A file counted by one kind is not counted again by the ones after it in this list.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain, compress, repeat
from operator import and_

from dive_py.ci.goformat import go_bytes
from dive_py.model.entries import Entries
from dive_py.model.fileinfo import REG
from dive_py.model.flat import IMPLIED, Change, FlatImage
from dive_py.model.image import Image

LARGE_FILE = 10 << 20
MAX_PATHS = 20  # paths listed per hint

_HOME = r"(?:root|home/[^/]+)"
CACHES: tuple[tuple[str, str, str], ...] = (
    # (manager, regex of the cache directory, fix)
    ("apt", r"var/lib/apt/lists|var/cache/apt",
     "end the same RUN with `rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb` "
     "(or use RUN --mount=type=cache,target=/var/cache/apt)"),
    ("pip", _HOME + r"/\.cache/pip",
     "use `pip install --no-cache-dir` (or RUN --mount=type=cache,target=/root/.cache/pip)"),
    ("npm", _HOME + r"/\.npm",
     "run `npm cache clean --force` in the same RUN (or RUN --mount=type=cache,target=/root/.npm)"),
    ("yarn", r"usr/local/share/\.cache/yarn|" + _HOME + r"/\.cache/yarn",
     "run `yarn cache clean` in the same RUN (or mount a cache for it)"),
    ("apk", r"var/cache/apk|etc/apk/cache", "use `apk add --no-cache`"),
    ("dnf/yum", r"var/cache/dnf|var/cache/yum",
     "end the same RUN with `dnf clean all` (or `yum clean all`)"),
)
# One alternation with a group per manager: one match per path instead of one per manager.
_CACHE_RE = re.compile("^(?:" + "|".join(f"(?P<c{i}>{pattern})" for i, (_, pattern, _) in enumerate(CACHES))
                       + ")(?=/|$)")
# What every path _CACHE_RE matches starts with: a path-wide startswith (C-level) leaves the
# regex only the few paths that might be a cache's (a test holds the two together)
CACHE_PREFIXES = ("var/lib/apt/lists", "var/cache/", "root/.", "home/", "usr/local/share/.cache/yarn",
                  "etc/apk/cache")


@dataclass(frozen=True)
class Hint:
    kind: str
    message: str
    bytes_saved: int
    layers: tuple[int, ...]
    paths: tuple[str, ...]  # '/'-rooted, at most MAX_PATHS
    fix: str

    def to_json(self) -> dict:
        return {"kind": self.kind, "message": self.message, "bytesSaved": self.bytes_saved,
                "layers": list(self.layers), "paths": list(self.paths), "fix": self.fix}


def _files(n: int) -> str:
    return f"{n:,} file{'' if n == 1 else 's'}"


def _listed(paths) -> tuple[str, ...]:
    return tuple(sorted("/" + p for p in paths)[:MAX_PATHS])


def hints(image: Image, flat: FlatImage, changes: Sequence[list[Change]]) -> list[Hint]:
    """The hints for an image; `flat`: its final image, `changes`: what each layer did to
    the files below it (dive_py.model.flat)."""
    out: list[Hint] = []
    claimed: set[tuple[int, str]] = set()  # (layer, path) already explained by a hint
    out += _cache_hints(image, claimed)
    out += _change_hints(flat, changes, claimed)
    regular = [_regular(layer.entries) for layer in image.layers]
    out += _duplicate_hints(image, claimed, regular)
    out += _large_hints(image, flat, claimed, regular)
    out.sort(key=lambda h: (-h.bytes_saved, h.kind, h.layers))
    return out


def _cache_hints(image: Image, claimed: set) -> list[Hint]:
    out = []
    for layer in image.layers[1:]:
        entries = layer.entries
        found: dict[str, tuple[int, set[str], str]] = {}
        for i in compress(range(len(entries)), map(str.startswith, entries.paths, repeat(CACHE_PREFIXES))):
            path = entries.paths[i]
            if entries.types[i] != REG or (match := _CACHE_RE.match(path)) is None:
                continue
            name, _, fix = CACHES[int(match.lastgroup[1:])]  # type: ignore[index, union-attr]
            total, roots, _ = found.get(name, (0, set(), fix))
            roots.add(match.group(0))  # type: ignore[union-attr]
            found[name] = (total + entries.sizes[i], roots, fix)
            claimed.add((layer.index, path))
        for name, (total, roots, fix) in found.items():
            if total == 0:
                continue
            out.append(Hint("package-cache",
                            f"layer {layer.index} writes the {name} cache ({', '.join(_listed(roots))}): "
                            f"{go_bytes(total)}; {fix}",
                            total, (layer.index,), _listed(roots), fix))
    return out


def _change_hints(flat: FlatImage, changes_by_layer: Sequence[list[Change]], claimed: set) -> list[Hint]:
    """deleted-later and attributes-only, from what each layer did to the files below it."""
    deleted: dict[tuple[int, int], tuple[int, list[str]]] = {}
    chmods: dict[tuple[int, int], tuple[int, list[str]]] = {}
    for j, changes in enumerate(changes_by_layer):
        for path, old, new in changes:
            origin = flat.layer_of(old)
            size = flat.sizes[old]
            if origin < 1 or (origin, path) in claimed or size == 0:
                continue
            if new is None:
                total, paths = deleted.get((origin, j), (0, []))
                paths.append(path)
                deleted[(origin, j)] = (total + size, paths)
                claimed.add((origin, path))
                continue
            a, b = flat.entry(old), flat.entry(new)
            if (a.type == b.type == REG and a.digest == b.digest and a.size == b.size
                    and (a.mode, a.uid, a.gid) != (b.mode, b.uid, b.gid)):
                total, paths = chmods.get((origin, j), (0, []))
                paths.append(path)
                chmods[(origin, j)] = (total + b.size, paths)
                claimed.add((j, path))
    out = []
    for (i, j), (total, paths) in deleted.items():
        fix = f"delete them in the same RUN that creates them (layer {i}), or use a multi-stage build"
        out.append(Hint("deleted-later",
                        f"{_files(len(paths))} added in layer {i} deleted in layer {j}, "
                        f"but their {go_bytes(total)} stay in layer {i}; {fix}",
                        total, (i, j), _listed(paths), fix))
    for (i, j), (total, paths) in chmods.items():
        fix = "set mode and owner where the files are added: COPY --chmod=… --chown=… (or chmod in that same RUN)"
        out.append(Hint("attributes-only",
                        f"layer {j} copies {_files(len(paths))} of layer {i} again ({go_bytes(total)}) "
                        f"only to change their mode or owner; {fix}",
                        total, (i, j), _listed(paths), fix))
    return out


NUMPY_ABOVE = 50_000  # entries (files in user layers) from which numpy does the counting


def _numpy(count: int):
    """numpy, for `count` values and more than NUMPY_ABOVE of them (else None): below, its
    import (0.06 s, dive_py.numerics) costs more than plain iteration."""
    if count <= NUMPY_ABOVE:
        return None
    from dive_py.numerics import numpy

    return numpy


def _regular(entries: Entries) -> array:
    """The indexes of the non-empty regular files (with C-level iteration: layers are long)."""
    np = _numpy(len(entries))
    if np is None:
        return array("q", compress(range(len(entries)), map(and_, map(REG.__eq__, entries.types),
                                                            map(bool, entries.sizes))))
    types = np.frombuffer(entries.types.encode("latin-1", "replace"), np.uint8)  # a byte per entry
    found = np.flatnonzero((types == ord(REG)) & (np.frombuffer(entries.sizes, np.int64) != 0))
    return array("q", found.astype(np.int64).tobytes())


def _picked(values: array, indexes: array) -> array:
    """values[i] for each i in `indexes`, in an array of the same type."""
    np = _numpy(len(indexes))
    if np is None:
        return array(values.typecode, map(values.__getitem__, indexes))
    picked = np.frombuffer(values, values.typecode)[np.frombuffer(indexes, np.int64)]
    return array(values.typecode, picked.tobytes())


def _at_least(values: array, indexes: array, least: int) -> Iterable[int]:
    """The i in `indexes` (in order) where values[i] >= least."""
    np = _numpy(len(indexes))
    if np is None:
        return compress(indexes, map(least.__le__, map(values.__getitem__, indexes)))
    at = np.frombuffer(indexes, np.int64)
    return at[np.frombuffer(values, values.typecode)[at] >= least].tolist()


def _where_in(values: array, wanted: set[int]) -> list[int]:
    """The positions in `values` of the values in `wanted`."""
    np = _numpy(len(values))
    if np is None or not wanted:
        return list(compress(range(len(values)), map(wanted.__contains__, values)))
    known = np.fromiter(wanted, np.uint64, len(wanted))
    return np.flatnonzero(np.isin(np.frombuffer(values, np.uint64), known)).tolist()


def shared_contents(base: array, user: list[array], numpy_above: int | None = None) -> set[int]:
    """The digests in `user` (one array per user layer) that occur twice there, or also in
    `base`. Most contents occur once; with many files, numpy counts them in 8 bytes each where
    a Counter would hold an int object and a table slot for every one of them."""
    if sum(map(len, user)) <= (NUMPY_ABOVE if numpy_above is None else numpy_above):  # (tests try both)
        counts = Counter(chain.from_iterable(user))
        shared = {digest for digest in base if digest in counts}
        if len(counts) < sum(counts.values()):
            shared.update(digest for digest, n in counts.items() if n > 1)
        return shared
    from dive_py.numerics import numpy as np

    # sorted in place, and looked up in the sorted base: no temporary much larger than the input
    found = np.concatenate([np.frombuffer(d, np.uint64) for d in user])
    found.sort()
    shared = set(found[1:][found[1:] == found[:-1]].tolist())
    if len(base):
        known = np.sort(np.frombuffer(base, np.uint64))
        at = np.searchsorted(known, found)
        at[at == len(known)] = 0
        shared.update(found[known[at] == found].tolist())
    return shared


def _duplicate_hints(image: Image, claimed: set, regular: list[array]) -> list[Hint]:
    layers = image.layers
    if len(layers) < 2:
        return []

    digests = [_picked(layer.entries.digests, regular[layer.index]) for layer in layers]
    # Most content is added once: find the repeated first, then look closer only at those
    repeated = shared_contents(digests[0], digests[1:])
    first = layers[0].entries
    base = {(first.digests[i], first.sizes[i])  # the base's contents added again
            for i in map(regular[0].__getitem__, _where_in(digests[0], repeated))}
    by_content: dict[tuple[int, int], list[tuple[int, str]]] = {}
    for layer in layers[1:]:
        entries = layer.entries
        for i in map(regular[layer.index].__getitem__, _where_in(digests[layer.index], repeated)):
            path = entries.paths[i]
            if (layer.index, path) not in claimed:
                by_content.setdefault((entries.digests[i], entries.sizes[i]), []).append((layer.index, path))
    out = []
    for (digest, size), where in by_content.items():
        in_base = (digest, size) in base
        layers = sorted({i for i, _ in where} | ({0} if in_base else set()))
        if len(layers) < 2:
            continue
        copies = len(where) - (0 if in_base else 1)
        saved = size * copies
        fix = "add it once (in the earliest layer that needs it), or copy it with COPY --from/--link instead"
        paths = _listed({p for _, p in where})
        out.append(Hint("duplicate-content",
                        f"the same {go_bytes(size)} of content is added in layers "
                        f"{', '.join(map(str, layers))} ({', '.join(paths[:3])}"
                        f"{', …' if len(paths) > 3 else ''}): {go_bytes(saved)} of copies; {fix}",
                        saved, tuple(layers), paths, fix))
        claimed.update(where)
    return out


def _large_hints(image: Image, flat: FlatImage, claimed: set, regular: list[array]) -> list[Hint]:
    out = []
    for layer in image.layers[1:]:
        entries = layer.entries
        large = _at_least(entries.sizes, regular[layer.index], LARGE_FILE)
        big = [(entries.paths[i], entries.sizes[i]) for i in large
               if (layer.index, entries.paths[i]) not in claimed
               and (ref := flat.refs.get(entries.paths[i])) is not None and ref != IMPLIED
               and flat.layer_of(ref) == layer.index]
        if not big:
            continue
        total = sum(size for _, size in big)
        fix = "if they are only needed to build, use a multi-stage build; else check .dockerignore and what the step downloads"
        listed = ", ".join(f"/{p} ({go_bytes(s)})" for p, s in sorted(big, key=lambda x: -x[1])[:3])
        out.append(Hint("large-file",
                        f"layer {layer.index} adds {len(big)} large file{'s' if len(big) > 1 else ''} the final image keeps: "
                        f"{listed}{', …' if len(big) > 3 else ''}; {fix}",
                        total, (layer.index,), _listed(p for p, _ in big), fix))
    return out
