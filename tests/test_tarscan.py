"""The fast tar scanner reads exactly what tarfile reads, on archives made by tarfile and GNU tar.

Three paths read headers: batches of plain headers decoded at once (sources.tarheaders),
plain headers one at a time (tarscan._plain_header), and tarfile's own code for everything
else. `reading(path)` pins a test to "batch", "header" or "tarfile" alone, and can make the
read buffer small so that its edges fall inside headers and file data.
"""

from __future__ import annotations

import functools
import io
import os
import random
import shutil
import subprocess
import tarfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dive_py.errors import ArchiveError
from dive_py.model.fileinfo import normalise_path
from dive_py.sources.layer_tar import read_layer
from dive_py.sources import tarscan
from dive_py.sources.tarscan import file_digest
from dive_py.sources.tarscan import scan
from dive_py.sources.verify import StrictTarInfo
from tests import test_fuzz_readers as _fuzz
from tests.hostile import fix_checksum

LONG = "deep/" * 30 + "name-longer-than-a-ustar-header-can-hold.txt"


@contextmanager
def reading(path: str, chunk: int | None = None):
    """Scan with batches for every run of plain headers, or one header at a time, or with
    tarfile's code for every header; `chunk` sets the read buffer's size."""
    saved = tarscan.MIN_BATCH, tarscan.CHUNK, tarscan._plain_header
    tarscan.MIN_BATCH = 1 if path == "batch" else 1 << 62
    tarscan.CHUNK = chunk or tarscan.CHUNK
    if path == "tarfile":
        tarscan._plain_header = lambda buf, reader: None
    try:
        yield
    finally:
        tarscan.MIN_BATCH, tarscan.CHUNK, tarscan._plain_header = saved


PATHS = pytest.mark.parametrize("path", ["batch", "header", "tarfile"])
_GO_TYPES = {b"\0": "0", b"0": "0", b"7": "0"}  # Go and dive call these all regular files


def _reference(data: bytes) -> list[tuple]:
    """What tarfile itself reads, members and contents, with random access."""
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for m in tar:
            if m.isdir():
                digest = 0
            elif m.isreg():
                digest = file_digest(tar.extractfile(m).read())
            else:
                digest = file_digest(b"")
            kind = _GO_TYPES.get(m.type) or m.type.decode("latin-1")
            out.append((m.name, kind, m.size, m.mode, m.uid, m.gid, m.linkname, digest))
    return out


def _batches(data: bytes) -> list[list[tuple]]:
    return [list(zip(*columns)) for columns in scan(io.BufferedReader(io.BytesIO(data)))]


def _scanned(data: bytes) -> list[tuple]:
    return [row for batch in _batches(data) for row in batch]


def _python_tar(fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        def add(name, kind=tarfile.REGTYPE, data=b"", link="", uid=0):
            info = tarfile.TarInfo(name)
            info.type, info.size, info.linkname, info.uid, info.mode = kind, len(data), link, uid, 0o4755
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
        add("etc", tarfile.DIRTYPE)
        add(LONG, data=b"x" * 5000)
        add("etc/link", tarfile.SYMTYPE, link="/" + LONG)
        add("etc/hard", tarfile.LNKTYPE, link=LONG)
        add("big-uid", data=b"uid", uid=3_000_000)  # base-256 in GNU, a PAX record in PAX
        add("caf\u00e9/\u65e5\u672c", data=b"unicode")
        add("empty")
        add("chunked", data=os.urandom(3 << 20))  # larger than one read
    return buf.getvalue()


def _gnu_tar(tmp_path, fmt: str) -> bytes:
    if not shutil.which("tar"):
        pytest.fail("GNU tar is needed to make sparse archives")
    src = tmp_path / f"src-{fmt}"
    (src / "d").mkdir(parents=True)
    with open(src / "d" / "sparse", "wb") as fh:
        fh.write(b"head")
        fh.seek(5 << 20)
        fh.write(b"tail")
    (src / LONG).parent.mkdir(parents=True)
    (src / LONG).write_bytes(b"long")
    os.symlink("d/" + "t" * 150, src / "dangling")
    out = tmp_path / f"{fmt}.tar"
    subprocess.run(["tar", "--sparse", f"--format={fmt}", "-cf", str(out), "-C", str(src), "."], check=True)
    return out.read_bytes()


@PATHS
@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_same_members_as_tarfile(fmt, path):
    if fmt == tarfile.USTAR_FORMAT:  # no long names in plain ustar: the short ones only
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
            info = tarfile.TarInfo("a/b/c")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
        data = buf.getvalue()
    else:
        data = _python_tar(fmt)
    expected = _reference(data)
    assert len(expected) > 1 or fmt == tarfile.USTAR_FORMAT
    with reading(path):
        assert _scanned(data) == expected


@PATHS
@pytest.mark.parametrize("fmt", ["gnu", "posix"])
def test_gnu_tar_sparse_and_long_names(tmp_path, fmt, path):
    data = _gnu_tar(tmp_path, fmt)
    expected = _reference(data)
    assert any(size == (5 << 20) + 4 for _, _, size, *_ in expected)  # the sparse file, expanded
    assert any(name.endswith(LONG) for name, *_ in expected)
    with reading(path):
        assert _scanned(data) == expected


@PATHS
def test_bad_first_header_and_truncation_are_archive_errors(path):
    data = bytearray(_python_tar(tarfile.PAX_FORMAT))
    for broken in (bytes([data[0] ^ 0xFF]) + bytes(data[1:]),  # checksum no longer matches
                   bytes(data[: len(data) // 2]),  # cut inside a file's data
                   bytes(data[:700])):  # cut inside the second header
        with reading(path), pytest.raises(ArchiveError):
            read_layer(io.BytesIO(broken), "layer 1")


@PATHS
def test_bad_later_header_is_an_error_not_the_end(path):
    """tarfile would stop at the third header and report two files; a layer cut short must
    not pass for a smaller one."""
    data = bytearray(_python_tar(tarfile.GNU_FORMAT))
    with tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
        third = tar.getmembers()[2].offset
    data[third + 148] ^= 0x07  # the third header's checksum
    assert len(_reference(bytes(data))) == 2
    with reading(path), pytest.raises(ArchiveError, match="bad checksum"):
        read_layer(io.BytesIO(bytes(data)), "layer 1")


def _one_member_archive(kind: bytes, name: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.uid, info.gid = kind, 0o755, 1000, 1000
        data = b"content!" if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else b""
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _outcome(read, data: bytes):
    try:
        return read(data)
    except (tarfile.TarError, ValueError) as exc:
        return type(exc).__name__


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from([b"0", b"\0", b"1", b"2", b"3", b"5", b"6", b"7", b"Z"]),
       name=st.sampled_from(["f", "dir/", "a" * 99, "p/" * 60 + "leaf", "d\u00e9j\u00e0"]),
       edits=st.lists(st.tuples(st.integers(0, 511), st.integers(0, 255)), max_size=4),
       fix_checksum=st.booleans())
def test_damaged_first_header_reads_as_tarfile_reads_it(kind, name, edits, fix_checksum):
    """Random bytes in a header, checksum fixed or not: the plain-header fast path and
    tarfile agree (the same member, or both refuse)."""
    data = bytearray(_one_member_archive(kind, name))
    for at, value in edits:
        data[at] = value
    if fix_checksum:
        data[148:156] = b"        "
        data[148:156] = b"%06o\0 " % (sum(data[:512]) & 0o777777)
    data = bytes(data)
    assert _outcome(_first_scanned, data) == _outcome(_first_reference, data)


def _first_reference(data: bytes):
    """The first member as tarfile reads it with the checks of Go's archive/tar (StrictTarInfo),
    as a row of the scan, its contents hashed."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:", tarinfo=StrictTarInfo) as tar:
        m = tar.next()
        if m is None:
            return None
        digest = 0 if m.isdir() else file_digest(tar.extractfile(m).read() if m.isreg() else b"")
        return (m.name, _GO_TYPES.get(m.type) or m.type.decode("latin-1"), m.size, m.mode, m.uid, m.gid,
                m.linkname, digest)


def _first_scanned(data: bytes):
    """The first member as the scanner reads it."""
    return tarscan._next_row(tarscan._Reader(io.BytesIO(data)))


@pytest.mark.parametrize("damage", ["deflate", "crc", "cut"])
def test_broken_gzip_layer_is_an_archive_error(damage):
    import gzip

    blob = gzip.compress(_python_tar(tarfile.PAX_FORMAT))
    broken = {"deflate": blob[:20] + b"\xff" * 64 + blob[84:],
              "crc": blob[:-8] + bytes(4) + blob[-4:],
              "cut": blob[: len(blob) // 2]}[damage]
    with pytest.raises(ArchiveError, match="layer 1"):
        read_layer(io.BytesIO(broken), "layer 1")


# ---------------------------------------------------------------- the batch path


def _varied_tar(count: int, seed: int, fmt: int = tarfile.GNU_FORMAT) -> bytes:
    """`count` members of every plain kind, with the odd ones tarfile writes its own way
    among them (a long name, a big uid, a name that is not UTF-8, a ustar prefix...)."""
    rng = random.Random(seed)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, errors="surrogateescape") as tar:
        for i in range(count):
            info = tarfile.TarInfo(f"d{i % 97}/f{i}")
            info.mode, info.uid, info.gid, info.mtime = rng.choice([0o644, 0o755, 0o4755]), i % 3, 0, 1_700_000_000
            data = b""
            roll = rng.random()
            if roll < 0.55:
                data = rng.randbytes(rng.choice([0, 1, 100, 511, 512, 513, rng.randint(0, 3000)]))
                info.type = rng.choice([tarfile.REGTYPE] * 4 + [tarfile.AREGTYPE, tarfile.CONTTYPE])
            elif roll < 0.7:
                info.type, info.name = tarfile.DIRTYPE, f"d{i % 97}/dir{i}/"
            elif roll < 0.8:
                info.type, info.linkname = tarfile.SYMTYPE, f"../t{i}"
            elif roll < 0.85:
                info.type, info.linkname = tarfile.LNKTYPE, f"d{i % 97}/f{i - 1}"
            elif roll < 0.88:
                info.type, info.name = tarfile.AREGTYPE, f"olddir{i}/"  # a V7 directory
            elif roll < 0.9:
                info.type, info.devmajor, info.devminor = rng.choice([tarfile.CHRTYPE, tarfile.BLKTYPE]), 1, 3
            elif roll < 0.92:
                info.type = tarfile.FIFOTYPE
            elif roll < 0.94:
                info.name = "p/" * 60 + f"deep{i}"  # ustar prefix, or a GNU/PAX long name
            elif roll < 0.95:
                info.name = f"./caf\udce9/{i}"  # not UTF-8, and a leading ./
            elif roll < 0.96:
                info.uid = 3_000_000  # base-256 in GNU format, a PAX record in PAX format
            elif roll < 0.97:
                info.name = f"d/{i}" + "x" * 120
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.type in tarfile.REGULAR_TYPES else None)
    return buf.getvalue()


@pytest.mark.parametrize("chunk", [512, 700, 1024, 1536, 4096, 9999, 1 << 16])
@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_buffer_edges_inside_headers_and_data(chunk, fmt):
    """A small read buffer puts its edges inside headers, inside file data and inside the
    padding: the batches still read exactly what tarfile reads."""
    data = _varied_tar(400, seed=chunk, fmt=fmt)
    with reading("batch", chunk=chunk):
        batches = _batches(data)
    assert [row for batch in batches for row in batch] == _reference(data)
    if chunk >= 4096:
        assert max(map(len, batches)) > 2  # runs of plain headers did go through the batch path


class _Pieces(io.RawIOBase):
    """A stream handing its bytes over in pieces of random sizes, as a decompressor does
    (`read1`), whatever size is asked for."""

    def __init__(self, data: bytes, seed: int, largest: int):
        self._data, self._at, self._rng, self._largest = data, 0, random.Random(seed), largest

    def read1(self, size: int = -1) -> bytes:
        take = self._rng.randint(1, self._largest)
        piece = self._data[self._at:self._at + min(take, size if size >= 0 else take)]
        self._at += len(piece)
        return piece

    read = read1


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), largest=st.sampled_from([1, 7, 511, 513, 4096, 70_000, 1 << 20]),
       chunk=st.sampled_from([1024, 8192, 1 << 16]), path=st.sampled_from(["batch", "header", "tarfile"]))
def test_pieces_of_any_size_read_as_tarfile_reads_them(seed, largest, chunk, path):
    """The scan takes pieces as the stream hands them over (no copy to make up a chunk): an
    edge anywhere, a piece of one byte or one larger than the buffer, reads the same."""
    data, expected = _varied_and_read()
    with reading(path, chunk=chunk):
        got = [row for columns in scan(_Pieces(data, seed, largest)) for row in zip(*columns)]
    assert got == expected


@functools.cache
def _varied_and_read() -> tuple[bytes, list[tuple]]:
    data = _varied_tar(300, seed=5)
    return data, _reference(data)


def test_more_than_100k_entries_read_as_tarfile_reads_them():
    data = _varied_tar(120_000, seed=1)
    expected = _reference(data)
    assert len(expected) == 120_000
    with reading("batch"):
        batches = _batches(data)
    assert [row for batch in batches for row in batch] == expected
    assert max(map(len, batches)) > 100
    entries, size = read_layer(io.BytesIO(data), "layer")
    assert size == sum(e.size for e in entries)
    assert [(e.path, e.type, e.size, e.mode, e.uid, e.gid, e.link, e.digest) for e in entries] == [
        (normalise_path(name), *rest) for name, *rest in expected if normalise_path(name)]
    assert entries.modes.itemsize == 4  # numbers in arrays (modes in 32 bits), not an int object each


def _members(fmt: int, names: list[str], uid: int = 0) -> bytes:
    """The members alone (no end-of-archive blocks), to join with others into one tar."""
    buf = io.BytesIO()
    tar = tarfile.open(fileobj=buf, mode="w", format=fmt)
    for name in names:
        info = tarfile.TarInfo(name)
        info.size, info.uid = len(name), uid
        tar.addfile(info, io.BytesIO(name.encode()))
    return buf.getvalue()  # not closed: no end blocks


@PATHS
def test_pax_gnu_and_global_headers_between_plain_ones(path):
    plain = [f"plain/{i}" for i in range(150)]
    parts = [
        _members(tarfile.USTAR_FORMAT, plain),
        _members(tarfile.GNU_FORMAT, ["gnu/" + "l" * 150]),  # a GNU long name ('L')
        _members(tarfile.USTAR_FORMAT, plain),
        _members(tarfile.PAX_FORMAT, ["pax/" + "\u00e9" * 10]),  # a PAX record ('x')
        tarfile.TarInfo().create_pax_global_header({"comment": "changes nothing read"}),
        _members(tarfile.USTAR_FORMAT, plain),
        tarfile.TarInfo().create_pax_global_header({"uid": "7", "path": "renamed"}),
        _members(tarfile.USTAR_FORMAT, plain),  # every one of these is uid 7 and 'renamed'
        bytes(1024),
    ]
    data = b"".join(parts)
    expected = _reference(data)
    assert expected[-1][0] == "renamed" and expected[-1][4] == 7 and expected[0][4] == 0
    with reading(path, chunk=8192):
        assert _scanned(data) == expected


def _scan_outcome(data: bytes, path: str, chunk: int | None = None):
    """The rows of a scan, then how it ended (None, or the error's type and text)."""
    rows: list[tuple] = []
    with reading(path, chunk):
        try:
            for columns in scan(io.BufferedReader(io.BytesIO(data))):
                rows.extend(zip(*columns))
        except (tarfile.TarError, ValueError) as exc:
            return rows, (type(exc).__name__, str(exc))
    return rows, None


@pytest.mark.parametrize("size", [2 << 30, 8**11 - 1, 10**6])
def test_a_member_claiming_more_than_there_is_fails_alike(size):
    """A header in the middle claims 2 GB (or more than is left): every path stops with
    tarfile's error at once, after the same members, and never ask for that much memory."""
    data = bytearray(_members(tarfile.USTAR_FORMAT, [f"f{i}" for i in range(300)]) + bytes(1024))
    header = 512 * 2 * 150  # the 151st member (each is a header and one data block)
    assert data[header:header + 4] == b"f150"
    data[header + 124:header + 136] = b"%011o\0" % size
    block = data[header:header + 512]
    fix_checksum(block)
    data[header:header + 512] = block
    batch = _scan_outcome(bytes(data), "batch")
    assert len(batch[0]) == 150 and batch[1] is not None and "unexpected end of data" in batch[1][1]
    assert batch == _scan_outcome(bytes(data), "header") == _scan_outcome(bytes(data), "tarfile")
    with reading("batch"), pytest.raises(ArchiveError, match="unexpected end of data"):
        read_layer(io.BytesIO(bytes(data)), "layer 1")


_FUZZ_LAYER = _varied_tar(12, seed=5) + _members(tarfile.PAX_FORMAT, ["pax/" + "x" * 120])


@settings(max_examples=500, deadline=None)
@given(mutated=_fuzz.mutations(_FUZZ_LAYER), chunk=st.sampled_from([None, 700, 1536, 4096]))
def test_damaged_headers_read_the_same_on_every_path(mutated, chunk):
    """Random edits in any header (checksum fixed or not), truncations and bit flips: the
    batch and one-header paths give the same members and the same error, at the same place,
    as tarfile's code alone."""
    expected = _scan_outcome(mutated, "tarfile", chunk)
    assert _scan_outcome(mutated, "batch", chunk) == expected
    assert _scan_outcome(mutated, "header", chunk) == expected


@PATHS
def test_layer_sizes_and_paths_as_before(path):
    """read_layer normalises the names and leaves out the root, on both paths."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind in [("./", tarfile.DIRTYPE), ("./etc/", tarfile.DIRTYPE), ("./etc/a", tarfile.REGTYPE),
                           ("/abs//b", tarfile.REGTYPE), ("../../up", tarfile.REGTYPE), ("x/./y/../z", tarfile.REGTYPE)]:
            info = tarfile.TarInfo(name)
            info.type, info.size = kind, 3 if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(b"abc") if kind == tarfile.REGTYPE else None)
    with reading(path):
        entries, size = read_layer(io.BytesIO(buf.getvalue()), "layer")
    assert [e.path for e in entries] == ["etc", "etc/a", "abs/b", "up", "x/z"]
    assert size == 12 and entries[1].digest == file_digest(b"abc") and entries[0].digest == 0


_NUMBER_FIELDS = {"mode": (100, 8), "uid": (108, 8), "gid": (116, 8), "size": (124, 12), "mtime": (136, 12),
                  "devmajor": (329, 8), "devminor": (337, 8)}
_RUN = _members(tarfile.USTAR_FORMAT, [f"f{i}" for i in range(8)]) + bytes(1024)


@settings(max_examples=800, deadline=None)
@given(field=st.sampled_from(sorted(_NUMBER_FIELDS)), member=st.integers(0, 7),
       value=st.text(alphabet="0123456789 \0+-_\x80\xff", min_size=0, max_size=12))
def test_number_fields_spelled_any_way_read_the_same_on_every_path(field, member, value):
    """Spaces before, between or after digits, signs, underscores, 8s and 9s, base-256 marks:
    the batch takes only what tarfile reads to the same number."""
    offset, width = _NUMBER_FIELDS[field]
    data = bytearray(_RUN)
    start = member * 1024 + offset
    data[start:start + width] = value.encode("latin-1")[:width].ljust(width, b"\0")
    block = data[member * 1024:member * 1024 + 512]
    fix_checksum(block)
    data[member * 1024:member * 1024 + 512] = block
    expected = _scan_outcome(bytes(data), "tarfile")
    assert _scan_outcome(bytes(data), "batch") == expected == _scan_outcome(bytes(data), "header")


@PATHS
def test_a_size_in_twelve_digits_is_read_in_full(path):
    """GNU tar and Go may fill all twelve bytes of the size with digits: the walk from header
    to header reads eleven, so that member is tarfile's to read, and the batch goes on after it."""
    data = bytearray(_members(tarfile.USTAR_FORMAT, [f"f{i}" for i in range(100)]))
    header = bytearray(_members(tarfile.USTAR_FORMAT, ["twelve"])[:512])
    header[124:136] = b"%012o" % 700
    fix_checksum(header)
    tail = _members(tarfile.USTAR_FORMAT, [f"g{i}" for i in range(100)]) + bytes(1024)
    data = bytes(data + header + os.urandom(700) + bytes(324) + tail)
    expected = _reference(data)
    assert expected[100][:3] == ("twelve", "0", 700) and len(expected) == 201
    with reading(path):
        assert _scanned(data) == expected


def _walks_agree(data: bytes) -> None:
    """From every block of `data`, the walk started vectorised ends where the plain walk ends,
    with the same offsets."""
    reader = tarscan._Reader(io.BytesIO(b""))
    reader.buf = data
    for at in range(0, len(data) - 511, 512):
        reader.at = at
        assert tarscan._walk(reader, True) == tarscan._walk(reader, False), at


def _tar_holding_a_tar() -> bytes:
    """Plain members, then one whose data is a tar (header look-alikes on block boundaries),
    a size spelled with spaces, a V7 header without the magic, then plain members again."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for i in range(40):
            info = tarfile.TarInfo(f"a/{i}")
            info.size = i * 37
            tar.addfile(info, io.BytesIO(bytes(info.size)))
        inner = _varied_tar(30, seed=3)
        info = tarfile.TarInfo("inner.tar")
        info.size = len(inner)
        tar.addfile(info, io.BytesIO(inner))
        for i in range(40):
            info = tarfile.TarInfo(f"b/{i}")
            info.size = 600
            tar.addfile(info, io.BytesIO(bytes(600)))
    data = bytearray(buf.getvalue())
    spaced = data.index(b"b/3\0") ; v7 = data.index(b"b/9\0")
    data[spaced + 124:spaced + 136] = b"     1130 \0 "  # 600 in octal, spelled with spaces
    data[v7 + 257:v7 + 265] = bytes(8)  # no magic: a V7 header
    for start in (spaced, v7):
        block = data[start:start + 512]
        fix_checksum(block)
        data[start:start + 512] = block
    return bytes(data)


def test_the_vectorised_walk_takes_the_steps_of_the_walk():
    """tarheaders.walk starts the walk at once, as far as it can vouch for each step: past a
    tar held in a member's data, a size spelled with spaces and a header without the magic,
    the walk goes on from where it stopped, to the same end."""
    data = _tar_holding_a_tar()
    _walks_agree(data)
    from dive_py.sources import tarheaders

    offsets, stopped = tarheaders.walk(data, 0)
    assert len(offsets) == 40 and data[stopped:stopped + 9] == b"inner.tar"  # steps were taken
    assert _scanned(data) == _reference(data)


_WALK_LAYER = _varied_tar(40, seed=11)


@settings(max_examples=200, deadline=None)
@given(mutated=_fuzz.mutations(_WALK_LAYER))
def test_the_vectorised_walk_agrees_on_damaged_headers(mutated):
    _walks_agree(mutated)


def test_the_collector_is_back_as_it_was_after_a_layer_read_or_failed():
    import gc

    from dive_py.gcpause import collector_paused

    good = _varied_tar(50, seed=2)
    assert gc.isenabled()
    read_layer(io.BytesIO(good), "layer")
    assert gc.isenabled()
    with pytest.raises(ArchiveError):
        read_layer(io.BytesIO(good[:5000]), "layer")
    assert gc.isenabled()
    with collector_paused():  # nested, as concurrent readers would be
        assert not gc.isenabled()
        read_layer(io.BytesIO(good), "layer")
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        read_layer(io.BytesIO(good), "layer")
        assert not gc.isenabled()  # a program that turned it off keeps it off
    finally:
        gc.enable()


def test_a_layer_of_big_files_does_not_import_numpy(tmp_path):
    """numpy (0.1 s, 14 MB) is for layers dense with small files only."""
    import subprocess
    import sys

    path = tmp_path / "layer.tar"
    path.write_bytes(_python_tar(tarfile.GNU_FORMAT))
    dense = tmp_path / "dense.tar"
    dense.write_bytes(_members(tarfile.USTAR_FORMAT, [f"f{i}" for i in range(3000)]) + bytes(1024))
    probe = ("import sys; from dive_py.sources.layer_tar import read_layer; "
             "read_layer(open(sys.argv[1], 'rb'), 'layer'); print('numpy' in sys.modules)")
    for layer, imported in ((path, "False"), (dense, "True")):
        out = subprocess.run([sys.executable, "-c", probe, str(layer)], capture_output=True, text=True,
                             check=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        assert out.stdout.strip() == imported


def test_a_number_beyond_64_bits_is_a_clean_error():
    """tarfile reads base-256 numbers of any length (a 12-byte size field holds 88 bits, and a
    directory's size is never skipped over); the entry columns hold 64 bits."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("huge-dir")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    header = bytearray(out.getvalue()[:512])
    header[124:136] = b"\x80" + (2**70).to_bytes(11, "big")
    header[148:156] = b"        "
    header[148:156] = b"%06o\0 " % sum(header)
    with tarfile.open(fileobj=io.BytesIO(bytes(header) + bytes(1024))) as tar:
        assert tar.getmembers()[0].size == 2**70  # tarfile reads it
    with pytest.raises(ArchiveError, match=r"^layer: not a valid tar \(a size beyond 64 bits\)$"):
        read_layer(io.BytesIO(bytes(header) + bytes(1024)), "layer")


@settings(max_examples=300, deadline=None)
@given(block=st.binary(min_size=512, max_size=512))
def test_byte_sum_is_the_sum_of_the_bytes(block):
    assert tarscan.byte_sum(block) == sum(block)


def test_byte_sum_of_the_largest_block():
    assert tarscan.byte_sum(b"\xff" * 512) == 255 * 512


@pytest.mark.parametrize("size", [-5, 0, 40, 2000, 5000])
def test_a_file_is_hashed_from_where_the_reader_is(size):
    """In the buffer or across chunks; a negative size (base-256 allows one) reads nothing."""
    data = bytes(range(256)) * 20

    class Trickle(io.BytesIO):  # hands the data over 1,000 bytes at a time
        def read1(self, size=-1):
            return super().read1(min(1000, size) if size >= 0 else 1000)

    reader = tarscan._Reader(Trickle(data))
    reader.read(10)
    digest = reader.hash(size)
    taken = data[10:10 + max(size, 0)]
    assert digest == tarscan.file_digest(taken)
    assert reader.pos == 10 + len(taken)
