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

import struct
import tarfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO

import xxhash

from dive_py.sources.verify import CorruptTarHeader

CHUNK = 1 << 20
EMPTY_HASH = xxhash.xxh64_intdigest(b"")


class _Reader:
    """What `TarInfo.fromtarfile` asks of a TarFile: `fileobj` with read/tell, `offset`
    (where the next header starts), the encoding and the global PAX headers."""

    encoding = tarfile.ENCODING
    errors = "surrogateescape"

    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self.pos = 0
        self.offset = 0
        self.pax_headers: dict[str, str] = {}

    @property
    def fileobj(self) -> _Reader:
        """Itself (a property, not an attribute: a reference to itself would be a cycle, kept,
        with every buffer below it, until the paused collector runs again)."""
        return self

    def read(self, n: int) -> bytes:
        if n <= CHUNK:
            data = self._raw.read(n)
        else:  # a header may claim any size: never ask for more than has arrived
            parts = []
            left = n
            while left > 0 and (part := self._raw.read(min(left, CHUNK))):
                parts.append(part)
                left -= len(part)
            data = b"".join(parts)
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


# Types whose header stands alone (no long name, PAX record or sparse map to read after it)
_PLAIN_TYPES = frozenset([b"0", b"\0", b"1", b"2", b"3", b"4", b"5", b"6", b"7"])
_SKIPS_DATA = frozenset([b"0", b"\0", b"7"])  # tarfile skips data only after regular files


# name, mode, uid, gid, size, mtime, checksum, type, linkname, (magic, version, uname, gname),
# devmajor, devminor, prefix
_HEADER = struct.Struct("100s8s8s8s12s12s8sc100s72x8s8s155s12x")


def _text(field: bytes, reader: _Reader) -> str:
    return field.split(b"\0", 1)[0].decode(reader.encoding, reader.errors)


def _plain_header(buf: bytes, reader: _Reader) -> tarfile.TarInfo | None:
    """The common header, parsed in a few steps: TarInfo.frombuf + _proc_builtin for the
    plain types, with octal numbers and the unsigned checksum. None for anything else
    (base-256 numbers, a NUL inside a number, odd spaces...), which then takes tarfile's own
    path, errors included. int() fails on everything tarfile's nti would read differently."""
    if len(buf) != tarfile.BLOCKSIZE or reader.pax_headers:
        return None
    (name, mode, uid, gid, size, mtime, checksum, kind, link, devmajor, devminor,
     prefix) = _HEADER.unpack(buf)
    if kind not in _PLAIN_TYPES:
        return None
    try:
        if int(checksum.rstrip(b"\0 ") or b"0", 8) != sum(buf) - sum(checksum) + 256:
            return None
        numbers = [int(f.rstrip(b"\0 ") or b"0", 8) for f in (mode, uid, gid, size, mtime, devmajor, devminor)]
    except ValueError:
        return None
    path = name.split(b"\0", 1)[0].decode(reader.encoding, reader.errors)
    if kind == b"\0" and path.endswith("/"):
        kind = tarfile.DIRTYPE
    if kind == tarfile.DIRTYPE:
        path = path.rstrip("/")
    if prefix[0]:
        path = _text(prefix, reader) + "/" + path
        if kind == tarfile.DIRTYPE:
            path = path.rstrip("/")
    member = tarfile.TarInfo(path)
    (member.mode, member.uid, member.gid, member.size, member.mtime, member.devmajor,
     member.devminor) = numbers
    member.type = kind
    member.linkname = _text(link, reader) if link[0] else ""
    member.offset = reader.pos - tarfile.BLOCKSIZE
    member.offset_data = reader.pos
    if kind in _SKIPS_DATA:
        reader.offset = reader.pos + -(-member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    else:
        reader.offset = reader.pos
    return member


def _next_header(reader: _Reader) -> tarfile.TarInfo | None:
    """The next header; None at the end of the archive (a zero block, or the end of the data
    right at a header boundary, as Go's archive/tar accepts too).

    Stricter than TarFile.next, which ends the archive silently at a header that is cut
    short or fails its checksum after the first one: a broken layer must not pass for a
    smaller one, so those are errors wherever they are.
    """
    start = reader.pos
    buf = reader.read(tarfile.BLOCKSIZE)
    try:
        member = _plain_header(buf, reader)
        if member is None:  # what TarInfo.fromtarfile does
            member = tarfile.TarInfo.frombuf(buf, reader.encoding, reader.errors)
            member.offset = start
            member = member._proc_member(reader)  # type: ignore[attr-defined]
        return member
    except tarfile.EOFHeaderError:
        after = reader.read(tarfile.BLOCKSIZE)  # the end is a zero block followed by zeros
        if after and (len(after) < tarfile.BLOCKSIZE or after.count(0) != len(after)):
            raise CorruptTarHeader(f"data after a zero block at offset {start}") from None
        return None
    except tarfile.EmptyHeaderError:
        if reader.offset == 0:
            raise tarfile.ReadError("empty file") from None
        return None
    except tarfile.InvalidHeaderError as exc:
        raise CorruptTarHeader(f"{exc} in the header at offset {start}") from None
    except tarfile.TruncatedHeaderError:
        raise CorruptTarHeader(f"truncated header at offset {start}") from None
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
            _zeros(h, offset - at)
        block = stored[used:used + length]
        if len(block) != length:
            raise tarfile.ReadError("unexpected end of data")
        h.update(block)
        used += length
        at = offset + length
    if member.size > at:
        _zeros(h, member.size - at)
    return h.intdigest()


_ZEROS = bytes(CHUNK)


def _zeros(h, n: int) -> None:
    """Feed n zero bytes (a sparse file's hole) in bounded pieces."""
    while n > 0:
        step = min(n, CHUNK)
        h.update(_ZEROS[:step])
        n -= step


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
