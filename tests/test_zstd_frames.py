"""verify.ZstdFrames: a zstd stream followed frame by frame, and with `unchecked` handed on
without the frames' own checksums, for readers that check a sha256 that proves the output (a
blob named by its digest, or a layer whose diff ID the config gives)."""

from __future__ import annotations

import io
import random

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from dive_py.errors import ArchiveError
from dive_py.sources.layer_tar import read_layer
from dive_py.sources.verify import LayerHashes, ZstdFrames
from tests.hostile import Entry, dir_entry, layer_tar, legacy, sha256, write_tar
from tests.helpers import run_divepy

CHECKED = zstandard.ZstdCompressor(write_checksum=True)


def _skippable(payload: bytes) -> bytes:
    return (0x184D2A5E).to_bytes(4, "little") + len(payload).to_bytes(4, "little") + payload


def _frames(data: bytes, cuts: list[int], skippable: bool) -> bytes:
    """`data` as one zstd frame per part (each with its checksum), skippable frames between."""
    edges = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    out = b""
    for start, end in zip(edges, edges[1:]):
        out += CHECKED.compress(data[start:end])
        if skippable:
            out += _skippable(b"x" * (start % 7))
    return out


class _Pieces(io.RawIOBase):
    """A stream that hands its bytes over in pieces of the given sizes (in turn)."""

    def __init__(self, data: bytes, sizes: list[int]):
        self._data, self._sizes, self._at, self._turn = data, sizes, 0, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        step = self._sizes[self._turn % len(self._sizes)]
        self._turn += 1
        if size is not None and size >= 0:
            step = min(step, size)
        piece = self._data[self._at:self._at + step]
        self._at += len(piece)
        return piece


def _passed(blob: bytes, sizes: list[int], unchecked: bool) -> bytes:
    frames = ZstdFrames(_Pieces(blob, sizes), unchecked)  # type: ignore[arg-type]
    return b"".join(iter(lambda: frames.read(1 << 16), b""))


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32), cuts=st.lists(st.integers(0, 1 << 17), max_size=3),
       sizes=st.lists(st.integers(1, 9_000), min_size=1, max_size=6), skippable=st.booleans())
def test_without_checksums_the_stream_decompresses_to_the_same_bytes(seed, cuts, sizes, skippable):
    """However the stream is cut into reads (a checksum split across reads, a read that is all
    checksum), the frames come out with no checksum flag and 4 bytes shorter each, and they
    decompress to exactly the original bytes."""
    rng = random.Random(seed)
    data = rng.randbytes(rng.randrange(0, 40_000)) + b"text " * rng.randrange(0, 5_000)
    blob = _frames(data, cuts, skippable)
    plain = _passed(blob, sizes, unchecked=False)
    assert plain == blob
    stripped = _passed(blob, sizes, unchecked=True)
    frames = len(cuts) + 1
    assert len(stripped) == len(blob) - 4 * frames
    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(stripped), read_across_frames=True)
    assert reader.read() == data
    first = zstandard.get_frame_parameters(stripped)
    assert not first.has_checksum
    assert zstandard.get_frame_parameters(blob).has_checksum


def test_a_wrong_checksum_is_not_checked_when_dropped():
    """The decompressor sees no checksum at all: a wrong one fails only the checked read."""
    data = b"some layer bytes " * 10_000
    blob = bytearray(CHECKED.compress(data))
    blob[-1] ^= 0xFF
    with pytest.raises(zstandard.ZstdError):
        zstandard.ZstdDecompressor().stream_reader(ZstdFrames(io.BytesIO(bytes(blob)))).read()  # type: ignore[arg-type]
    unchecked = ZstdFrames(io.BytesIO(bytes(blob)), unchecked=True)  # type: ignore[arg-type]
    assert zstandard.ZstdDecompressor().stream_reader(unchecked).read() == data


def _layer(seed: int = 3) -> bytes:
    rng = random.Random(seed)
    return layer_tar([dir_entry("data"), *(Entry(f"data/r{i}.bin", data=rng.randbytes(200_000)) for i in range(8))])


def _raw_block_flip(blob: bytes) -> bytes:
    """`blob` with one byte of file data changed: random data sits in raw blocks, which the
    decompressor copies as they are, so only a checksum of the output can tell."""
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0x01
    return bytes(flipped)


@pytest.mark.parametrize("proof", ["none", "diff ID", "name"])
def test_a_changed_byte_is_caught_with_or_without_the_frame_checksum(proof):
    """A layer with nothing to prove it keeps the frame checksum, and the decompressor fails. A
    layer read for its diff ID skips it, and its diff ID differs. A blob named by its digest
    skips it too: its digest is of the bytes as stored, which the caller compares with the
    name, and the decompressor's output follows from those bytes."""
    tar = _layer()
    blob = _raw_block_flip(CHECKED.compress(tar))
    hashes = LayerHashes(io.BytesIO(blob), named=proof == "name", claimed=proof == "diff ID")
    if proof == "none":
        with pytest.raises(ArchiveError, match="corrupt zstd data"):
            read_layer(hashes.blob, "layer 0", None, hashes)
        return
    read_layer(hashes.blob, "layer 0", None, hashes)
    found = hashes.result()
    if proof == "diff ID":
        assert found.diff_id not in ("", sha256(tar))
    else:
        assert (found.digest, found.diff_id) == (sha256(blob), "")


def test_the_command_reports_a_changed_byte_in_a_checksummed_zstd_layer(tmp_path):
    """Through the command: a legacy save's layer.tar has no digest in its name, so the diff ID
    is what tells."""
    tar = _layer()
    archive = write_tar(tmp_path / "l.tar", legacy([_raw_block_flip(CHECKED.compress(tar))], diff_ids=[sha256(tar)]))
    out = run_divepy(f"docker-archive://{archive}", "--ci", cwd=str(tmp_path))
    assert out.returncode == 3, out.stderr
    assert "does not match the config's diff ID" in out.stderr
    assert sha256(tar) in out.stderr


@pytest.mark.parametrize("cut", range(-5, 2))
def test_a_read_may_end_inside_a_checksum(cut):
    """Reads that end just before, inside and just after the first frame's checksum, with more
    frames after it in the same read."""
    data = b"first frame " * 1000, b"second frame " * 1000, b"third " * 100
    blob = b"".join(CHECKED.compress(part) for part in data)
    first = len(CHECKED.compress(data[0]))
    stripped = _passed(blob, [first + cut, len(blob)], unchecked=True)
    assert len(stripped) == len(blob) - 12
    assert zstandard.ZstdDecompressor().stream_reader(io.BytesIO(stripped), read_across_frames=True).read() == b"".join(data)
