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
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from dive_py.analysis.analyze import Analysis
from dive_py.ci.goformat import go_bytes
from dive_py.model.fileinfo import REG
from dive_py.model.filetree import Node

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


def cache_of(path: str) -> tuple[str, str, str] | None:
    """(manager, cache directory, fix) if `path` lies in a package manager's cache."""
    m = _CACHE_RE.match(path)
    if m is None:
        return None
    name, _, fix = CACHES[int(m.lastgroup[1:])]  # type: ignore[index]
    return name, m.group(0), fix


def _files(n: int) -> str:
    return f"{n:,} file{'' if n == 1 else 's'}"


def _listed(paths) -> tuple[str, ...]:
    return tuple(sorted("/" + p for p in paths)[:MAX_PATHS])


def _subtree(node: Node, path: str) -> Iterator[tuple[str, Node]]:
    stack = [(path, node)]
    while stack:
        p, n = stack.pop()
        yield p, n
        if n.children:
            stack.extend((f"{p}/{name}" if p else name, c) for name, c in n.children.items())


def _changes(lower: Node, upper: Node, path: str = "") -> Iterator[tuple[str, Node, Node | None]]:
    """(path, lower node, upper node or None) for every non-directory of `lower` that `upper`
    removed or rewrote; identical subtrees are skipped, so the cost follows the changes.
    Depth first in child order, with an explicit stack: paths thousands of levels deep are fine."""
    if lower.children is None or lower is upper:
        return
    stack = [(iter(lower.children.items()), upper.children or {}, path)]
    while stack:
        step = next(stack[-1][0], None)
        if step is None:
            stack.pop()
            continue
        _, upper_children, base = stack[-1]
        name, child = step
        child_path = f"{base}/{name}" if base else name
        other = upper_children.get(name)
        if other is child:
            continue
        if other is None or (child.is_dir and not other.is_dir):
            for p, n in _subtree(child, child_path):
                if not n.is_dir:
                    yield p, n, None
        elif child.is_dir and other.is_dir:
            if child.children is not None:
                stack.append((iter(child.children.items()), other.children or {}, child_path))
        elif not child.is_dir and not other.is_dir:
            yield child_path, child, other


def hints(analysis: Analysis) -> list[Hint]:
    out: list[Hint] = []
    claimed: set[tuple[int, str]] = set()  # (layer, path) already explained by a hint
    out += _cache_hints(analysis, claimed)
    out += _change_hints(analysis, claimed)
    out += _duplicate_hints(analysis, claimed)
    out += _large_hints(analysis, claimed)
    out.sort(key=lambda h: (-h.bytes_saved, h.kind, h.layers))
    return out


def _cache_hints(analysis: Analysis, claimed: set) -> list[Hint]:
    out = []
    for layer in analysis.image.layers[1:]:
        found: dict[str, tuple[int, set[str], str]] = {}
        for entry in layer.entries:
            cache = cache_of(entry.path)
            if cache is None or entry.type != REG:
                continue
            name, root, fix = cache
            total, roots, _ = found.get(name, (0, set(), fix))
            roots.add(root)
            found[name] = (total + entry.size, roots, fix)
            claimed.add((layer.index, entry.path))
        for name, (total, roots, fix) in found.items():
            if total == 0:
                continue
            out.append(Hint("package-cache",
                            f"layer {layer.index} writes the {name} cache ({', '.join(_listed(roots))}): "
                            f"{go_bytes(total)}; {fix}",
                            total, (layer.index,), _listed(roots), fix))
    return out


def _change_hints(analysis: Analysis, claimed: set) -> list[Hint]:
    """deleted-later and attributes-only, from comparing each tree with the one below."""
    deleted: dict[tuple[int, int], tuple[int, list[str]]] = {}
    chmods: dict[tuple[int, int], tuple[int, list[str]]] = {}
    trees = analysis.trees
    for j in range(1, len(trees)):
        for path, lower, upper in _changes(trees[j - 1], trees[j]):
            origin = lower.layer
            if origin < 1 or (origin, path) in claimed or lower.size == 0:
                continue
            a = lower.info
            if upper is None:
                total, paths = deleted.get((origin, j), (0, []))
                paths.append(path)
                deleted[(origin, j)] = (total + lower.size, paths)
                claimed.add((origin, path))
                continue
            b = upper.info
            if (upper.layer == j and a is not None and b is not None and a.type == b.type == REG
                    and a.digest == b.digest and a.size == b.size
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


def _duplicate_hints(analysis: Analysis, claimed: set) -> list[Hint]:
    layers = analysis.image.layers
    base = {(e.digest, e.size) for e in layers[0].entries if e.type == REG and e.size > 0} if layers else set()
    # Most content is added once: count the digests first, then look closer only at the repeated
    counts = Counter(e.digest for layer in layers[1:] for e in layer.entries if e.type == REG and e.size > 0)
    base_digests = {digest for digest, _ in base}
    repeated = {digest for digest, n in counts.items() if n > 1 or digest in base_digests}
    by_content: dict[tuple[int, int], list[tuple[int, str]]] = {}
    for layer in layers[1:]:
        for entry in layer.entries:
            if entry.digest in repeated and entry.type == REG and entry.size > 0 \
                    and (layer.index, entry.path) not in claimed:
                by_content.setdefault((entry.digest, entry.size), []).append((layer.index, entry.path))
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


def _large_hints(analysis: Analysis, claimed: set) -> list[Hint]:
    final = analysis.trees[-1] if analysis.trees else None
    out = []
    for layer in analysis.image.layers[1:]:
        big = [(e.path, e.size) for e in layer.entries
               if e.type == REG and e.size >= LARGE_FILE and (layer.index, e.path) not in claimed
               and final is not None and (n := final.get(e.path)) is not None and n.layer == layer.index]
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
