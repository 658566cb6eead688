"""Image archives: `docker save` (legacy and Docker 25+ OCI-inside), kaniko tarballs,
OCI archives and OCI layout directories.

What is inside is sniffed, whatever the file is called: `manifest.json` means a docker-save
style archive, `index.json` an OCI layout. A tar stream (a file or the daemon's save stream)
is read once, front to back: JSON members are kept, every other blob is read as a layer as
it passes, and the manifest decides at the end which of them make the image.
"""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from dive_py.errors import ArchiveError
from dive_py.model.entries import EMPTY
from dive_py.model.fileinfo import FileInfo, normalise_path
from dive_py.sources.layer_tar import Prefixed, Split, compression_of, read_layer, read_tail
from dive_py.sources import parallel
from dive_py.sources.streams import Readable
from dive_py.sources.tarscan import dense, find_member_start
from dive_py.sources.layercache import LayerCache
from dive_py.sources.verify import (
    Digests,
    EndGuard,
    LayerHashes,
    StrictTarInfo,
    algorithm_for,
    check_blob,
    check_diff_ids,
    named_digest,
    of_bytes,
)

JSON_LIMIT = 64 << 20  # a config or manifest larger than this is not one
# An uncompressed first layer from this size on is read in two parts, side by side (its reader
# needs it before any other, and the others wait): 32 MB takes ~0.1 s to scan, well above what
# sending the second part's entries back costs. A member's start is looked for in the
# SPLIT_WINDOW bytes from the middle (beyond, a large file's data: no split).
SPLIT_MIN = 32 << 20
SPLIT_WINDOW = 1 << 20

LayerData = tuple[tuple[FileInfo, ...], int]
Progress = Callable[[str, int], None]


@dataclass
class ImageParts:
    """What an archive says the image is, before the layers are modelled."""

    config: dict[str, Any]
    layer_paths: list[str]
    layers: list[LayerData]
    tags: list[str]
    errors: dict[int, str] = field(default_factory=dict)  # layer index -> why it is unreadable


class _Blobs:
    """Named members of an archive or layout: JSON documents and parsed layers."""

    where = ""
    lazy = True  # layers are read when asked for (False: all were read in one pass)
    # layers (by _key) whose diff ID the config gives: read_layers checks it
    _by_diff_id: frozenset[str] = frozenset()

    def _key(self, path: str) -> str:
        """The name a blob is kept under here."""
        return path

    def stored_name(self, path: str) -> str:
        """The name the blob at `path` is stored under, which its digest was taken by (in a tar,
        a symlink's target; in a layout, the path as the manifest gives it)."""
        return path

    def check_by_diff_id(self, paths: Iterable[str]) -> None:
        """The diff IDs of the layers at `paths` will be checked (where their names do not
        prove them: sources.verify): zstd's frame checksums need not be."""
        self._by_diff_id = frozenset(map(self._key, paths))

    def _hashes(self, stream: BinaryIO, key: str, name: str) -> LayerHashes:
        """The hashes of the blob kept under `key`, named `name` (its path as the manifest or
        the archive gives it, which check_blob compares its digest with)."""
        return LayerHashes(stream, algorithm_for(name), named=bool(named_digest(name)),
                           claimed=key in self._by_diff_id)

    def json(self, path: str) -> Any:
        raise NotImplementedError

    def raw(self, path: str) -> bytes:
        """A JSON member's exact bytes (an image ID is the sha256 of the config's bytes)."""
        raise NotImplementedError

    def layer(self, path: str, split: Split | None = None) -> LayerData:
        """The layer at `path`; with `split`, read in two parts (see layer_tar.Split) if it is
        still to be read."""
        raise NotImplementedError

    def has(self, path: str) -> bool:
        raise NotImplementedError

    def report_to(self, progress: Progress | None) -> None:
        """Where the reads of layers from now on report the bytes they read."""
        self._progress = progress

    def digests(self, path: str) -> Digests | None:
        """What the blob at `path` really is (known once it has been read)."""
        raise NotImplementedError

    def stored_size(self, path: str) -> int:
        """The blob's size as stored, if known without reading it (else 0)."""
        return 0

    def _pread(self, path: str, at: int, size: int) -> bytes:
        """Bytes of a blob on disk, read where they lie (b"" if that cannot be done)."""
        return b""

    def split_point(self, path: str, dense_share: float = 0.5) -> tuple[int, bool] | None:
        """Where a large uncompressed layer blob on disk could be read in two parts, side by
        side (layer_tar.Split): the first block from its middle on that looks like a header,
        and whether the blob is dense with headers there (tarscan.dense); None for a small or
        compressed blob, or where nothing near the middle looks like a header. A dense blob is
        cut after `dense_share` of its bytes instead of half (see head_share)."""
        size = self.stored_size(path)
        if size < SPLIT_MIN or compression_of(self._pread(path, 0, 4)) != "none":
            return None
        middle = size // 2 // 512 * 512
        window = self._pread(path, middle, SPLIT_WINDOW)
        many_headers = dense(window)
        start = None
        if many_headers and dense_share != 0.5:
            at = int(size * dense_share) // 512 * 512
            start = find_member_start(self._pread(path, at, SPLIT_WINDOW), at)
        if start is None:  # (or nothing that looks like a header there: the middle, as before)
            start = find_member_start(window, middle)
        return None if start is None else (start, many_headers)

    def tail(self, path: str, start: int) -> LayerData:
        """The entries of an uncompressed layer from `start` on (layer_tar.read_tail)."""
        raise NotImplementedError

    def checked_json(self, path: str, descriptor: Any = None) -> Any:
        """A JSON blob, verified against its name and descriptor."""
        doc = self.json(path)
        check_blob(self.where, path, self.digests(path), descriptor)
        return doc

    def checked_layer(self, path: str, descriptor: Any = None) -> LayerData:
        """A layer, verified against its name and descriptor."""
        data = self.layer(path)
        check_blob(self.where, path, self.digests(path), descriptor)
        return data


def _parse_json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArchiveError(f"{where}: not valid JSON ({exc})") from None


class StreamedTar(_Blobs):
    """A tar read once as a stream: JSON members kept, every other regular member read as a layer."""

    MODE = "r|"
    lazy = False

    def __init__(self, stream: BinaryIO, where: str, progress: Progress | None = None):
        self.where = where
        self._json: dict[str, bytes] = {}
        self._layers: dict[str, LayerData | ArchiveError] = {}
        self._digests: dict[str, Digests] = {}
        self._links: dict[str, str] = {}
        self._read(stream, progress)

    def _read(self, stream: BinaryIO, progress: Progress | None) -> None:
        try:
            source = EndGuard(stream) if self.MODE == "r|" else stream  # r: seeks, it never reads on
            with tarfile.open(fileobj=source, mode=self.MODE, errorlevel=2,  # type: ignore[call-overload]
                              tarinfo=StrictTarInfo) as tar:
                for member in tar:
                    tar.members.clear()
                    name = normalise_path(member.name)
                    if member.issym() or member.islnk():
                        target = member.linkname
                        if member.issym():
                            target = os.path.join(os.path.dirname(name), target)
                        self._links[name] = normalise_path(target)
                    elif member.isreg():
                        self._read_member(tar, member, name, progress)
        except ArchiveError:
            raise
        except (tarfile.ReadError, tarfile.StreamError) as exc:  # StreamError: a member ending before it starts
            raise ArchiveError(f"{self.where}: not a valid image archive ({exc})") from None
        except EOFError:
            raise ArchiveError(f"{self.where}: archive is truncated") from None
        except OSError as exc:
            raise ArchiveError(f"{self.where}: cannot read archive ({exc})") from None

    def _read_member(self, tar: tarfile.TarFile, member: tarfile.TarInfo, name: str,
                     progress: Progress | None) -> None:
        fileobj = tar.extractfile(member)
        assert fileobj is not None
        head = fileobj.read(1)
        if (head in (b"{", b"[") or name.endswith(".json")) and member.size <= JSON_LIMIT:
            data = head + fileobj.read()
            if len(data) != member.size:
                raise ArchiveError(f"{self.where}: {name} is truncated")
            self._digests[name] = of_bytes(data, algorithm_for(name))
            try:
                json.loads(data)
                self._json[name] = data
                return
            except (ValueError, UnicodeDecodeError):
                fileobj = io.BytesIO(data)  # type: ignore[assignment]
                head = b""
        if name.endswith(("/VERSION", "/json")) or name in ("repositories", "oci-layout"):
            return
        self._take_layer(member, name, Prefixed(head, fileobj) if head else fileobj, progress)  # type: ignore[arg-type]

    def _take_layer(self, member: tarfile.TarInfo, name: str, stream: BinaryIO,
                    progress: Progress | None) -> None:
        """A blob that is not JSON: read it as a layer now, as it passes."""
        self._layers[name] = self._parse(name, stream, progress)

    def _parse(self, name: str, stream: BinaryIO, progress: Progress | None,
               split: Split | None = None) -> LayerData | ArchiveError:
        hashes = self._hashes(stream, name, name)
        report = (lambda n: progress(name, n)) if progress is not None else None
        try:
            data = read_layer(hashes.blob, f"{self.where}: layer {name}", report, hashes, split)
            self._digests[name] = hashes.result()
            return data
        except ArchiveError as exc:
            return exc  # raised only if the manifest uses this blob

    def _key(self, path: str) -> str:
        return self.stored_name(path)

    def stored_name(self, path: str) -> str:
        try:
            return self._resolve(path)
        except ArchiveError:  # a symlink loop: reported when the layer is read, as that layer's
            return path

    def _resolve(self, path: str) -> str:
        path = normalise_path(path)
        for _ in range(40):
            if path not in self._links:
                return path
            path = self._links[path]
        raise ArchiveError(f"{self.where}: symlink loop at {path}")

    def has(self, path: str) -> bool:
        path = self._resolve(path)
        return path in self._json or path in self._layers

    def digests(self, path: str) -> Digests | None:
        return self._digests.get(self._resolve(path))

    def raw(self, path: str) -> bytes:
        real = self._resolve(path)
        if real not in self._json:
            if real in self._layers:
                raise ArchiveError(f"{self.where}: {path} is not JSON")
            raise ArchiveError(f"{self.where}: {path} is missing from the archive")
        return self._json[real]

    def json(self, path: str) -> Any:
        return _parse_json(self.raw(path), f"{self.where}: {path}")

    def layer(self, path: str, split: Split | None = None) -> LayerData:
        real = self._resolve(path)  # read in one pass already: `split` comes too late
        found = self._layers.get(real)
        if found is None:
            if real in self._json:
                raise ArchiveError(f"{self.where}: layer {path} is JSON, not a layer tar")
            raise ArchiveError(f"{self.where}: layer {path} is missing from the archive")
        if isinstance(found, ArchiveError):
            raise found
        return found


class _Slice(Readable):
    """`size` bytes of a file from `offset`: one member of a tar on disk (seekable, so a
    plain layer tar can be scanned without reading its file data)."""

    def __init__(self, fh: BinaryIO, offset: int, size: int):
        self._fh = fh
        self._start = offset
        self._size = size
        self._at = 0  # position within the slice

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._at

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: self._size}[whence]
        self._at = max(0, base + offset)
        return self._at

    def read(self, size: int | None = -1) -> bytes:
        """The bytes as the system hands them over (a layer reader takes them as they are)."""
        left = self._size - self._at
        if left <= 0:
            return b""
        want = left if size is None or size < 0 else min(size, left)
        # a positional read: no file offset shared with anyone (worker processes read the same file)
        data = os.pread(self._fh.fileno(), want, self._start + self._at)
        self._at += len(data)
        return data


class IndexedTar(StreamedTar):
    """An archive file on disk: the headers are read (seeking past the data), JSON members
    kept, and a layer is read only when asked for, so cached layers are never read at all."""

    MODE = "r:"
    lazy = True

    def __init__(self, fh: BinaryIO, where: str, progress: Progress | None = None):
        self._fh = fh
        self._progress = progress
        self._members: dict[str, tuple[int, int]] = {}
        super().__init__(fh, where, progress)

    def _take_layer(self, member: tarfile.TarInfo, name: str, stream: BinaryIO,
                    progress: Progress | None) -> None:
        self._members[name] = (member.offset_data, member.size)

    def has(self, path: str) -> bool:
        return super().has(path) or self._resolve(path) in self._members

    def stored_size(self, path: str) -> int:
        return self._members.get(self.stored_name(path), (0, 0))[1]

    def _pread(self, path: str, at: int, size: int) -> bytes:
        offset, stored = self._members.get(self.stored_name(path), (0, 0))
        return os.pread(self._fh.fileno(), max(0, min(size, stored - at)), offset + at)

    def tail(self, path: str, start: int) -> LayerData:
        offset, size = self._members[self._resolve(path)]
        return read_tail(_Slice(self._fh, offset + start, size - start), start)  # type: ignore[arg-type]

    def raw(self, path: str) -> bytes:
        if self._resolve(path) in self._members:
            raise ArchiveError(f"{self.where}: {path} is not JSON")
        return super().raw(path)

    def layer(self, path: str, split: Split | None = None) -> LayerData:
        real = self._resolve(path)
        if real not in self._layers and real in self._members:
            offset, size = self._members[real]  # unbuffered: the layer reader passes reads on as they are
            self._layers[real] = self._parse(real, _Slice(self._fh, offset, size), self._progress,  # type: ignore[arg-type]
                                             split)
        return super().layer(path)

    def open_raw(self, path: str) -> BinaryIO:
        """A layer blob's bytes where they lie in the archive (seekable), not parsed."""
        real = self._resolve(path)
        if real not in self._members:
            raise ArchiveError(f"{self.where}: layer {path} is missing from the archive")
        offset, size = self._members[real]
        return io.BufferedReader(_Slice(self._fh, offset, size), 1 << 20)  # type: ignore[return-value]


class LayoutDir(_Blobs):
    """An OCI image layout (or an unpacked docker save) in a directory: blobs read on demand."""

    def __init__(self, root: str, progress: Progress | None = None):
        self.root = root
        self.where = root
        self._progress = progress
        self._digests: dict[str, Digests] = {}

    def _path(self, path: str) -> str:
        clean = normalise_path(path)
        full = os.path.realpath(os.path.join(self.root, clean))
        if not full.startswith(os.path.realpath(self.root) + os.sep):
            raise ArchiveError(f"{self.where}: {path} points outside the layout")
        return full

    def _key(self, path: str) -> str:
        return self._path(path)

    def has(self, path: str) -> bool:
        return os.path.isfile(self._path(path))

    def stored_size(self, path: str) -> int:
        try:
            return os.path.getsize(self._path(path))
        except (OSError, ArchiveError):
            return 0

    def _pread(self, path: str, at: int, size: int) -> bytes:
        try:
            with open(self._path(path), "rb") as fh:
                return os.pread(fh.fileno(), size, at)
        except (OSError, ArchiveError):
            return b""

    def tail(self, path: str, start: int) -> LayerData:
        with open(self._path(path), "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            return read_tail(_Slice(fh, start, size - start), start)  # type: ignore[arg-type]

    def raw(self, path: str) -> bytes:
        full = self._path(path)
        try:
            with open(full, "rb") as fh:
                data = fh.read(JSON_LIMIT + 1)
        except OSError as exc:
            raise ArchiveError(f"{self.where}: cannot read {path} ({exc.strerror})") from None
        self._digests[full] = of_bytes(data, algorithm_for(path))
        return data

    def json(self, path: str) -> Any:
        return _parse_json(self.raw(path), f"{self.where}: {path}")

    def digests(self, path: str) -> Digests | None:
        return self._digests.get(self._path(path))

    def open_raw(self, path: str) -> BinaryIO:
        """A layer blob's file, not parsed."""
        try:
            return open(self._path(path), "rb")
        except OSError as exc:
            raise ArchiveError(f"{self.where}: cannot open layer {path} ({exc.strerror})") from None

    def layer(self, path: str, split: Split | None = None) -> LayerData:
        full = self._path(path)
        report = (lambda n: self._progress(path, n)) if self._progress is not None else None
        try:
            with open(full, "rb") as fh:
                hashes = self._hashes(fh, full, path)
                data = read_layer(hashes.blob, f"{self.where}: layer {path}", report, hashes, split)  # type: ignore[arg-type]
                self._digests[full] = hashes.result()
                return data
        except OSError as exc:
            raise ArchiveError(f"{self.where}: cannot read layer {path} ({exc.strerror})") from None


# ---------------------------------------------------------------------------------------------
# From blobs to image parts


def _expect(value: Any, kind: type, where: str, what: str) -> Any:
    if not isinstance(value, kind):
        raise ArchiveError(f"{where}: {what} has the wrong shape (expected {kind.__name__})")
    return value


def host_platform() -> tuple[str, str]:
    machine = os.uname().machine.lower()  # what platform.machine() reads, without its import
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(machine, machine)
    return "linux", arch


def _blob_path(descriptor: Any, where: str) -> str:
    descriptor = _expect(descriptor, dict, where, "descriptor")
    digest = descriptor.get("digest")
    if not isinstance(digest, str) or ":" not in digest:
        raise ArchiveError(f"{where}: descriptor without a valid digest")
    alg, _, hexpart = digest.partition(":")
    return f"blobs/{alg}/{hexpart}"


def _pick_manifest(blobs: _Blobs, index: Any, where: str, platform: str | None) -> dict[str, Any]:
    """Walk index -> (nested index ->) manifest, choosing the platform asked or this machine's."""
    want_os, want_arch = host_platform()
    want_variant = None
    if platform:
        parts = platform.split("/")
        want_os, want_arch = parts[0], parts[1] if len(parts) > 1 else want_arch
        want_variant = parts[2] if len(parts) > 2 else None
    for _depth in range(8):
        manifests = _expect(index.get("manifests"), list, where, "index manifests")
        if not manifests:
            raise ArchiveError(f"{where}: index lists no manifests")
        candidates = []
        for desc in manifests:
            desc = _expect(desc, dict, where, "index entry")
            plat = desc.get("platform")
            annotations = desc.get("annotations") or {}
            if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
                continue
            if isinstance(plat, dict) and plat.get("os") == "unknown":
                continue
            candidates.append(desc)
        chosen = None
        with_platform = [d for d in candidates if isinstance(d.get("platform"), dict)]
        if with_platform and (platform or len(with_platform) > 1):
            for desc in with_platform:
                plat = desc["platform"]
                if plat.get("os") == want_os and plat.get("architecture") == want_arch and (
                        want_variant is None or plat.get("variant") == want_variant):
                    chosen = desc
                    break
            if chosen is None:
                available = ", ".join(sorted({
                    "/".join(x for x in (d["platform"].get("os"), d["platform"].get("architecture"),
                                         d["platform"].get("variant")) if x)
                    for d in with_platform}))
                raise ArchiveError(f"{where}: no image for platform {want_os}/{want_arch}"
                                   f"{'/' + want_variant if want_variant else ''} (available: {available})")
        else:
            chosen = (candidates or manifests)[0]
        doc = blobs.checked_json(_blob_path(chosen, where), chosen)
        doc = _expect(doc, dict, where, "manifest")
        if "manifests" in doc:
            index = doc
            continue
        return doc
    raise ArchiveError(f"{where}: indexes nested too deep")


@dataclass
class ImagePlan:
    """What the manifest and config say, before any layer is read."""

    config: dict[str, Any]
    config_path: str
    layer_paths: list[str]
    tags: list[str]
    layer_descs: list[Any] = field(default_factory=list)  # OCI descriptors, to verify blobs
    stored_names: list[str] = field(default_factory=list)  # of the layers (_Blobs.stored_name)

    def stored_name(self, index: int) -> str:
        return self.stored_names[index] if self.stored_names else self.layer_paths[index]

    def diff_ids(self) -> list:
        """The config's rootfs.diff_ids as listed (entries unchecked: see check_diff_ids)."""
        rootfs = self.config.get("rootfs")
        listed = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        return listed if isinstance(listed, list) else []

    def claims(self) -> list[str]:
        """Each layer's diff ID as the config gives it, where it can be held to it (as
        check_diff_ids does): "" for an entry that is not a string, and for every layer when the
        config lists another number of them (which belongs to which is then unknown)."""
        diff_ids = self.diff_ids()
        if len(diff_ids) != len(self.layer_paths):
            return [""] * len(self.layer_paths)
        return [claim if isinstance(claim, str) else "" for claim in diff_ids]

    def layer_keys(self) -> list[str]:
        """Each layer's layer_key: what it is cached under, and its Layer.content_digest."""
        return [layer_key(self.stored_name(i), claim) for i, claim in enumerate(self.claims())]


def image_parts(blobs: _Blobs, where: str, platform: str | None = None,
                keep_broken: bool = False) -> ImageParts:
    """Read the manifest (docker form first, then OCI index) and the layers it lists.

    Every blob used is verified (name, descriptor, diff ID). A broken layer raises, unless
    `keep_broken`: then it is kept as an empty layer and its error is in `errors`.
    """
    plan = image_plan(blobs, where, platform)
    layers, errors = read_layers(blobs, plan, where, keep_broken)
    return ImageParts(plan.config, plan.layer_paths, layers, plan.tags, errors)


def image_plan(blobs: _Blobs, where: str, platform: str | None = None) -> ImagePlan:
    """Read the manifest (docker form first, then OCI index) and the config it names."""
    tags: list[str] = []
    config_desc: Any = None
    layer_descs: list[Any] = []
    if blobs.has("manifest.json"):
        manifest = _expect(blobs.json("manifest.json"), list, where, "manifest.json")
        if not manifest:
            raise ArchiveError(f"{where}: manifest.json lists no image")
        entry = _expect(manifest[0], dict, where, "manifest.json entry")
        config_path = entry.get("Config")
        layer_paths = entry.get("Layers")
        if not isinstance(config_path, str) or not isinstance(layer_paths, list) or not all(
                isinstance(p, str) for p in layer_paths):
            raise ArchiveError(f"{where}: manifest.json has the wrong shape (needs Config and Layers)")
        tags = [t for t in entry.get("RepoTags") or [] if isinstance(t, str)]
    elif blobs.has("index.json"):
        index = _expect(blobs.json("index.json"), dict, where, "index.json")
        manifest_doc = _pick_manifest(blobs, index, where, platform)
        config_desc = manifest_doc.get("config")
        config_path = _blob_path(config_desc, where)
        layer_descs = _expect(manifest_doc.get("layers"), list, where, "manifest layers")
        layer_paths = [_blob_path(d, where) for d in layer_descs]
        for desc in index.get("manifests") or []:
            name = ((desc or {}).get("annotations") or {}).get("io.containerd.image.name")
            if name:
                tags.append(name)
    else:
        raise ArchiveError(f"{where}: not an image archive (no manifest.json or index.json)")
    config = _expect(blobs.checked_json(config_path, config_desc), dict, where, "image config")
    return ImagePlan(config, config_path, list(layer_paths), tags, list(layer_descs),
                     [blobs.stored_name(path) for path in layer_paths])


def layer_key(path: str, claim: str) -> str:
    """What a layer is cached under: the digest its bytes are checked by (sources.verify), its
    blob's name where that is a digest, else the diff ID the config claims for it (ImagePlan.
    claims). Either proves its content: a cached layer is served only for that content."""
    return named_digest(path) or claim


def read_layers(blobs: _Blobs, plan: ImagePlan, where: str, keep_broken: bool = False,
                cache: LayerCache | None = None, on_layer: Callable[[int, LayerData], None] | None = None
                ) -> tuple[list[LayerData], dict[int, str]]:
    """The plan's layers, verified (name, descriptor, diff ID), and which could not be read.

    With a `cache`, a layer cached under its key (layer_key) is not read at all; a layer read
    is cached under that key once its bytes were checked against it. Layers of an archive on
    disk are read side by side, here and by worker processes, where that is safe
    (sources.parallel). `on_layer(index, layer)` is told of each layer as it is ready, in order.
    """
    diff_ids = plan.diff_ids()
    count = len(plan.layer_paths)
    claims, keys = plan.claims(), plan.layer_keys()
    use_cache = cache is not None and blobs.lazy
    to_read = [path for path, key in zip(plan.layer_paths, keys)
               if not (use_cache and key and cache.has_layer(key))]  # type: ignore[union-attr]
    blobs.check_by_diff_id(path for path, claim in zip(plan.layer_paths, claims)
                           if claim.startswith("sha256:"))  # as check_diff_ids will
    layers: list[LayerData] = []
    errors: dict[int, str] = {}
    with _LayerReader(blobs, to_read) as reader:
        for index, path in enumerate(plan.layer_paths):
            data = cache.get_layer(keys[index]) if use_cache and keys[index] else None  # type: ignore[union-attr]
            stored = plan.stored_name(index)
            if data is None:
                try:
                    data, found = reader.get(path)
                    check_blob(blobs.where, path, found, plan.layer_descs[index] if plan.layer_descs else None)
                    if stored != path:  # through a symlink: its target's name too
                        check_blob(blobs.where, stored, found)
                    check_diff_ids(where, index, path, found, diff_ids, count)
                except ArchiveError as exc:
                    if not keep_broken:
                        raise
                    data = (EMPTY, 0)
                    errors[index] = str(exc)
                else:
                    checked = _checked_key(stored, found)
                    if cache is not None and checked and (blobs.lazy or not cache.has_layer(checked)):
                        cache.put_layer(checked, data)
            layers.append(data)
            if on_layer is not None:
                on_layer(index, data)
    return layers, errors


def _checked_key(stored: str, found: Digests | None) -> str:
    """The key a layer just read and checked is cached under: the digest the name it is stored
    under gives, which check_blob compared with its bytes, or the diff ID computed from them
    ("" if neither)."""
    if found is None:
        return ""
    named = named_digest(stored)
    return named if named and found.digest == named else found.diff_id


# Stacking a layer dense with headers takes about 0.45 of the time reading it takes (the 300,000-
# file benchmark image's first layer: 0.22 s against 0.5 s of reading, both halves).
STACK_PER_READ = 0.45
HEAD_SHARE_MOST = 0.65


def head_share(first: int, following: int) -> float:
    """How much of a first layer dense with headers divepy reads itself, when one worker reads
    the rest (its tail) and then the largest other layer (`following` bytes; the first is
    `first`). divepy stacks the first layer while the worker reads that one, and needs it next:
    the worker's tail is made shorter by about what stacking takes, so that both are ready
    together (on the benchmark image: 0.61, 5% less wall time than halves over 12 alternating
    runs). Half where what follows is small: then only the first layer counts."""
    if first <= 0:
        return 0.5
    return min(HEAD_SHARE_MOST, 0.5 + max(0.0, following / first - STACK_PER_READ) / 2)


class _LayerReader:
    """Layers with their digests, read here or by worker processes where sources.parallel
    allows them (else all here, one by one). A large uncompressed first layer is read in two
    parts, the second by a worker (layer_tar.Split)."""

    def __init__(self, blobs: _Blobs, paths: list[str]):
        self._blobs = blobs
        self._paths = list(dict.fromkeys(paths))
        self._index = {path: i for i, path in enumerate(self._paths)}
        self._tail_at = None
        jobs = parallel.workers(len(self._paths) + 1) if blobs.lazy and self._paths else 0
        sizes = [blobs.stored_size(p) for p in self._paths] if jobs else []
        # with one worker (two processes) the tail's reader also reads the next layer divepy
        # needs; with more, another worker starts on that one at once, and halves are right
        share = head_share(sizes[0], max(sizes[1:], default=0)) if jobs == 2 else 0.5
        if jobs and (split := blobs.split_point(self._paths[0], share)) is not None:
            self._tail_at, many_headers = split
            if many_headers:  # both parts will decode headers with numpy: import it once, before the fork
                from dive_py.sources import tarheaders  # noqa: F401
        elif jobs:
            jobs = parallel.workers(len(self._paths))
        self._workers = parallel.Workers(blobs, self._paths, sizes, jobs - 1, self._tail_at) if jobs else None
        self._split = (Split(self._tail_at, self._tail, self._tail_unused)
                       if self._workers is not None and self._tail_at is not None else None)

    def get(self, path: str) -> tuple[LayerData, Digests | None]:
        """The layer at `path` and its digests; ArchiveError if it cannot be read."""
        workers = self._workers
        if workers is not None and path in self._index:
            index = self._index[path]
            # until it is here or ours to read: read ahead what nobody has taken, else wait
            while index not in workers.done and not workers.claim(index):
                workers.wait(index, block=False)
                if index in workers.done:
                    break
                ahead = workers.claim_next(index, most=workers.left(index))
                if ahead is None:
                    workers.wait(index, block=True)
                else:
                    workers.done[ahead] = self._read(ahead)
            if index not in workers.done:
                workers.done[index] = self._read(index)
            data, found = workers.done[index]
            if isinstance(data, BaseException):
                raise data
            return data, found  # type: ignore[return-value]
        return self._blobs.layer(path), self._blobs.digests(path)

    def _read(self, index: int) -> parallel.Result:
        path = self._paths[index]
        try:
            return self._blobs.layer(path, self._split if index == 0 else None), self._blobs.digests(path)
        except ArchiveError as exc:
            return exc, None

    def _tail(self) -> LayerData:
        """The first layer's tail, as a worker read it (or read here, if none took it)."""
        workers, start = self._workers, self._tail_at
        assert workers is not None and workers.tail_task is not None and start is not None
        task = workers.tail_task
        while task not in workers.done and not workers.claim(task):
            workers.wait(task, block=True)
        if task not in workers.done:
            return self._blobs.tail(self._paths[0], start)
        data, _ = workers.done.pop(task)
        if isinstance(data, BaseException):
            raise data
        return data  # type: ignore[return-value]

    def _tail_unused(self) -> None:
        """The first layer was read to its end here: nobody need start on its tail."""
        if self._workers is not None and self._workers.tail_task is not None:
            self._workers.claim(self._workers.tail_task)

    def __enter__(self) -> _LayerReader:
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the workers (still running if a layer failed before the others were taken)."""
        if self._workers is not None:
            self._workers.close()
            self._workers = None


def read_tar_stream(stream: BinaryIO, where: str, platform: str | None = None,
                    progress: Progress | None = None, keep_broken: bool = False) -> ImageParts:
    return image_parts(StreamedTar(stream, where, progress), where, platform, keep_broken)


@contextmanager
def open_blobs(path: str, progress: Progress | None = None) -> Iterator[_Blobs]:
    """The members of an archive file or a layout directory on disk, open while in use.
    A file is indexed, not read: its layers are read when asked for."""
    if os.path.isdir(path):
        yield LayoutDir(path, progress)
        return
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot open ({exc.strerror})") from None
    with fh:
        st = os.fstat(fh.fileno())
        if stat.S_ISREG(st.st_mode) and st.st_size == 0:
            raise ArchiveError(f"{path}: file is empty, not an image archive")
        if fh.seekable():
            yield IndexedTar(fh, path, progress)
        else:  # a pipe or a device: one pass, front to back
            yield StreamedTar(io.BufferedReader(fh, 1 << 20), path, progress)


def read_path(path: str, platform: str | None = None, progress: Progress | None = None,
              keep_broken: bool = False) -> ImageParts:
    """An archive file or a layout directory on disk."""
    with open_blobs(path, progress) as blobs:
        return image_parts(blobs, path, platform, keep_broken)
