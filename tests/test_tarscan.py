"""The fast tar scanner reads exactly what tarfile reads, on archives made by tarfile and GNU tar."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile

import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from dive_py.errors import ArchiveError
from dive_py.sources.layer_tar import read_layer
from dive_py.sources import tarscan
from dive_py.sources.tarscan import scan
from dive_py.sources.verify import StrictTarInfo

LONG = "deep/" * 30 + "name-longer-than-a-ustar-header-can-hold.txt"


def _reference(data: bytes) -> list[tuple]:
    """What tarfile itself reads, members and contents, with random access."""
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for m in tar:
            if m.isdir():
                digest = 0
            elif m.isreg():
                digest = xxhash.xxh64_intdigest(tar.extractfile(m).read())
            else:
                digest = xxhash.xxh64_intdigest(b"")
            out.append((m.name, m.type, m.size, m.mode, m.uid, m.gid, m.linkname, digest))
    return out


def _scanned(data: bytes) -> list[tuple]:
    return [(m.name, m.type, m.size, m.mode, m.uid, m.gid, m.linkname, digest)
            for m, digest in scan(io.BufferedReader(io.BytesIO(data)))]


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


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_same_members_as_tarfile(fmt):
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
    assert _scanned(data) == expected


@pytest.mark.parametrize("fmt", ["gnu", "posix"])
def test_gnu_tar_sparse_and_long_names(tmp_path, fmt):
    data = _gnu_tar(tmp_path, fmt)
    expected = _reference(data)
    assert any(size == (5 << 20) + 4 for _, _, size, *_ in expected)  # the sparse file, expanded
    assert any(name.endswith(LONG) for name, *_ in expected)
    assert _scanned(data) == expected


def test_bad_first_header_and_truncation_are_archive_errors():
    data = bytearray(_python_tar(tarfile.PAX_FORMAT))
    for broken in (bytes([data[0] ^ 0xFF]) + bytes(data[1:]),  # checksum no longer matches
                   bytes(data[: len(data) // 2]),  # cut inside a file's data
                   bytes(data[:700])):  # cut inside the second header
        with pytest.raises(ArchiveError):
            read_layer(io.BytesIO(broken), "layer 1")


def test_bad_later_header_is_an_error_not_the_end():
    """tarfile would stop at the third header and report two files; a layer cut short must
    not pass for a smaller one."""
    data = bytearray(_python_tar(tarfile.GNU_FORMAT))
    with tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
        third = tar.getmembers()[2].offset
    data[third + 148] ^= 0x07  # the third header's checksum
    assert len(_reference(bytes(data))) == 2
    with pytest.raises(ArchiveError, match="bad checksum"):
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


def _fields(m: tarfile.TarInfo) -> tuple:
    return (m.name, m.type, m.size, m.mode, m.uid, m.gid, m.linkname, m.offset, m.offset_data)


def _first_reference(data: bytes):
    """The first member as tarfile reads it with the checks of Go's archive/tar (StrictTarInfo)."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:", tarinfo=StrictTarInfo) as tar:
        member = tar.next()
        return _fields(member) if member is not None else None


def _first_scanned(data: bytes):
    """The first header as the scanner parses it (its contents are not read: tarfile.next
    does not read them either)."""
    member = tarscan._next_header(tarscan._Reader(io.BytesIO(data)))
    return _fields(member) if member is not None else None


@pytest.mark.parametrize("damage", ["deflate", "crc", "cut"])
def test_broken_gzip_layer_is_an_archive_error(damage):
    import gzip

    blob = gzip.compress(_python_tar(tarfile.PAX_FORMAT))
    broken = {"deflate": blob[:20] + b"\xff" * 64 + blob[84:],
              "crc": blob[:-8] + bytes(4) + blob[-4:],
              "cut": blob[: len(blob) // 2]}[damage]
    with pytest.raises(ArchiveError, match="layer 1"):
        read_layer(io.BytesIO(broken), "layer 1")
