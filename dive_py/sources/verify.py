"""Digest checks: a blob must be what its name, its descriptor and the image config say it is.

Bytes are hashed as they stream past (sha256 runs at ~1.5 GB/s here), so verifying never costs
a second read. Three checks, each where the format promises it:
- a blob stored as `blobs/<alg>/<hex>` (OCI layouts, Docker 25+ saves) hashes to its name;
- a descriptor's `digest` and `size` (OCI index and manifests) match the blob it points at;
- a layer's uncompressed tar hashes to its diff ID (the config's `rootfs.diff_ids`).

Each layer's bytes are proven by one sha256, of the bytes as stored wherever that can be:
- A blob named by its digest is checked by that name, hashed as it is read. An uncompressed
  one is its own diff ID: the one hash is checked against both.
- A compressed one's uncompressed tar is not hashed a second time. Its name proves every byte
  the decompressor turns into that tar, and the manifest that names it is itself checked by
  digest up to the index. The diff ID the config gives it is then the config's word, as a
  registry client (skopeo, or registry:// here) takes it. Hashing the tar as well cost the
  1 GB zstd benchmark image 0.2 s of CPU (perf: sha256 0.72 s against 0.50 s) and 13% of its
  wall time (1.37 against 1.19 s, medians of 20 alternating runs).
- A blob with no digest in its name (a legacy `docker save`'s `<id>/layer.tar`) is checked by
  the diff ID of its uncompressed tar.
"""

from __future__ import annotations

import hashlib
import queue
import re
import tarfile
import threading
from dataclasses import dataclass
from typing import Any, BinaryIO

from dive_py.errors import ArchiveError
from dive_py.sources.streams import PassThrough, read_some, start_thread

ALGORITHMS = ("sha256", "sha512")
_NAMED = re.compile(r"(?:^|/)blobs/(sha256|sha512)/([0-9a-f]+)$")
CHUNK = 1 << 20
_CHECKSUM_FLAG = 0x04  # a zstd frame descriptor's Content_Checksum_flag


class BackgroundHash:
    """A hashlib hash that hashes in its own thread: `update` hands the bytes over and returns,
    so hashing a layer overlaps with decompressing and scanning it (hashlib releases the GIL).

    The bytes given must not change afterwards (bytes objects, as streams return them). Reading
    the digest waits for the thread, which then ends; `close` ends it without a digest.
    """

    DEPTH = 3  # chunks waiting to be hashed (then the reader waits): a few MB at most
    INLINE = 64 << 10  # bytes before the thread starts that are hashed at once (a sniff's four)

    def __init__(self, algorithm: str = "sha256"):
        self._hash = hashlib.new(algorithm)
        self.name = self._hash.name
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None

    def update(self, data: bytes) -> None:
        if self._queue is None and len(data) <= self.INLINE:
            self._hash.update(data)  # nothing is queued yet: the order stays
            return
        if self._queue is None:
            self._queue = queue.Queue(self.DEPTH)
            self._thread = start_thread(self._run, self._queue, name=f"divepy-{self.name}")
        self._queue.put(data)

    def _run(self, chunks: queue.Queue) -> None:
        update = self._hash.update
        while (data := chunks.get()) is not None:
            update(data)

    def close(self) -> None:
        """Hash what was handed over, then end the thread."""
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        self._queue = self._thread = None

    def in_foreground(self) -> Any:
        """The hash, with everything handed over so far hashed, to be updated directly from now
        on (the thread ends)."""
        self.close()
        return self._hash

    def hexdigest(self) -> str:
        self.close()
        return self._hash.hexdigest()


class HashingReader(PassThrough):
    """Reads through to `raw`, feeding every byte to a hash and counting them.

    With `background`, the hash runs in a thread (BackgroundHash): call `close` when done, or
    read the digest, so the thread ends.
    """

    def __init__(self, raw: BinaryIO, algorithm: str = "sha256", background: bool = False):
        super().__init__(raw)
        self.hash: Any = BackgroundHash(algorithm) if background else hashlib.new(algorithm)
        self.size = 0

    def seen(self, data: bytes) -> None:
        if data:
            if self.hash is not None:
                self.hash.update(data)
            self.size += len(data)

    def only_count(self) -> None:
        """From here on count the bytes, without hashing them (the digest will be "")."""
        if isinstance(self.hash, BackgroundHash):
            self.hash.close()
        self.hash = None

    def hash_here(self) -> None:
        """From here on hash in the thread that reads: for a reader that runs in a thread of its
        own already (a decompressor's), where handing each chunk to yet another thread costs
        more than it saves."""
        if isinstance(self.hash, BackgroundHash):
            self.hash = self.hash.in_foreground()

    def drain(self) -> None:
        """Read (and hash) whatever the consumer left unread."""
        drain(self)  # type: ignore[arg-type]

    def digest(self) -> str:
        return "" if self.hash is None else f"{self.hash.name}:{self.hash.hexdigest()}"

    def close(self) -> None:
        if isinstance(self.hash, BackgroundHash):
            self.hash.close()
        super().close()


def drain(stream: BinaryIO) -> None:
    """Read a stream to its end, so a decompressor checks its trailer (gzip CRC, zstd frames)."""
    while stream.read(CHUNK):
        pass


@dataclass(frozen=True)
class Digests:
    """What a blob really is: its digest and size as stored, and for a layer its diff ID."""

    digest: str
    size: int
    diff_id: str = ""


def of_bytes(data: bytes, algorithm: str = "sha256") -> Digests:
    return Digests(f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}", len(data))


class LayerHashes:
    """A layer blob's digests, computed while read_layer streams it (see the module's docstring
    for which).

    Wrap the blob with `blob`, let read_layer tell the compression it found (`sniffed`) and
    wrap its decompressed stream with `plain`, then `result()` once read_layer has returned (it
    reads both streams to their end). An uncompressed blob is hashed in a thread of its own
    while read_layer scans it; a compressed one in the thread that decompresses it. read_layer
    ends the hash's thread (`close`) when it returns or fails.

    `named`: the blob's name is its digest (checked by the caller). `claimed`: the config gives
    its diff ID (checked by the caller). A named compressed blob gets no diff ID here ("").
    """

    def __init__(self, stream: BinaryIO, algorithm: str = "sha256", named: bool = False,
                 claimed: bool = False):
        self._blob = HashingReader(stream, algorithm, background=True)
        self.blob: BinaryIO = self._blob  # type: ignore[assignment]
        self._plain: HashingReader | None = None
        self._same = False
        self._named = named
        self._claimed = claimed

    @property
    def output_checked(self) -> bool:
        """Whether a sha256 the caller checks proves the decompressed bytes (the blob's name, or
        the diff ID): then zstd's own frame checksums add nothing."""
        return self._named or self._claimed

    def sniffed(self, kind: str) -> None:
        """The blob's compression is known. Call this before any other thread reads the blob."""
        if kind == "none":
            return
        if self._named:
            self._blob.hash_here()  # read_layer decompresses it in a thread already
        else:
            self._blob.only_count()  # its tar is hashed instead, for the diff ID

    def plain(self, stream: BinaryIO, kind: str) -> BinaryIO:
        if kind == "none" and self._blob.hash.name == "sha256":
            self._same = True  # an uncompressed blob is its own diff ID
            return stream
        if self._named:
            return stream  # checked by its name alone
        self._plain = HashingReader(stream)
        return self._plain  # type: ignore[return-value]

    def result(self) -> Digests:
        drain(self.blob)
        blob = self._blob.digest()
        diff_id = blob if self._same else (self._plain.digest() if self._plain else "")
        return Digests(blob, self._blob.size, diff_id)

    def close(self) -> None:
        """End the blob's hash thread, once what was read is hashed (the digest stays readable)."""
        if isinstance(self._blob.hash, BackgroundHash):
            self._blob.hash.close()


def named_digest(path: str) -> str:
    """The digest a blob's name gives (`blobs/<alg>/<hex>`), else ""."""
    named = _NAMED.search(path)
    return f"{named.group(1)}:{named.group(2)}" if named else ""


def _alg_of(digest: str) -> str:
    return digest.partition(":")[0]


def algorithm_for(path: str) -> str:
    """The hash to compute for a blob: the one its name uses, else sha256."""
    return _alg_of(named_digest(path)) or "sha256"


def _same_alg(found: Digests, algorithm: str) -> str:
    """The blob's digest if it was hashed with `algorithm` (else it cannot be compared)."""
    return found.digest if algorithm == _alg_of(found.digest) else ""


def check_blob(where: str, path: str, found: Digests | None, descriptor: Any = None) -> None:
    """Raise ArchiveError if the blob does not match its name or its descriptor."""
    if found is None:
        return
    expected = named_digest(path)
    if expected:
        actual = _same_alg(found, _alg_of(expected))
        if actual and actual != expected:
            raise ArchiveError(f"{where}: blob {path} does not match its name (its content is {actual})")
    if isinstance(descriptor, dict):
        size = descriptor.get("size")
        if isinstance(size, int) and not isinstance(size, bool) and size != found.size:
            raise ArchiveError(f"{where}: blob {path} is {found.size} bytes, its descriptor says {size}")
        digest = descriptor.get("digest")
        if isinstance(digest, str) and _alg_of(digest) in ALGORITHMS:
            actual = _same_alg(found, _alg_of(digest))
            if actual and actual != digest:
                raise ArchiveError(f"{where}: blob {path} does not match its descriptor's digest "
                                   f"{digest} (its content is {actual})")


def check_diff_ids(where: str, index: int, path: str, found: Digests | None, diff_ids: list,
                   layer_count: int) -> None:
    """Layer `index`'s uncompressed tar must hash to the config's diff ID for that position."""
    if len(diff_ids) != layer_count or found is None or not found.diff_id:
        return  # a count mismatch is reported as a warning when the image is assembled
    expected = diff_ids[index]
    if not isinstance(expected, str) or _alg_of(expected) != "sha256":
        return
    if found.diff_id != expected:
        raise ArchiveError(f"{where}: layer {index} ({path}) does not match the config's diff ID "
                           f"{expected} (its uncompressed tar is {found.diff_id})")

class CorruptTarHeader(tarfile.ReadError):
    """A header that is neither valid nor a proper end of archive."""


class StrictTarInfo(tarfile.TarInfo):
    """Tar headers checked as Go's archive/tar checks them.

    Python's tarfile silently ends an archive at a corrupt or cut header (or a zero block
    followed by data) anywhere after the first member: a layer would lose its tail without a
    word. Pass `tarinfo=StrictTarInfo` to tarfile.open to make each of these an error.
    """

    @classmethod
    def fromtarfile(cls, tarfile_):  # type: ignore[override]
        try:
            return super().fromtarfile(tarfile_)
        except tarfile.EOFHeaderError:
            after = tarfile_.fileobj.read(tarfile.BLOCKSIZE)
            if after and (len(after) < tarfile.BLOCKSIZE or after.count(0) != len(after)):
                raise CorruptTarHeader(f"data after a zero block at offset {tarfile_.offset}") from None
            raise
        except tarfile.TruncatedHeaderError:
            raise CorruptTarHeader(f"truncated header at offset {tarfile_.offset}") from None
        except tarfile.InvalidHeaderError as exc:
            raise CorruptTarHeader(f"{exc} in the header at offset {tarfile_.offset}") from None


class ZstdFrames(PassThrough):
    """Passes a zstd stream through while following its frame structure (RFC 8878).

    python-zstandard's stream reader ends quietly when its input stops in the middle of a
    frame; this wrapper raises instead. It only reads frame and block headers, so it costs a
    few Python steps per 128 KiB block. Errors are EOFError, as for a cut gzip stream.

    With `unchecked`, the frames' own checksums are taken out of the stream before the
    decompressor sees them (the flag in each frame's descriptor cleared, the 4 bytes after its
    last block dropped), so it does not compute them: for a caller that checks a sha256 of the
    whole output (a diff ID), which no wrong byte passes either. zstd's checksum is an XXH64
    of the output, 4% of the CPU of reading the 1 GB zstd benchmark image.
    """

    def __init__(self, raw: BinaryIO, unchecked: bool = False):
        super().__init__(raw)
        self._need = 4  # bytes wanted for the current header
        self._header = b""
        self._state = "magic"
        self._skip = 0  # payload bytes to pass over
        self._checksum = False
        self._unchecked = unchecked
        self._edits: list[tuple[int, int]] = []  # in the current chunk: (where, 1 cleared / 0 dropped)
        self.offset = 0

    def read(self, size: int | None = -1) -> bytes:
        return self._passed(lambda: self._raw.read(-1 if size is None else size))

    def read1(self, size: int = -1) -> bytes:
        return self._passed(lambda: read_some(self._raw, size))

    def _passed(self, read) -> bytes:
        """The next bytes read, followed and edited (never b"" before the end: a chunk that was
        all checksum is followed by the next)."""
        while True:
            data = read()
            self.seen(data)
            if not self._edits:
                return data
            edited = bytearray(data)
            for where, cleared in reversed(self._edits):
                if cleared:
                    edited[where] &= ~_CHECKSUM_FLAG
                else:
                    del edited[where]
            self._edits.clear()
            if edited:
                return bytes(edited)

    def seen(self, data: bytes) -> None:
        if data:
            self._feed(memoryview(data))
        elif self._state != "magic" or self._header or self._skip:
            raise EOFError(f"the stream ends inside a frame, at byte {self.offset}")

    def _feed(self, view: memoryview) -> None:
        at, end = 0, len(view)
        while at < end:
            if self._skip:
                step = min(self._skip, end - at)
                self._skip -= step
                self.offset += step
                at += step
                continue
            take = min(self._need - len(self._header), end - at)
            if self._unchecked and self._state == "checksum":
                self._edits.extend((where, 0) for where in range(at, at + take))
            elif self._unchecked and self._state == "descriptor" and view[at] & _CHECKSUM_FLAG:
                self._edits.append((at, 1))
            self._header += bytes(view[at:at + take])
            self.offset += take
            at += take
            if len(self._header) == self._need:
                header, self._header = self._header, b""
                self._header_done(header)

    def _header_done(self, header: bytes) -> None:
        state = self._state
        if state == "magic":
            magic = int.from_bytes(header, "little")
            if magic == 0xFD2FB528:
                self._state, self._need = "descriptor", 1
            elif magic & 0xFFFFFFF0 == 0x184D2A50:
                self._state, self._need = "skippable", 4
            else:
                raise EOFError(f"no zstd frame at byte {self.offset - 4}")
        elif state == "skippable":
            self._skip = int.from_bytes(header, "little")
            self._state, self._need = "magic", 4
        elif state == "descriptor":
            flags = header[0]
            single = bool(flags & 0x20)
            fcs = (1 if single else 0, 2, 4, 8)[flags >> 6]
            self._checksum = bool(flags & _CHECKSUM_FLAG)
            rest = (0 if single else 1) + (0, 1, 2, 4)[flags & 0x03] + fcs
            self._state, self._need = "block", 3
            if rest:
                self._state, self._need = "frame-header", rest
        elif state == "frame-header":
            self._state, self._need = "block", 3
        elif state == "block":
            value = int.from_bytes(header, "little")
            kind, size = (value >> 1) & 0x03, value >> 3
            if kind == 3:
                raise EOFError(f"a reserved block type at byte {self.offset - 3}")
            self._skip = 1 if kind == 1 else size
            if value & 1:  # the last block of the frame
                self._state, self._need = ("checksum", 4) if self._checksum else ("magic", 4)
        elif state == "checksum":
            self._state, self._need = "magic", 4


class EndGuard:
    """Hands a stream to tarfile and stops it from reading on after the end.

    tarfile skips a member's data by reading block after block, and in stream mode it keeps
    going after the data has ended: a header claiming 2**56 bytes made a 1 KB archive spin
    for ever. A second read at the end is an error here.
    """

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        if self._ended:
            raise tarfile.ReadError("unexpected end of data")
        data = self._raw.read(size)
        if not data and size != 0:
            self._ended = True
        return data
