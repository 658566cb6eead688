"""A one-pass tar scanner: every member's header and the XXH3-64 digest of its contents.

The layer is read in chunks of CHUNK bytes. Within a chunk, runs of plain headers (no long
names, PAX records or sparse maps) are found by a short walk, each next header's place taken
from the type and size of the one before. A long run (a chunk dense with small files) is
checked and decoded all at once (sources.tarheaders, numpy): about a microsecond per entry.
A short run goes one header at a time (_plain_header, a few microseconds each). Every other
header, and any header those cannot vouch for, is read by tarfile's own `TarInfo` code (GNU
long names and links, PAX headers, base-256 numbers, sparse maps, checksums: all exactly as
tarfile does). Errors are tarfile's (`ReadError` and friends, raised where `TarFile.next`
raises them, and also for a broken header after the first one, which tarfile takes for the
end of the archive), so callers handle them as before.

`scan` yields batches of columns (tarheaders.Columns): names as tarfile gives them, FileInfo
types, sizes, modes, uids, gids, link names, digests (layer_tar keeps them in Entries).
"""

from __future__ import annotations

import struct
import tarfile
import zlib
from bisect import bisect_left
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, BinaryIO
from zlib import adler32

import xxhash

from dive_py.sources.streams import read_some
from dive_py.sources.verify import CorruptTarHeader

if TYPE_CHECKING:
    from dive_py.sources.tarheaders import Columns

CHUNK = 1 << 20  # bytes read at a time; a batch is the plain headers of one such buffer
# Batches are for buffers dense with headers (2 KB or less per member on average): importing
# numpy (dive_py.numerics) takes 0.06 s and 14 MB, which only many small files repay; a sparser
# buffer goes one header at a time (_plain_header, else tarfile). Once a scan has made a batch,
# runs of LATER_BATCH headers make one too.
MIN_BATCH = 512
LATER_BATCH = 64
SINGLES = 256  # members read one at a time, handed on together (a batch each cost as much as a member)
# a file's digest: XXH3 (64 bits), which hashes a third faster than XXH64 on large files and
# costs less a call on small ones; digests only compare files, and the layer cache keeps them
FileHash = xxhash.xxh3_64
file_digest = xxhash.xxh3_64_intdigest
EMPTY_HASH = file_digest(b"")

_KINDS = {b"\0": "0", b"0": "0", b"7": "0"}  # FileInfo's type, for the types Python keeps apart
_REGULAR = frozenset([0, 0x30, 0x37])
_HEADER_ONLY = frozenset([0x31, 0x32, 0x33, 0x34, 0x35, 0x36])
# global PAX keys that would change a member's name, size, owner or link (tarfile applies
# them to every member after); with any of these in force every header goes through tarfile
_PAX_OVERRIDES = frozenset(["path", "linkpath", "size", "uid", "gid", "GNU.sparse.name",
                            "GNU.sparse.size", "GNU.sparse.realsize"])


class _Reader:
    """The layer stream with a buffer in front, and what `TarInfo.fromtarfile` asks of a
    TarFile: `fileobj` with read/tell, `offset` (where the next header starts), the encoding
    and the global PAX headers."""

    encoding = tarfile.ENCODING
    errors = "surrogateescape"

    def __init__(self, raw: BinaryIO, start: int = 0):
        self._read = partial(read_some, raw)  # chunks as they come (short ones taken too)
        self.buf = b""
        self.at = 0  # the next unread byte of buf
        self.base = start  # the stream offset of buf[0] (the stream starts at `start` of the tar)
        self.offset = start
        self.pax_headers: dict[str, str] = {}

    @property
    def fileobj(self) -> _Reader:
        """Itself (a property, not an attribute: a reference to itself would be a cycle, kept,
        with every buffer below it, until the paused collector runs again)."""
        return self

    @property
    def pos(self) -> int:
        """(Written out as `base + at` once per header instead: the property costs 3% of the
        scan of a layer of small files, 88.0 against 85.4 ms on the zstd image's base layer.)"""
        return self.base + self.at

    def tell(self) -> int:
        return self.base + self.at

    def fill(self) -> bool:
        """Make the buffer what is left of it and up to a CHUNK more (one copy); False at the
        end of the stream or when the buffer already holds a chunk (a member larger than that
        is streamed)."""
        rest = len(self.buf) - self.at
        if rest >= CHUNK:
            return False
        parts = [self.buf[self.at:]] if rest else []
        got = rest
        while got < CHUNK and (data := self._read(CHUNK - got)):
            parts.append(data)
            got += len(data)
        if got == rest:
            return False
        self.base += self.at
        self.buf = parts[0] if len(parts) == 1 else b"".join(parts)
        self.at = 0
        return True

    def _next_chunk(self) -> bytes:
        """The stream's next chunk, the buffer before it all used up (b"" at the end)."""
        self.base += len(self.buf)
        self.buf, self.at = b"", 0
        return self._read(CHUNK)

    def _keep(self, chunk: bytes, used: int) -> None:
        """Make `chunk` the buffer, its first `used` bytes read."""
        self.buf, self.at = chunk, used

    def read(self, n: int) -> bytes:
        """Up to n bytes (fewer only at the end of the stream). The stream is asked for a chunk
        at a time, whatever n, and what is left of the last one stays in the buffer: a header
        may claim any size, and a chunk is taken as the stream hands it over (no copy)."""
        buf, at = self.buf, self.at
        if n <= len(buf) - at:
            self.at = at + n
            return buf[at:at + n]
        parts = [buf[at:]]
        left = n - (len(buf) - at)
        while left > 0 and (part := self._next_chunk()):
            used = min(len(part), left)
            parts.append(part if used == len(part) else part[:used])
            self._keep(part, used)
            left -= used
        return b"".join(parts)

    def skip(self, n: int) -> None:
        """Past the next n bytes (read, not copied)."""
        held = len(self.buf) - self.at
        if n <= held:
            self.at += n
            return
        n -= held
        while n > 0:
            part = self._next_chunk()
            if not part:
                raise tarfile.ReadError("unexpected end of data")
            used = min(len(part), n)
            self._keep(part, used)
            n -= used

    def hash(self, size: int) -> int:
        """The file_digest of the next `size` bytes, hashed where they lie in the chunks (no
        copy)."""
        at = self.at
        if 0 <= size <= len(self.buf) - at:  # the common case: all of it in the buffer, one call
            self.at = at + size
            return file_digest(memoryview(self.buf)[at:at + size])
        h = FileHash()
        held = min(size, len(self.buf) - at)  # (a negative size, which base-256 allows, reads nothing)
        if held > 0:
            with memoryview(self.buf) as view:
                h.update(view[self.at:self.at + held])
            self.at += held
            size -= held
        while size > 0:
            part = self._next_chunk()
            if not part:
                raise tarfile.ReadError("unexpected end of data")
            used = min(len(part), size)
            if used == len(part):
                h.update(part)
            else:
                with memoryview(part) as view:
                    h.update(view[:used])
            self._keep(part, used)
            size -= used
        return h.intdigest()

    def fast_ok(self) -> bool:
        return not self.pax_headers or self.pax_headers.keys().isdisjoint(_PAX_OVERRIDES)


# One header at a time (a buffer with fewer plain headers than MIN_BATCH): the types whose
# header stands alone (no long name, PAX record or sparse map to read after it)
_PLAIN_TYPES = frozenset([b"0", b"\0", b"1", b"2", b"3", b"4", b"5", b"6", b"7"])
_SKIPS_DATA = frozenset([b"0", b"\0", b"7"])  # tarfile skips data only after regular files


# name, mode, uid, gid, size, mtime, checksum, type, linkname, (magic, version, uname, gname),
# devmajor, devminor, prefix
_HEADER = struct.Struct("100s8s8s8s12s12s8sc100s72x8s8s155s12x")


def byte_sum(block: bytes) -> int:
    """The sum of a 512-byte block's bytes (what a tar checksum adds up), five times faster
    than sum(): Adler-32's first half is 1 + the sum of the bytes modulo 65521, exact for 256
    bytes (at most 65,280)."""
    return (adler32(block[:256]) & 0xFFFF) + (adler32(block[256:]) & 0xFFFF) - 2


def _checksum_ok(block: bytes, field: bytes | None = None) -> bool:
    """Whether a header block's checksum field (bytes 148-155, or `field` if the caller has
    them already), read as octal, is tarfile's unsigned checksum (the sum of the block's bytes,
    the field itself counted as eight spaces)."""
    if field is None:
        field = block[148:156]
    try:
        return int(field.rstrip(b"\0 ") or b"0", 8) == byte_sum(block) - sum(field) + 256
    except ValueError:
        return False


def _text(field: bytes, reader: _Reader) -> str:
    return field.split(b"\0", 1)[0].decode(reader.encoding, reader.errors)


def _plain_header(buf: bytes, reader: _Reader) -> tuple | None:
    """The common header, parsed in a few steps: TarInfo.frombuf + _proc_builtin for the
    plain types, with octal numbers and the unsigned checksum, straight to the fields of a
    row (name as tarfile gives it, FileInfo type, size, mode, uid, gid, link name). None for
    anything else (base-256 numbers, a NUL inside a number, odd spaces...), which then takes
    tarfile's own path, errors included. int() fails on everything tarfile's nti would read
    differently."""
    if len(buf) != tarfile.BLOCKSIZE or reader.pax_headers:
        return None
    (name, mode, uid, gid, size, mtime, checksum, kind, link, devmajor, devminor,
     prefix) = _HEADER.unpack(buf)
    if kind not in _PLAIN_TYPES or not _checksum_ok(buf, checksum):
        return None
    try:  # written out, not a loop: 2.2 instead of 2.9 us a header with the checksum
        int(mtime.rstrip(b"\0 ") or b"0", 8)  # read only to fail where tarfile fails
        int(devmajor.rstrip(b"\0 ") or b"0", 8)
        int(devminor.rstrip(b"\0 ") or b"0", 8)
        mode = int(mode.rstrip(b"\0 ") or b"0", 8)
        uid = int(uid.rstrip(b"\0 ") or b"0", 8)
        gid = int(gid.rstrip(b"\0 ") or b"0", 8)
        size = int(size.rstrip(b"\0 ") or b"0", 8)
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
    here = reader.base + reader.at
    reader.offset = here + -(-size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE if kind in _SKIPS_DATA else here
    return (path, _KINDS.get(kind) or kind.decode("latin-1"), size, mode, uid, gid,
            _text(link, reader) if link[0] else "")


def _next_row(reader: _Reader) -> tuple | None:
    """The next member's row, its contents hashed (see _single); None at the end of the
    archive (a zero block, or the end of the data right at a header boundary, as Go's
    archive/tar accepts too).

    Stricter than TarFile.next, which ends the archive silently at a header that is cut
    short or fails its checksum after the first one: a broken layer must not pass for a
    smaller one, so those are errors wherever they are.
    """
    start = reader.base + reader.at
    buf = reader.read(tarfile.BLOCKSIZE)
    try:
        plain = _plain_header(buf, reader)
        if plain is None:  # what TarInfo.fromtarfile does
            member = tarfile.TarInfo.frombuf(buf, reader.encoding, reader.errors)
            member.offset = start
            member = member._proc_member(reader)  # type: ignore[attr-defined]
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
    if plain is None:
        return _single(reader, member)
    return (*plain, _digest(reader, plain[1], plain[2]))


def _digest(reader: _Reader, kind: str, size: int) -> int:
    """A member's digest, by its FileInfo type: its contents hashed for a regular file (read
    past here), 0 for a directory, the empty hash for anything else."""
    if kind == "0":
        return reader.hash(size)
    return 0 if kind == "5" else EMPTY_HASH


def _sparse_hash(stored: bytes, member: tarfile.TarInfo) -> int:
    """The hash of a sparse file as tarfile expands it: its data blocks at their offsets,
    zeros in the holes, up to the file's size."""
    h = FileHash()
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


_ZEROS = bytes(64 << 10)


def _zeros(h, n: int) -> None:
    """Feed n zero bytes (a sparse file's hole) in bounded pieces."""
    with memoryview(_ZEROS) as zeros:
        while n > 0:
            step = min(n, len(zeros))
            h.update(zeros[:step])
            n -= step


def _walk(reader: _Reader, vectorised: bool = False) -> tuple[list[int], int, int]:
    """The offsets (in reader.buf) of the plain headers from reader.at on whose data is in the
    buffer, each found from the type and size of the one before; where the walk stopped; and,
    if it stopped only for want of data, how far the buffer would have to reach to take in the
    member it stopped at (else 0). Nothing is trusted yet: tarheaders checks it all (a size
    spelled otherwise than as 11 octal digits reads wrong here, and is caught there).

    `vectorised` (numpy imported already): tarheaders.walk takes the first steps, as many as
    it can vouch for, all at once; this loop goes on from where it stopped."""
    buf = reader.buf
    end = len(buf)
    at = reader.at
    offsets: list[int] = []
    if vectorised:
        from dive_py.sources import tarheaders

        offsets, at = tarheaders.walk(buf, at)
    append = offsets.append
    regular, header_only = _REGULAR, _HEADER_ONLY
    try:
        while at + 512 <= end:
            kind = buf[at + 156]
            if kind in regular:
                after = at + 512 + ((int(buf[at + 124:at + 135], 8) + 511) & -512)
                if after > end:
                    return offsets, at, after
                if after <= at:  # a negative size
                    break
            elif kind in header_only:
                after = at + 512
            else:
                break
            append(at)
            at = after
        else:
            return offsets, at, at + 512
    except ValueError:
        pass
    return offsets, at, 0


def dense(window: bytes) -> bool:
    """Whether tar bytes hold headers as densely as the batches are made for (MIN_BATCH in a
    CHUNK), by the ustar magic's count."""
    return window.count(b"ustar") * CHUNK >= MIN_BATCH * len(window)


def find_member_start(window: bytes, at: int) -> int | None:
    """The first offset in `window` (which starts at offset `at` of a tar, a multiple of 512)
    where a block looks like a ustar header: the magic, and a checksum that adds up. A guess:
    file data can look like that too (a scan from the tar's start confirms it, StopAt)."""
    find = window.find
    i = find(b"ustar", 257)
    while i >= 0:
        start = i - 257
        if start % 512 == 0 and start + 512 <= len(window):
            if _checksum_ok(window[start:start + 512]):
                return at + start
            i = find(b"ustar", start + 512 + 257)
        else:
            i = find(b"ustar", i + 1)
    return None


class StopAt:
    """Where a scan is to stop, if a member starts there: `offset` in the tar. `reached` tells
    whether it did stop there (a member started there, and no global PAX header was in force,
    which would change how the members after it read)."""

    def __init__(self, offset: int):
        self.offset = offset
        self.reached = False

    def check(self, reader: _Reader) -> bool:
        """Whether the scan, at a member's start, is to stop here."""
        if reader.pos == self.offset and not reader.pax_headers:
            self.reached = True
        return self.reached

    def cut(self, reader: _Reader, offsets: list[int], end: int) -> tuple[list[int], int, bool]:
        """A walked run cut short where the stop falls on one of its headers."""
        at = self.offset - reader.base
        if offsets and offsets[0] < at < end:
            k = bisect_left(offsets, at)
            if k < len(offsets) and offsets[k] == at:
                return offsets[:k], at, True
        return offsets, end, False


def scan(raw: BinaryIO, start: int = 0, stop: StopAt | None = None) -> Iterator[Columns]:
    """Batches of members in archive order, as columns: names, FileInfo types, sizes, modes,
    uids, gids, link names and digests (file_digest of the contents, 0 for directories, the
    empty hash for anything that is not a regular file). Members read one at a time come in
    batches too, of up to SINGLES.

    `start`: where in the tar `raw` starts (a member's start; offsets in errors count from the
    tar's start). `stop`: end the scan early at that member's start, if the scan meets one there.
    """
    rows: list[tuple] = []
    try:
        for single, found in _members(raw, start, stop):
            if single:
                rows.append(found)
                if len(rows) < SINGLES:
                    continue
            if rows:
                yield _columns(rows)
                rows = []
            if not single:
                yield found
    except Exception:
        if rows:  # what was read before the error, as every path hands it on
            yield _columns(rows)
        raise
    if rows:
        yield _columns(rows)


def _columns(rows: list[tuple]) -> Columns:
    return tuple(map(list, zip(*rows)))  # type: ignore[return-value]


def _members(raw: BinaryIO, start: int, stop: StopAt | None) -> Iterator[tuple[bool, tuple]]:
    """(False, columns) for a batch, (True, row) for a member read alone, in archive order."""
    reader = _Reader(raw, start)
    min_batch = MIN_BATCH
    batched = False  # once a batch is made (numpy imported), the walks start vectorised
    while True:
        _skip_to_next(reader)
        if stop is not None and stop.check(reader):
            return
        offsets, end, reach = _walk(reader, batched) if reader.fast_ok() else ([], 0, 0)
        if stop is not None:
            offsets, end, cut = stop.cut(reader, offsets, end)
            reach = 0 if cut else reach
        if len(offsets) >= min_batch:
            min_batch, batched = min(min_batch, LATER_BATCH), True
            yield from _batch(reader, offsets, end)
            continue
        # a run as dense as a batch may go on in the next chunk: gathered into the buffer (one
        # copy). A sparser run is read one header at a time, and a member reaching beyond the
        # chunk is streamed past (hashed where it lies), not gathered.
        span = reach - reader.at
        if reach and span <= CHUNK and len(offsets) * CHUNK >= min_batch * span and reader.fill():
            continue
        # the walked run one header at a time, then the header that stopped the walk
        for _ in range(len(offsets) + 1):
            _skip_to_next(reader)
            if stop is not None and stop.check(reader):
                return
            row = _next_row(reader)
            if row is None:
                return
            yield True, row


def _skip_to_next(reader: _Reader) -> None:
    """Past the rest of the previous member, and its padding."""
    gap = reader.offset - reader.base - reader.at
    if gap:
        if gap < 0:
            raise tarfile.ReadError("bad member offset")
        reader.skip(gap)  # (a file's padding, mostly: within the buffer, which skip sees first)


def _batch(reader: _Reader, offsets: list[int], stop: int) -> Iterator[tuple[bool, tuple]]:
    """The walked headers, decoded at once; those the batch cannot vouch for read by tarfile
    in their turn. Ends with the reader past the last of them (the caller reads on), or
    early, where a header read by tarfile does not end where the walk went on."""
    from dive_py.sources import tarheaders  # numpy's import is paid only by layers with many entries

    buf = reader.buf
    bad, columns = tarheaders.decode(buf, offsets, stop, reader.encoding)
    bounds = offsets + [stop]
    done = 0
    for index in bad + [len(offsets)]:
        if index > done:
            yield False, (tuple(column[done:index] for column in columns) if bad else columns)
        reader.at = bounds[index]
        reader.offset = reader.pos
        if index == len(offsets):
            return
        row = _next_row(reader)
        if row is None:  # cannot happen to a walked header; read on from here
            return
        yield True, row
        if reader.buf is not buf or reader.offset != reader.base + bounds[index + 1]:
            return
        done = index + 1


def _single(reader: _Reader, member: tarfile.TarInfo) -> tuple:
    """One member read by tarfile, and its contents hashed: a row of the columns."""
    kind = _KINDS.get(member.type) or member.type.decode("latin-1")
    if member.issparse():
        digest = _sparse_hash(reader.read(reader.offset - member.offset_data), member)
    else:
        digest = _digest(reader, kind, member.size)
    return (member.name, kind, member.size, member.mode, member.uid, member.gid, member.linkname, digest)
