"""A cache of parsed layers, keyed by content digest, and of image configs, keyed by image ID.

A layer is stored under the digest its bytes were checked against (sources.archive.layer_key):
its diff ID, the sha256 of its uncompressed tar, or for a compressed blob named by its digest
that digest. Either way divepy computed it itself while reading the bytes, so an entry can never
stand for another layer (a config that lies about its diff IDs cannot poison the cache). A
config is stored under its own sha256, which is the image ID for Docker and podman; it is
checked again on every read.

Layout: $XDG_CACHE_HOME/divepy/v1/layers/<hex>, .../configs/<hex> and .../paths/<hex> (the
layer paths of an engine's export of that image, so the layer IDs shown stay the same) and
.../summaries/<hex> (an analysis's report figures, see dive_py.analysis.summary). A layer entry is
a header (magic, format version, Python's marshal version, xxh64 of the payload) and a
zstd-compressed marshal of the entry columns (Entries.columns: paths, types, the arrays of
sizes, modes, uids and gids as bytes, links, digests as bytes). Columns compress well (paths
share prefixes) and load in one call. marshal is not made for untrusted bytes; the checksum rejects torn or edited files, and the cache directory
is the user's own. Anything that does not check out is ignored, deleted and rebuilt.

The cache is bounded ($DIVEPY_CACHE_SIZE bytes, default 1 GiB): after each write the least
recently used entries (by mtime, refreshed on every hit) go first.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import struct

import xxhash

from dive_py.model.entries import Entries

# of an entry; 2: entry numbers as arrays (Entries.columns); 3: file digests in XXH3 (older
# entries are rebuilt)
FORMAT = 3
LAYOUT = "v1"  # of the directories
MAGIC = b"DIVEPYL\0"
_HEADER = struct.Struct("<8sHHQ")  # magic, format, marshal version, xxh64 of the payload
DEFAULT_LIMIT = 1 << 30
KINDS = ("layers", "configs", "paths", "summaries")
_HEX = frozenset("0123456789abcdef")

LayerData = tuple[Entries, int]


def default_root() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "divepy")


def _limit() -> int:
    try:
        return int(os.environ.get("DIVEPY_CACHE_SIZE", DEFAULT_LIMIT))
    except ValueError:
        return DEFAULT_LIMIT


def _hex_of(digest: str) -> str | None:
    """'sha256:<64 hex>' -> '<64 hex>'; anything else has no cache entry."""
    alg, _, hexpart = digest.partition(":")
    if alg != "sha256" or len(hexpart) != 64 or not set(hexpart) <= _HEX:
        return None
    return hexpart


def frame(value: object) -> bytes:
    """A cache entry: the header, then `value` marshalled and zstd-compressed."""
    import zstandard  # imported when the cache is used (not by --no-cache)

    payload = zstandard.ZstdCompressor(level=3).compress(marshal.dumps(value))
    return _HEADER.pack(MAGIC, FORMAT, marshal.version, xxhash.xxh64_intdigest(payload)) + payload


def unframe(blob: bytes) -> object:
    """The value an entry holds; ValueError when it is not a sound entry of this format."""
    if len(blob) < _HEADER.size:
        raise ValueError("short entry")
    magic, fmt, marshal_version, checksum = _HEADER.unpack_from(blob)
    payload = memoryview(blob)[_HEADER.size:]
    if magic != MAGIC or fmt != FORMAT or marshal_version != marshal.version:
        raise ValueError("another format")
    if xxhash.xxh64_intdigest(payload) != checksum:
        raise ValueError("checksum")
    import zstandard

    try:
        return marshal.loads(zstandard.ZstdDecompressor().decompress(payload))
    except (TypeError, EOFError, zstandard.ZstdError) as exc:
        raise ValueError(str(exc)) from None


def columns(data: LayerData) -> tuple:
    """A layer as plain values: its size, then its entries' columns (Entries.columns)."""
    entries, size = data
    return (size, *Entries.of(entries).columns())


def from_columns(value: object) -> LayerData:
    """The layer `columns` made; ValueError or TypeError if `value` is not such columns."""
    size, *cols = value  # type: ignore[misc]
    if not isinstance(size, int):
        raise ValueError("not layer columns")
    return Entries.from_columns(cols), size


def encode(data: LayerData) -> bytes:
    return frame(columns(data))


def decode(blob: bytes) -> LayerData | None:
    """The layer an entry holds, or None when it is not a sound entry of this format."""
    try:
        return from_columns(unframe(blob))
    except (ValueError, TypeError):
        return None


class LayerCache:
    """Parsed layers and image configs on disk. Every failure to read or write is a miss."""

    def __init__(self, root: str | None = None, limit: int | None = None):
        self.root = os.path.join(root or default_root(), LAYOUT)
        self.limit = _limit() if limit is None else limit
        self.hits = 0
        self.misses = 0

    def _path(self, kind: str, digest: str) -> str | None:
        hexpart = _hex_of(digest)
        return os.path.join(self.root, kind, hexpart) if hexpart else None

    def _read(self, path: str) -> bytes | None:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
            os.utime(path)  # least recently *used*: a hit counts as a use
            return data
        except OSError:
            return None

    def _drop(self, path: str) -> None:
        try:
            os.unlink(path)
        except OSError:
            pass

    def _write(self, kind: str, digest: str, data: bytes) -> None:
        import tempfile  # here, not at the top: with shutil under it, 4.5 ms of every start

        path = self._path(kind, digest)
        if path is None:
            return
        directory = os.path.dirname(path)
        try:
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                self._drop(tmp)
                raise
        except OSError:
            return  # a read-only or full disk only costs speed
        self.evict()

    def get_layer(self, diff_id: str) -> LayerData | None:
        path = self._path("layers", diff_id)
        blob = self._read(path) if path else None
        found = decode(blob) if blob is not None else None
        if found is None:
            self.misses += 1
            if blob is not None and path:
                self._drop(path)  # corrupt or another format: rebuilt on this read
            return None
        self.hits += 1
        return found

    def put_layer(self, diff_id: str, data: LayerData) -> None:
        self._write("layers", diff_id, encode(data))

    def has_layer(self, diff_id: str) -> bool:
        path = self._path("layers", diff_id)
        return bool(path) and os.path.isfile(path)  # type: ignore[arg-type]

    def get_config(self, image_id: str) -> bytes | None:
        path = self._path("configs", image_id)
        data = self._read(path) if path else None
        if data is None:
            return None
        if "sha256:" + hashlib.sha256(data).hexdigest() != image_id:
            self._drop(path)  # type: ignore[arg-type]
            return None
        return data

    def put_config(self, data: bytes) -> str:
        image_id = "sha256:" + hashlib.sha256(data).hexdigest()
        self._write("configs", image_id, data)
        return image_id

    def get_paths(self, image_id: str, count: int) -> list[str] | None:
        """The layer paths an engine's export used for this image (their names show as layer
        IDs), so an image answered from the cache reads exactly like an exported one."""
        path = self._path("paths", image_id)
        data = self._read(path) if path else None
        try:
            paths = json.loads(data) if data is not None else None
        except ValueError:
            paths = None
        if not (isinstance(paths, list) and len(paths) == count and all(isinstance(p, str) for p in paths)):
            return None
        return paths

    def put_paths(self, image_id: str, paths: list[str]) -> None:
        self._write("paths", image_id, json.dumps(paths).encode())

    def get_summary(self, key: str) -> object | None:
        """What `put_summary` stored under this key (a sha256 the caller computed), or None."""
        path = self._path("summaries", key)
        blob = self._read(path) if path else None
        if blob is None:
            return None
        try:
            return unframe(blob)
        except ValueError:
            self._drop(path)  # type: ignore[arg-type]
            return None

    def put_summary(self, key: str, value: object) -> None:
        self._write("summaries", key, frame(value))

    def evict(self) -> None:
        """Delete least recently used entries until the cache fits its limit."""
        files = []
        for kind in KINDS:
            directory = os.path.join(self.root, kind)
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            for name in names:
                path = os.path.join(directory, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                files.append((st.st_mtime_ns, st.st_size, path))
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.limit:
                break
            self._drop(path)
            total -= size
