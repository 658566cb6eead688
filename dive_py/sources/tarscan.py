"""A one-pass tar scanner: every member's header and the xxhash64 of its contents.

tarfile's stream mode reads through `_Stream` in 10 KB pieces (join, copy, bookkeeping for each),
which costs more than parsing the headers. Here headers are parsed by tarfile's own `TarInfo`
code (GNU long names and links, PAX headers with path/linkpath/size/uid/gid, base-256 numbers,
sparse maps, checksums: all exactly as tarfile does), but the reading around it is done here,
with large reads straight into xxhash. Errors are tarfile's (`ReadError` and friends, raised
where `TarFile.next` raises them, and also for a broken header after the first one, which
tarfile takes for the end of the archive), so callers handle them as before.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO

import xxhash

CHUNK = 1 << 20
EMPTY_HASH = xxhash.xxh64_intdigest(b"")


class _Reader:
    """What `TarInfo.fromtarfile` asks of a TarFile: `fileobj` with read/tell, `offset`
    (where the next header starts), the encoding and the global PAX headers."""

    encoding = tarfile.ENCODING
    errors = "surrogateescape"

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self.fileobj = self
        self.pos = 0
        self.offset = 0
        self.pax_headers: dict[str, str] = {}

    def read(self, n: int) -> bytes:
        data = self._raw.read(n)
        self.pos += len(data)
        return data

    def tell(self) -> int:
        return self.pos

    def skip(self, n: int) -> None:
        while n > 0:
            data = self.read(min(n, CHUNK))
            if not data:
                raise tarfile.ReadError("unexpected end of data")
            n -= len(data)

    def hash(self, size: int) -> int:
        """xxhash64 of the next `size` bytes."""
        if size <= CHUNK:
            data = self.read(size)
            if len(data) != size:
                raise tarfile.ReadError("unexpected end of data")
            return xxhash.xxh64_intdigest(data)
        h = xxhash.xxh64()
        while size > 0:
            data = self.read(min(size, CHUNK))
            if not data:
                raise tarfile.ReadError("unexpected end of data")
            h.update(data)
            size -= len(data)
        return h.intdigest()


def _next_header(reader: _Reader) -> tarfile.TarInfo | None:
    """The next header; None at the end of the archive (a zero block, or the end of the data
    right at a header boundary, as Go's archive/tar accepts too).

    Stricter than TarFile.next, which ends the archive silently at a header that is cut
    short or fails its checksum after the first one: a broken layer must not pass for a
    smaller one, so those are errors wherever they are.
    """
    try:
        return tarfile.TarInfo.fromtarfile(reader)  # type: ignore[arg-type]
    except tarfile.EOFHeaderError:
        return None
    except tarfile.EmptyHeaderError:
        if reader.offset == 0:
            raise tarfile.ReadError("empty file") from None
        return None
    except tarfile.InvalidHeaderError as exc:
        raise tarfile.ReadError(f"{exc} at offset {reader.offset}") from None
    except tarfile.TruncatedHeaderError as exc:
        raise tarfile.ReadError(f"{exc} at offset {reader.offset}") from None
    except tarfile.SubsequentHeaderError as exc:
        raise tarfile.ReadError(str(exc)) from None
    except zlib.error as exc:
        raise tarfile.ReadError(f"zlib error: {exc}") from None


def _sparse_hash(stored: bytes, member: tarfile.TarInfo) -> int:
    """The hash of a sparse file as tarfile expands it: its data blocks at their offsets,
    zeros in the holes, up to the file's size."""
    h = xxhash.xxh64()
    at = used = 0
    for offset, length in member.sparse or ():
        if length == 0:  # GNU tar ends the map with empty entries
            continue
        if offset < at:
            raise tarfile.ReadError("sparse map out of order")
        if offset > at:
            h.update(bytes(offset - at))
        block = stored[used:used + length]
        if len(block) != length:
            raise tarfile.ReadError("unexpected end of data")
        h.update(block)
        used += length
        at = offset + length
    if member.size > at:
        h.update(bytes(member.size - at))
    return h.intdigest()


def scan(raw: BinaryIO) -> Iterator[tuple[tarfile.TarInfo, int]]:
    """Each member and the xxhash64 of its contents (0 for directories, the empty hash for
    anything that is not a regular file), in archive order."""
    reader = _Reader(raw)
    while True:
        if reader.offset != reader.pos:  # the rest of the previous member, and its padding
            if reader.offset < reader.pos:
                raise tarfile.ReadError("bad member offset")
            reader.skip(reader.offset - reader.pos)
        member = _next_header(reader)
        if member is None:
            return
        if member.isdir():
            digest = 0
        elif member.issparse():
            digest = _sparse_hash(reader.read(reader.offset - member.offset_data), member)
        elif member.isreg():
            digest = reader.hash(member.size)
        else:
            digest = EMPTY_HASH
        yield member, digest
