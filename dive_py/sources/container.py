"""A container as an image with one more layer: its writable (copy-on-write) layer on top.

Read-only, through the engine API (Docker, or podman's Docker-compatible API), running or
stopped: the container's change list (`GET /containers/{id}/changes`) says what was added,
changed and deleted; archive reads (`GET /containers/{id}/archive`) give the added and changed
paths' headers and contents. Deleted paths become OCI whiteouts, so the extra layer stacks on
the image like any other layer.
"""

from __future__ import annotations

import posixpath
import tarfile
from dataclasses import dataclass, replace
from typing import Any

from dive_py.errors import ArchiveError, SourceError, printable
from dive_py.model.fileinfo import DIR, HARDLINK, REG, WHITEOUT_PREFIX, FileInfo, normalise_path
from dive_py.model.image import HistoryStep, Image, Layer
from dive_py.sources import daemon
from dive_py.sources.archive import Progress
from dive_py.sources.layer_tar import read_layer
from dive_py.sources.tarscan import EMPTY_HASH

CHANGED, ADDED, DELETED = 0, 1, 2  # the engine's change kinds


@dataclass(frozen=True)
class ContainerSource:
    """Has what the explorer, CI and JSON front ends use of a Source."""

    ref: str
    engine: str = "docker"
    cache = False  # its writable layer changes under the same name: nothing to remember

    @property
    def kind(self) -> str:
        return f"{self.engine} container"

    def describe(self) -> str:
        return f"{self.engine} container {self.ref}"

    def load(self, progress: Progress | None = None, keep_broken: bool = False,
             on_outline=None, on_layer=None) -> Image:
        """The listeners of Source.load are accepted and not called: the layers of a container
        come together with its changes."""
        return load(self.ref, self.engine, progress, keep_broken)

    def outline(self) -> None:
        """No outline without reading: see Source.outline."""
        return None


def _container(client: Any, ref: str, engine: str) -> Any:
    return daemon.get_object(client.containers, "container", ref, engine)


class _Reader:
    """Archive reads of one container's paths."""

    def __init__(self, client: Any, container: Any, where: str, progress: Progress | None):
        self.api = client.api
        self.container = container
        self.where = where
        self.progress = progress

    def _open(self, path: str) -> Any:
        url = self.api._url("/containers/{0}/archive", self.container.id)
        try:
            response = self.api._get(url, params={"path": path}, stream=True)
        except Exception as exc:  # connection errors from requests/urllib3
            raise SourceError(f"{self.where}: cannot read {path} ({daemon._short_reason(exc)})") from None
        if response.status_code == 404:
            response.close()
            return None  # gone since the change list was read (a running container)
        if response.status_code >= 400:
            text = response.text.strip()[:200]
            response.close()
            raise SourceError(f"{self.where}: engine refused to read {path} (HTTP {response.status_code}: {text})")
        response.raw.decode_content = True
        return response

    def subtree(self, path: str) -> list[FileInfo]:
        """Every entry at and below `path`, with the paths they have in the container."""
        response = self._open(path)
        if response is None:
            return []
        with response:
            report = (lambda n: self.progress(path, n)) if self.progress is not None else None
            entries, _ = read_layer(response.raw, f"{self.where}: {path}", report)
        return [_rebase(entry, posixpath.dirname(path)) for entry in entries]

    def header(self, path: str) -> list[FileInfo]:
        """Only the entry of `path` itself (a changed directory: its children are listed apart)."""
        response = self._open(path)
        if response is None:
            return []
        with response:
            try:
                with tarfile.open(fileobj=response.raw, mode="r|", errorlevel=2) as tar:
                    member = tar.next()
            except (tarfile.TarError, EOFError, OSError) as exc:
                raise ArchiveError(f"{self.where}: {path}: unreadable archive ({exc})") from None
        if member is None:
            return []
        info = FileInfo(normalise_path(member.name), DIR if member.isdir() else member.type.decode("latin-1"),
                        member.size, member.mode, member.uid, member.gid, member.linkname,
                        0 if member.isdir() else EMPTY_HASH)
        return [_rebase(info, posixpath.dirname(path))]


def _rebase(entry: FileInfo, parent: str) -> FileInfo:
    """An archive names `/a/b/c` as `c`: put the parent path back (in hardlink targets too)."""
    prefix = normalise_path(parent)
    if not prefix:
        return entry
    link = f"{prefix}/{entry.link}" if entry.type == HARDLINK and entry.link else entry.link
    return replace(entry, path=f"{prefix}/{entry.path}", link=link)


def _covered(path: str, roots: set[str]) -> bool:
    parent = posixpath.dirname(path)
    while parent not in ("/", ""):
        if parent in roots:
            return True
        parent = posixpath.dirname(parent)
    return False


def writable_layer(reader: _Reader, changes: list[dict[str, Any]]) -> list[FileInfo]:
    """The container's changes as layer entries: headers and contents, whiteouts for deletions."""
    kinds: dict[str, int] = {}
    for change in changes:
        path = change.get("Path")
        if isinstance(path, str) and path.startswith("/") and path != "/":
            kinds[posixpath.normpath(path)] = change.get("Kind", CHANGED)
    added = {p for p, k in kinds.items() if k == ADDED}
    deleted = {p for p, k in kinds.items() if k == DELETED}
    entries: list[FileInfo] = []
    for path in sorted(kinds):
        kind = kinds[path]
        if kind == DELETED:
            if not _covered(path, deleted):
                parent, name = posixpath.split(path)
                whiteout = normalise_path(f"{parent}/{WHITEOUT_PREFIX}{name}")
                entries.append(FileInfo(whiteout, REG, 0, 0o644, 0, 0, "", EMPTY_HASH))
        elif kind == ADDED:
            if not _covered(path, added):
                entries.extend(reader.subtree(path))
        else:
            found = reader.header(path)
            if found and not found[0].is_dir:
                found = reader.subtree(path)
            entries.extend(found)
    return entries


def load(ref: str, engine: str = "docker", progress: Progress | None = None,
         keep_broken: bool = False) -> Image:
    from docker.errors import APIError

    client = daemon.connect(engine)
    container = _container(client, ref, engine)
    where = f"{engine} container {ref}"
    image = daemon.load(container.attrs.get("Image") or container.image.id, engine, progress,
                        keep_broken=keep_broken)
    try:
        changes = container.diff() or []
    except APIError as exc:
        raise SourceError(f"{where}: engine refused the change list ({exc.explanation or exc})") from None
    entries = writable_layer(_Reader(client, container, where, progress), changes)
    name = printable(container.name)
    step = HistoryStep(created_by=f"container {name}: writable layer ({len(changes)} changes)",
                       comment=f"container {container.id[:12]}, {container.status}")
    layer = Layer(index=len(image.layers), digest="", blob_id=container.id[:12], history=step,
                  entries=tuple(entries), size=sum(e.size for e in entries))
    tags = image.tags or (image.name,)
    return replace(image, name=f"{name} ({tags[0]})", source=f"{engine} container",
                   layers=image.layers + (layer,), history=image.history + (step,))
