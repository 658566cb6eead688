"""One layer stream (plain tar, gzip or zstd, sniffed by magic bytes) -> its entries (Entries).

The stream is read once, front to back (sources.tarscan); file contents go through XXH3
(tarscan.file_digest) and are dropped. A compressed layer is decompressed in a helper thread,
a few chunks ahead of the scan (streams.ReadAhead), which hashes its compressed bytes as it
reads them where they prove the layer (verify.LayerHashes); an uncompressed blob is hashed in a
thread of its own (verify.BackgroundHash). The scan takes the chunks as they come
(`read1`), in the decompressor's or the system's own bytes objects: file data is hashed where it
lies, without a copy. Memory grows with the number of entries, never with bytes.
"""

from __future__ import annotations

import io
import tarfile
import sys
import zlib
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress
from typing import BinaryIO

from dive_py.errors import ArchiveError
from dive_py.gcpause import collector_paused
from dive_py.model.entries import EMPTY, Entries
from dive_py.model.fileinfo import normalise_paths
from dive_py.sources.tarscan import StopAt, scan
from dive_py.sources.streams import CHUNK as AHEAD_CHUNK
from dive_py.sources.streams import PassThrough, ReadAhead, read_exactly, read_some
from dive_py.sources.verify import LayerHashes, ZstdFrames, drain

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK = 1 << 20
# zstd is read and handed on a megabyte at a time (gzip in streams.CHUNK): it decompresses faster
# than the scan takes its output, and each chunk is a handoff between the threads (and a GIL
# round trip for the input). On the zstd benchmark image: 4,100 context switches instead of
# 7,500, 0.04 s less CPU, 3 MB more memory (10 alternating runs).
ZSTD_CHUNK = 1 << 20


def codec_errors() -> tuple[type[BaseException], ...]:
    """What a decompressor raises on bad data: zlib's and EOFError, and the errors of ISA-L and
    zstandard once imported (each is imported only when a layer of its kind is met: 0.4-0.5 MB
    of memory apiece that most images never use)."""
    found: list[type[BaseException]] = [EOFError, zlib.error]
    if (isal_zlib := sys.modules.get("isal.isal_zlib")) is not None:
        found.append(isal_zlib.error)
    if (zstandard := sys.modules.get("zstandard")) is not None:
        found.append(zstandard.ZstdError)
    return tuple(found)


class Prefixed(PassThrough):
    """A stream with some already-read bytes put back in front."""

    def __init__(self, prefix: bytes, rest: BinaryIO):
        super().__init__(rest)
        self._prefix = prefix

    def read(self, size: int | None = -1) -> bytes:
        if self._prefix:
            if size is None or size < 0:
                data, self._prefix = self._prefix + self._raw.read(), b""
                return data
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return self._raw.read(-1 if size is None else size)

    def read1(self, size: int = -1) -> bytes:
        return self.read(size) if self._prefix else read_some(self._raw, size)


class _Counting(PassThrough):
    """Counts the compressed bytes read, for progress reports."""

    def __init__(self, raw: BinaryIO, progress: Callable[[int], None]):
        super().__init__(raw)
        self._progress = progress

    def seen(self, data: bytes) -> None:
        if data:
            self._progress(len(data))


def compression_of(head: bytes) -> str:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def decompressed(stream: BinaryIO, buffered: bool = True, unchecked: bool = False) -> tuple[BinaryIO, str]:
    """Wrap a blob stream so it reads as an uncompressed tar, whatever its compression.

    An uncompressed tar comes back buffered (read(n) gives n bytes), or with `buffered=False`
    as the blob stream itself (after the four bytes read to sniff it), for a reader that takes
    short reads and wants the stream's own bytes objects; a decompressor may return fewer bytes
    than asked before the end, as raw streams do (tarfile and ReadAhead read on). The blob
    stream's own reads are passed through unbuffered: each bytes object it returns goes to the
    decompressor as it is. With `unchecked`, zstd frames' own checksums are not computed (for a
    caller that checks a digest of the output: verify.ZstdFrames).
    """
    head = read_exactly(stream, 4)
    kind = compression_of(head)
    raw = Prefixed(head, stream)
    if kind == "gzip":  # ISA-L's reader: about twice zlib's speed on layer blobs
        from isal import igzip

        return igzip.IGzipFile(fileobj=raw, mode="rb"), kind  # type: ignore[return-value]
    if kind == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(ZstdFrames(raw, unchecked), read_size=ZSTD_CHUNK,  # type: ignore[arg-type]
                                                          read_across_frames=True), kind  # type: ignore[return-value]
    return (io.BufferedReader(raw, CHUNK) if buffered else raw), kind  # type: ignore[return-value]


@dataclass(frozen=True)
class Split:
    """An uncompressed layer read in two parts, side by side: read_layer scans it up to
    `offset`, where a member starts, and someone else from there on (read_tail); `tail()`
    gives what they read, or raises what their scan raised. Where no member starts at
    `offset` (a guess from the bytes there, which the scan up to it confirms or refutes),
    read_layer scans on to the end itself and calls `unused()` instead."""

    offset: int
    tail: Callable[[], tuple[Entries, int]]
    unused: Callable[[], None]


def read_layer(stream: BinaryIO, where: str, progress: Callable[[int], None] | None = None,
               hashes: LayerHashes | None = None, split: Split | None = None) -> tuple[Entries, int]:
    """Read every entry of one layer blob. Returns the entries (tar order) and dive's size.

    `where` names the layer in error messages. Any corruption raises ArchiveError: a broken
    layer is never reported as an empty one. The blob is read to its very end (so gzip and
    zstd check their trailers); `hashes`, if given, hashes what proves it (verify.LayerHashes).
    With `split` (an uncompressed blob), the entries from its offset on are someone else's
    to read, and the bytes from there are only hashed here.
    """
    if progress is not None:
        stream = _Counting(stream, progress)  # type: ignore[assignment]
    entries = EMPTY
    size = 0
    kind = "layer"
    ahead = None
    try:
        plain, kind = decompressed(stream, buffered=False,
                                   unchecked=hashes is not None and hashes.output_checked)
        if hashes is not None:
            hashes.sniffed(kind)
        if kind != "none":  # decompress in a thread, while this one hashes and scans
            plain = ahead = ReadAhead(plain, ZSTD_CHUNK if kind == "zstd" else AHEAD_CHUNK)  # type: ignore[assignment]
        if hashes is not None:
            plain = hashes.plain(plain, kind)
        stop = StopAt(split.offset) if split is not None and kind == "none" else None
        with collector_paused():  # hundreds of thousands of acyclic objects: see dive_py.gcpause
            entries, size = _read_entries(plain, stop=stop)
        drain(plain)
        if stop is not None and stop.reached:
            rest, rest_size = split.tail()  # type: ignore[union-attr]
            entries, size = entries.joined(rest), size + rest_size
        elif split is not None:
            split.unused()
    except ArchiveError:
        raise
    except tarfile.ReadError as exc:
        if str(exc) == "empty file" and not entries and kind == "none":
            raise ArchiveError(f"{where}: layer is empty (0 bytes), not a tar") from None
        if str(exc).startswith("zlib error"):  # tarfile's name for a corrupt gzip stream
            raise ArchiveError(f"{where}: truncated or corrupt gzip data ({exc})") from None
        raise ArchiveError(f"{where}: not a valid tar ({exc})") from None
    except codec_errors() as exc:
        detail = str(exc) or "unexpected end of data"
        raise ArchiveError(f"{where}: truncated or corrupt {kind} data ({detail})") from None
    except OSError as exc:
        raise ArchiveError(f"{where}: corrupt layer ({exc})") from None
    finally:  # no helper thread outlives the read, whatever happened
        if ahead is not None:
            ahead.close()
        if hashes is not None:
            hashes.close()
    return entries, size


def read_tail(raw: BinaryIO, start: int) -> tuple[Entries, int]:
    """The entries of an uncompressed layer tar from `start` (where a member starts) on, and
    their size; the scan's own errors are raised as they are (read_layer, given them through
    Split.tail, reports them as it reports its own)."""
    with collector_paused():
        return _read_entries(raw, start)


def _read_entries(plain: BinaryIO, start: int = 0, stop: StopAt | None = None) -> tuple[Entries, int]:
    """A layer's entries, in tar order, leaving out the root itself; their total size."""
    paths: list[str] = []
    types: list[str] = []
    links: list[str] = []
    numbers = [array("q") for _ in range(4)]  # sizes, modes, uids, gids
    digests = array("Q")
    for names, kinds, *columns in scan(plain, start, stop):
        names = normalise_paths(names)
        if "" in names:
            keep = [bool(path) for path in names]
            names, kinds, *columns = (list(compress(column, keep)) for column in (names, kinds, *columns))
        paths += names
        types += kinds
        for arr, column, field in zip(numbers, columns, ("size", "mode", "uid", "gid")):
            try:
                if isinstance(column, list):
                    arr.extend(column)
                else:  # a batch's numpy int64 column, copied at once
                    arr.frombytes(column.tobytes())
            except OverflowError:  # base-256 numbers can be any length; no image needs 2**63
                raise tarfile.ReadError(f"a {field} beyond 64 bits") from None
        links += columns[4]
        digests.extend(columns[5])
    entries = Entries(paths, "".join(types), *numbers, links, digests)
    return entries, sum(entries.sizes)
