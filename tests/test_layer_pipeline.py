"""A compressed layer is decompressed in one thread (streams.ReadAhead) and its blob hashed in
another (verify.BackgroundHash) while the calling thread hashes and scans the tar. The entries,
both digests and every error must be those of a plain front-to-back read, and no helper thread
may outlive its layer, whether the read ends, fails in the decompressor, fails in the scan, or
is cancelled by the progress callback.

The layers here are several megabytes (many 1 MB chunks), so the helper threads are well ahead
of the scan, with full queues, when something goes wrong.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import tarfile
import threading

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from dive_py.errors import ArchiveError
from dive_py.sources.layer_tar import decompressed, read_layer
from dive_py.sources.streams import CHUNK, ReadAhead
from dive_py.sources.tarscan import file_digest
from dive_py.sources.verify import BackgroundHash, LayerHashes
from tests.helpers import run_divepy
from tests.hostile import Entry, dir_entry, fails, layer_tar, legacy, oci, sha256, write_tar, zero_bomb

MEMORY = 512 << 20  # the address space the command runs in (as in test_hostile_archives)


def _big_tar(seed: int = 6) -> bytes:
    """About 7 MB: random (incompressible) and text files, one file of 3 MB across chunks."""
    rng = random.Random(seed)
    entries = [dir_entry("data"), dir_entry("text")]
    for i in range(40):
        entries.append(Entry(f"data/r{i:02d}.bin", data=rng.randbytes(rng.randrange(1, 90_000))))
        entries.append(Entry(f"text/t{i:02d}.txt", data=(b"line %d of a text file\n" % i) * rng.randrange(1, 4000)))
    entries.append(Entry("data/big.bin", data=rng.randbytes(3 << 20)))
    entries.append(Entry("data/empty"))
    entries.append(Entry("data/link", "2", link="big.bin"))
    return layer_tar(entries)


BIG_TAR = _big_tar()


def _zstd_two_frames(data: bytes) -> bytes:
    half = len(data) // 2
    return zstandard.compress(data[:half]) + zstandard.compress(data[half:])


COMPRESSIONS = {
    "none": lambda data: data,
    "gzip": lambda data: gzip.compress(data, 1, mtime=0),
    "zstd": zstandard.compress,
    "zstd, two frames": _zstd_two_frames,
}


def _reference(data: bytes) -> list[tuple]:
    """Path, type, size and content hash of each member, as tarfile reads them."""
    out = []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            if m.isdir():
                digest = 0
            else:
                digest = file_digest(tar.extractfile(m).read() if m.isreg() else b"")
            out.append((m.name, m.type.decode(), m.size, digest))
    return out


def _helpers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("divepy-")]


@pytest.mark.parametrize("named", [True, False], ids=["named", "unnamed"])
@pytest.mark.parametrize("kind", COMPRESSIONS)
def test_every_compression_gives_the_same_entries_and_digests(kind, named):
    """A blob named by its digest is hashed as stored, and only an uncompressed one gets a diff
    ID from it; one without such a name gets its diff ID from its tar (sources.verify)."""
    blob = COMPRESSIONS[kind](BIG_TAR)
    hashes = LayerHashes(io.BytesIO(blob), named=named)
    entries, size = read_layer(hashes.blob, "layer 1", None, hashes)
    found = hashes.result()
    assert [(e.path, e.type, e.size, e.digest) for e in entries] == _reference(BIG_TAR)
    assert size == sum(e.size for e in entries)
    compressed = kind != "none"
    expected_digest = sha256(blob) if named or not compressed else ""
    expected_diff_id = "" if named and compressed else sha256(BIG_TAR)
    assert (found.digest, found.size, found.diff_id) == (expected_digest, len(blob), expected_diff_id)
    assert _helpers() == []


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_a_named_compressed_blob_is_hashed_by_its_decompressor(kind):
    """No hash thread of its own: each chunk is hashed by the thread that reads it to decompress
    it, which runs beside the scan already (a third thread cost more than it saved)."""
    blob = COMPRESSIONS[kind](BIG_TAR)
    seen: list[list[str]] = []
    hashes = LayerHashes(io.BytesIO(blob), named=True)
    read_layer(hashes.blob, "layer 1", lambda n: seen.append(_helpers()), hashes)
    assert hashes.result().digest == sha256(blob)
    assert seen and not any("divepy-sha256" in names for names in seen)
    plain = LayerHashes(io.BytesIO(BIG_TAR), named=True)
    seen.clear()
    read_layer(plain.blob, "layer 1", lambda n: seen.append(_helpers()), plain)
    assert any("divepy-sha256" in names for names in seen)  # an uncompressed blob: its own thread


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=3000), chunk=st.integers(1, 700), depth=st.integers(1, 4),
       sizes=st.lists(st.integers(0, 1500), min_size=1, max_size=40))
def test_read_ahead_reads_exactly_what_was_asked(data, chunk, depth, sizes):
    with ReadAhead(io.BytesIO(data), chunk, depth) as ahead:
        got, at = [], 0
        for n in sizes:
            piece = ahead.read(n)
            assert len(piece) == min(n, len(data) - at)
            got.append(piece)
            at += len(piece)
        got.append(ahead.read())
    assert b"".join(got) == data
    assert _helpers() == []


def _until_error(stream, size: int) -> tuple[bytes, BaseException]:
    parts = []
    try:
        while piece := stream.read(size):
            parts.append(piece)
    except Exception as exc:  # noqa: BLE001 (the error is the result)
        return b"".join(parts), exc
    raise AssertionError("the stream did not fail")


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_read_ahead_fails_where_a_direct_readfails(kind):
    """A cut stream: the same bytes, then the same error, as reading it in this thread in the
    same pieces (a gzip reader drops what it decompressed in the read that fails)."""
    blob = COMPRESSIONS[kind](BIG_TAR)
    cut = blob[: len(blob) * 3 // 5]
    direct, direct_error = _until_error(decompressed(io.BytesIO(cut))[0], CHUNK)
    with ReadAhead(decompressed(io.BytesIO(cut))[0]) as ahead:
        ahead_bytes, ahead_error = _until_error(ahead, CHUNK)
        with pytest.raises(type(ahead_error)):
            ahead.read(1)  # and again on the next read
    assert ahead_bytes == direct and len(direct) > 2 << 20
    assert (type(ahead_error), str(ahead_error)) == (type(direct_error), str(direct_error))
    assert _helpers() == []


def test_close_ends_a_thread_waiting_to_hand_over_a_chunk():
    """1 GB of zeros behind 30 KB of zstd: the thread fills its queue and waits; close() must
    still end it at once."""
    blob, _ = zero_bomb("zstd", 1 << 30)
    ahead = ReadAhead(decompressed(io.BytesIO(blob))[0], depth=2)
    assert len(ahead.read(10)) == 10
    ahead.close()
    assert _helpers() == []


def test_background_hash_is_the_same_hash():
    rng = random.Random(1)
    pieces = [rng.randbytes(rng.choice([0, 1, 100, 70_000, 1 << 20])) for _ in range(30)]
    h = BackgroundHash("sha256")
    for piece in pieces[:20]:
        h.update(piece)
    assert h.hexdigest() == hashlib.sha256(b"".join(pieces[:20])).hexdigest()
    for piece in pieces[20:]:  # as with hashlib, hashing goes on after a digest
        h.update(piece)
    assert h.hexdigest() == hashlib.sha256(b"".join(pieces)).hexdigest()
    unread = BackgroundHash("sha512")
    unread.update(pieces[0])
    unread.close()
    assert _helpers() == []


def _with_bad_header(blob_of, name: bytes) -> bytes:
    """The big tar with the checksum of one header broken, then compressed."""
    data = bytearray(BIG_TAR)
    at = data.index(name)
    start = at - at % 512
    data[start + 100] ^= 0x04  # a mode digit: still octal, the checksum no longer adds up
    return blob_of(bytes(data))


BROKEN = {
    "zstd cut": (lambda: zstandard.compress(BIG_TAR)[:-(2 << 20)], "truncated or corrupt zstd data"),
    "gzip cut": (lambda: gzip.compress(BIG_TAR, 1, mtime=0)[:-(2 << 20)], "truncated or corrupt gzip data"),
    # the scan stops at once, the decompressing thread is megabytes from the end
    "zstd, bad first file header": (lambda: _with_bad_header(zstandard.compress, b"data/r00.bin"), "checksum"),
    "gzip, bad first file header": (lambda: _with_bad_header(gzip.compress, b"data/r00.bin"), "checksum"),
    # the scan stops at the end, the decompressing thread is done
    "zstd, bad last header": (lambda: _with_bad_header(zstandard.compress, b"data/link"), "checksum"),
    "zstd, garbage 4 MB in": (lambda: (lambda b: b[:4 << 20] + b"\xff" * 4096 + b[(4 << 20) + 4096:])(
        zstandard.compress(BIG_TAR)), "layer 1"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_layer_is_one_error_and_leaves_no_thread(case):
    make, needle = BROKEN[case]
    blob = make()
    hashes = LayerHashes(io.BytesIO(blob))
    with pytest.raises(ArchiveError) as failed:
        read_layer(hashes.blob, "layer 1", None, hashes)
    assert needle in str(failed.value) and "\n" not in str(failed.value)
    assert _helpers() == []


class _Cancelled(Exception):
    pass


@pytest.mark.parametrize("kind", ["none", "gzip", "zstd"])
def test_a_progress_callback_can_cancel_the_read(kind):
    """The explorer cancels a load by raising from its progress callback, which the read calls
    from its decompressing thread: the exception itself comes out, and no thread stays."""
    seen = []

    def progress(n: int) -> None:
        seen.append(n)
        if sum(seen) > 2 << 20:
            raise _Cancelled

    hashes = LayerHashes(io.BytesIO(COMPRESSIONS[kind](BIG_TAR)))
    with pytest.raises(_Cancelled):
        read_layer(hashes.blob, "layer 1", progress, hashes)
    assert _helpers() == []


# ---------------------------------------------------------------- through the command


def _layer_name(members: dict[str, bytes], blob: bytes) -> str:
    return next(name for name, data in members.items() if data == blob)


def _run(tmp_path, members):
    return run_divepy(f"oci-archive://{write_tar(tmp_path / 'o.tar', members)}", "--json",
                      str(tmp_path / "out.json"), timeout=120, max_memory=MEMORY)


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_the_command_checks_a_big_unnamed_layer_against_its_diff_id(tmp_path, kind):
    """A legacy save's `<id>/layer.tar` has no digest in its name: its tar is hashed for the
    config's diff ID, compressed or not."""
    blob = COMPRESSIONS[kind](BIG_TAR)
    for diff_id in (sha256(BIG_TAR), "sha256:" + "0" * 64):
        archive = write_tar(tmp_path / "l.tar", legacy([blob], diff_ids=[diff_id]))
        proc = run_divepy(f"docker-archive://{archive}", "--ci", timeout=120, max_memory=MEMORY)
        if diff_id == sha256(BIG_TAR):
            assert proc.returncode in (0, 1), proc.stderr  # read (1: the rules failed the tiny image)
        else:
            fails(proc, "layer0/layer.tar", "does not match the config's diff ID", sha256(BIG_TAR))


def test_the_command_checks_a_big_zstd_blob_against_its_name(tmp_path):
    """One byte changed in the middle of a zstd blob of random data: it sits in a raw block,
    decompresses without a complaint, and only the blob's digest can tell."""
    members = oci([BIG_TAR], compress=zstandard.compress)
    name = _layer_name(members, zstandard.compress(BIG_TAR))
    data = bytearray(members[name])
    data[len(data) // 2] ^= 0x01
    members[name] = bytes(data)
    fails(_run(tmp_path, members), name[-20:], "does not match")


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_the_command_reports_a_big_layer_cut_short(tmp_path, kind):
    blob = COMPRESSIONS[kind](BIG_TAR)
    members = oci([BIG_TAR], compress=COMPRESSIONS[kind])
    name = _layer_name(members, blob)
    members[name] = blob[: len(blob) // 2]
    fails(_run(tmp_path, members), name[-20:], f"truncated or corrupt {kind} data")
