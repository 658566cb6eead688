"""File contents: open layers of an already-read image again and hand over chosen members.

divepy keeps only a digest per file, so reading a file means reading its layer again:
- an archive file is indexed (tar headers only) and the layer blob read from its offset;
- an OCI layout directory opens the blob file;
- an engine only offers `docker save`: the save stream is read again and the blob picked
  from it as it passes (correct, and as slow as loading the image was).

`scan_layers(source, image, wanted, visit)` calls `visit(layer, path, member, fileobj)` for
each member of layer `layer` whose cleaned path is in `wanted[layer]`, in tar order (a path
written twice in one layer is visited twice; the last one is what the image holds).
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any, BinaryIO

from dive_py.errors import ArchiveError, SourceError
from dive_py.model.fileinfo import normalise_path
from dive_py.model.image import Image
from dive_py.sources import archive
from dive_py.sources.assemble import _blob_id
from dive_py.sources.layer_tar import CHUNK, codec_errors, compression_of, decompressed
from dive_py.sources.verify import HashingReader

FILE_KINDS = ("docker-archive", "oci-archive", "oci")
Visit = Callable[[int, str, tarfile.TarInfo, BinaryIO | None], None]
Wanted = Mapping[int, Collection[str]]


def scan_layers(source, image: Image, wanted: Wanted, visit: Visit) -> None:
    """Read the layers named in `wanted` again and visit the members asked for."""
    wanted = {i: set(paths) for i, paths in wanted.items() if paths}
    for index in wanted:
        if not 0 <= index < len(image.layers):
            raise SourceError(f"{source.describe()}: no layer {index}")
    if not wanted:
        return
    if source.kind in ("docker", "podman"):
        _scan_engine(source, image, wanted, visit)
        return
    if source.kind == "registry":
        for index in sorted(wanted):
            _scan_registry(source, image, index, wanted[index], visit)
        return
    if source.kind.endswith(" container"):
        _scan_container(source, image, wanted, visit)
        return
    if source.kind not in FILE_KINDS:
        raise SourceError(f"{source.describe()}: reading file contents is not supported for {source.kind} sources")
    with _blob_opener(source, image) as open_blob:
        for index in sorted(wanted):
            where = f"{source.describe()}: layer {index}"
            with open_blob(index) as blob:
                _scan_blob(blob, where, index, wanted[index], visit)


def _scan_blob(blob: BinaryIO, where: str, index: int, paths: Collection[str], visit: Visit) -> None:
    """One layer blob (any compression): visit the members whose path is in `paths`."""
    try:
        if _seekable(blob):  # plain tar in a file: let tarfile seek over the data
            head = blob.read(4)
            blob.seek(0)
            if compression_of(head) == "none":
                with tarfile.open(fileobj=blob, mode="r:", errorlevel=2) as tar:
                    _visit_members(tar, index, paths, visit)
                return
        plain, _kind = decompressed(blob)
        with tarfile.open(fileobj=plain, mode="r|", errorlevel=2) as tar:
            _visit_members(tar, index, paths, visit)
    except (tarfile.TarError, *codec_errors()) as exc:
        raise ArchiveError(f"{where}: cannot read the layer again ({exc or 'truncated'})") from None


def _visit_members(tar: tarfile.TarFile, index: int, paths: Collection[str], visit: Visit) -> None:
    for member in tar:
        tar.members.clear()  # visited in order: no need to keep every header
        path = normalise_path(member.name)
        if path in paths:
            visit(index, path, member, tar.extractfile(member) if member.isreg() else None)


def _seekable(stream: Any) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, ValueError, OSError):
        return False


# ------------------------------------------------------------------ archives and layouts

@contextmanager
def _blob_opener(source, image: Image) -> Iterator[Callable[[int], Any]]:
    """A function layer index -> open layer blob, for archive files and layout directories:
    the manifest is read again (no layer is), and must still name the blobs first read."""
    with archive.open_blobs(source.ref) as blobs:
        if not hasattr(blobs, "open_raw"):
            raise SourceError(f"{source.describe()}: a pipe can't be read twice; save the archive to a file")
        plan = archive.image_plan(blobs, blobs.where, source.platform)
        if [_blob_id(p) for p in plan.layer_paths] != [layer.blob_id for layer in image.layers]:
            raise SourceError(f"{source.describe()}: the image changed since it was read")
        yield lambda index: blobs.open_raw(plan.layer_paths[index])


# ------------------------------------------------------------------ engines

class BlobCache:
    """Layer blobs of engine images kept in anonymous temporary files (deleted when closed or
    at exit), up to `limit` bytes: the explorer turns it on, so that only the first file it
    reads from an engine image streams `docker save` again."""

    def __init__(self, limit: int):
        import threading

        self.limit = limit
        self.used = 0
        self.files: dict[tuple[str, str, str], BinaryIO] = {}
        self.lock = threading.Lock()  # one engine read at a time: cached files share a position

    def room(self, size: int) -> bool:
        return self.used + size <= self.limit

    def put(self, key: tuple[str, str, str], member: BinaryIO, size: int) -> BinaryIO:
        import tempfile

        fh = tempfile.TemporaryFile()
        try:
            copy_stream(member, fh)
        except BaseException:
            fh.close()
            raise
        self.files[key] = fh  # type: ignore[assignment]
        self.used += size
        return fh  # type: ignore[return-value]


_cache: BlobCache | None = None


def keep_engine_blobs(limit: int = 2 << 30) -> BlobCache:
    """Turn on (once per process) the cache of engine layer blobs."""
    global _cache
    if _cache is None:
        _cache = BlobCache(limit)
    return _cache


def _scan_engine(source, image: Image, wanted: dict[int, set[str]], visit: Visit) -> None:
    cache = _cache
    if cache is None:
        _scan_engine_stream(source, image, wanted, visit, None)
        return
    with cache.lock:
        _scan_engine_stream(source, image, wanted, visit, cache)


class _SaveStream(archive.StreamedTar):
    """A `docker save` stream read once, each regular member handed to `take(tar, member,
    blob id)` instead of being parsed; symlinks between members are collected in `links`."""

    def __init__(self, stream: BinaryIO, where: str, take: Callable[[tarfile.TarFile, tarfile.TarInfo, str], None]):
        self._take = take
        super().__init__(stream, where)

    @property
    def links(self) -> dict[str, str]:
        return self._links

    def _read_member(self, tar, member, name, progress) -> None:
        try:
            self._take(tar, member, _blob_id(name))
        except OSError as exc:  # the visitor's (a closed pipe ...): not the archive's fault
            raise _Passed(exc) from None


class _Passed(Exception):
    def __init__(self, exc: OSError):
        super().__init__(str(exc))
        self.exc = exc


def _scan_engine_stream(source, image: Image, wanted: dict[int, set[str]], visit: Visit,
                        cache: BlobCache | None) -> None:
    """Stream `docker save` again and scan the wanted blobs as they pass (or from the cache)."""
    from docker.errors import APIError

    from dive_py.sources import daemon

    where = f"{source.kind}:{source.ref}"
    image_key = image.image_id or source.ref

    def scan_cached(fh: BinaryIO, index: int) -> None:
        fh.seek(0)
        _scan_blob(fh, f"{where}: layer {index}", index, wanted[index], visit)

    pending: dict[str, list[int]] = {}
    for index in sorted(wanted):
        blob = image.layers[index].blob_id
        cached = cache.files.get((source.kind, image_key, blob)) if cache is not None else None
        if cached is not None:
            scan_cached(cached, index)
        else:
            pending.setdefault(blob, []).append(index)
    if not pending:
        return
    layer_blobs = {layer.blob_id for layer in image.layers}
    client = daemon.connect(source.kind)
    engine_image = daemon.get_image(client, image.image_id or source.ref, source.kind)
    links: dict[str, str] = {}

    def one_pass() -> None:
        try:
            chunks = engine_image.save(chunk_size=daemon.SAVE_CHUNK, named=False)
            stream = io.BufferedReader(daemon.ChunkStream(iter(chunks), where), daemon.SAVE_CHUNK)
            links.update(_SaveStream(stream, where, _take).links)
        except _Passed as passed:
            raise passed.exc from None
        except APIError as exc:
            raise SourceError(f"{where}: engine refused to export the image ({exc.explanation or exc})") from None
        except ArchiveError as exc:
            raise SourceError(f"{where}: the engine's export is unreadable ({exc})") from None

    def _take(tar: tarfile.TarFile, member: tarfile.TarInfo, blob: str) -> None:
        fileobj = tar.extractfile(member)
        assert fileobj is not None
        key = (source.kind, image_key, blob)
        if (cache is not None and blob in layer_blobs and key not in cache.files
                and cache.room(member.size)):
            cached = cache.put(key, fileobj, member.size)
            for index in pending.pop(blob, []):
                scan_cached(cached, index)
            return
        indexes = pending.get(blob)
        if indexes:
            index = indexes.pop(0)  # one blob used by two layers: the next pass reads it again
            if not indexes:
                del pending[blob]
            _scan_blob(fileobj, f"{where}: layer {index}", index, wanted[index], visit)

    for _ in range(len(wanted) + 1):
        if not pending:
            return
        one_pass()
        # a blob saved as a link to another one: look for the target's name next time
        for name, target in list(links.items()):
            blob = _blob_id(name)
            if blob in pending:
                pending.setdefault(_blob_id(target), []).extend(pending.pop(blob))
    if pending:
        raise SourceError(f"{where}: layer blob {sorted(pending)[0]} is missing from the engine's export")


# ------------------------------------------------------------------ containers

def _scan_container(source, image: Image, wanted: dict[int, set[str]], visit: Visit) -> None:
    """The image's layers from the engine; the writable layer on top through archive reads of
    the container (what it holds now: a running container may have changed it since)."""
    from dive_py.sources import daemon
    from dive_py.sources.container import _container
    from dive_py.sources.resolve import Source

    top = len(image.layers) - 1
    below = {i: paths for i, paths in wanted.items() if i != top}
    if below:
        _scan_engine(Source(source.engine, image.image_id), image, below, visit)
    if top not in wanted:
        return
    where = source.describe()
    container = _container(daemon.connect(source.engine), source.ref, source.engine)
    for path in sorted(wanted[top]):
        try:
            chunks, _stat = container.get_archive("/" + path)
            stream = io.BufferedReader(daemon.ChunkStream(iter(chunks), where), CHUNK)
            with tarfile.open(fileobj=stream, mode="r|", errorlevel=2) as tar:
                member = tar.next()  # the path itself, named by its last component
                if member is not None:
                    visit(top, path, member, tar.extractfile(member) if member.isreg() else None)
        except tarfile.TarError as exc:
            raise SourceError(f"{where}: /{path}: unreadable archive ({exc})") from None
        except Exception as exc:
            from docker.errors import APIError, NotFound

            if isinstance(exc, NotFound):
                continue  # gone since the change list was read: reported as missing
            if isinstance(exc, APIError):
                raise SourceError(f"{where}: engine refused to read /{path} ({exc.explanation or exc})") from None
            raise


# ------------------------------------------------------------------ registries

def _scan_registry(source, image: Image, index: int, paths: Collection[str], visit: Visit) -> None:
    """Fetch the layer blob again and scan it as it arrives; its digest is checked at the end."""
    from dive_py.sources import registry

    client = registry.RegistryClient(registry.parse_reference(source.ref), getattr(source, "insecure", False))
    digest = f"sha256:{image.layers[index].blob_id}"
    where = f"{client.where}: layer {index}"
    response = client.get(f"blobs/{digest}", stream=True)
    with response:
        hashing = HashingReader(response.raw)
        stream = io.BufferedReader(hashing, CHUNK)
        try:
            _scan_blob(stream, where, index, paths, visit)  # type: ignore[arg-type]
            while stream.read(CHUNK):  # the rest counts for the digest
                pass
        except OSError as exc:
            raise SourceError(f"{where}: transfer failed ({exc})") from None
    registry.check_digest(digest, hashing.hash.hexdigest(), where)


# ------------------------------------------------------------------ reading one file

def copy_stream(src: BinaryIO, dst: BinaryIO) -> int:
    total = 0
    while chunk := src.read(CHUNK):
        dst.write(chunk)
        total += len(chunk)
    return total


SPOOL_IN_MEMORY = 8 << 20  # bigger files go to an anonymous temporary file, not to memory


def copy_file(source, image: Image, trees, layer: int, path: str, out: BinaryIO) -> str:
    """Copy the bytes of the regular file at `path` as of `layer` (symlinks and hard links
    followed inside the image) to `out`, streaming. Returns the real path."""
    from dive_py.model.lookup import content_origin, find_node

    real, node = find_node(trees, layer, path)
    origin_layer, origin_path = content_origin(trees, real, node)
    # A path written twice in one layer: the last entry is the file; visit counts up to it.
    last = image.layers[origin_layer].entries.paths.count(origin_path)
    seen = 0

    def copy(_index: int, _path: str, _member: tarfile.TarInfo, fileobj: BinaryIO | None) -> None:
        nonlocal seen
        seen += 1
        if seen == last and fileobj is not None:
            copy_stream(fileobj, out)

    scan_layers(source, image, {origin_layer: {origin_path}}, copy)
    if seen < last:
        raise ArchiveError(f"{source.describe()}: /{origin_path} is missing from layer {origin_layer}")
    return real


def open_file(source, image: Image, trees, layer: int, path: str) -> tuple[str, BinaryIO]:
    """The regular file at `path` as of `layer` (links followed inside the image) as a
    seekable file at 0: read where it lies when its layer is an uncompressed blob in an archive
    file or layout, else copied into a spool (memory up to SPOOL_IN_MEMORY, then an anonymous
    temporary file). Returns (real path, file); the caller closes it."""
    import tempfile

    from dive_py.model.lookup import content_origin, find_node

    real, node = find_node(trees, layer, path)
    origin_layer, origin_path = content_origin(trees, real, node)
    if source.kind in FILE_KINDS:
        in_place = _open_in_place(source, image, origin_layer, origin_path)
        if in_place is not None:
            return real, in_place  # type: ignore[return-value]
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    try:
        copy_file(source, image, trees, layer, path, spool)  # type: ignore[arg-type]
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return real, spool  # type: ignore[return-value]


class _InPlace:
    """A member of an uncompressed layer read where it lies; closing it closes the archive."""

    def __init__(self, fh: BinaryIO, stack: ExitStack):
        self._fh = fh
        self._stack = stack

    def read(self, n: int = -1) -> bytes:
        return self._fh.read(n)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> _InPlace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_in_place(source, image: Image, layer: int, path: str) -> _InPlace | None:
    """The file inside its layer blob, when that blob is a plain tar in a seekable file."""
    stack = ExitStack()
    try:
        open_blob = stack.enter_context(_blob_opener(source, image))
        blob = stack.enter_context(open_blob(layer))
        head = blob.read(4) if _seekable(blob) else b""
        if not head or compression_of(head) != "none":
            stack.close()
            return None
        blob.seek(0)
        tar = stack.enter_context(tarfile.open(fileobj=blob, mode="r:", errorlevel=2))
        member = None
        for candidate in tar:  # headers only: the data is sought over
            tar.members.clear()
            if normalise_path(candidate.name) == path:
                member = candidate  # the last entry of a path is the file
        fh = tar.extractfile(member) if member is not None and member.isreg() else None
        if fh is None:
            stack.close()
            return None
        stack.callback(fh.close)
        return _InPlace(fh, stack)  # type: ignore[arg-type]
    except (tarfile.TarError, EOFError) as exc:
        stack.close()
        raise ArchiveError(f"{source.describe()}: cannot read layer {layer} again ({exc or 'truncated'})") from None
    except BaseException:
        stack.close()
        raise
