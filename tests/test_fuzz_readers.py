"""Fuzzing the archive and layer readers with mutated valid archives (hypothesis).

Truncations, bit flips and tar header field edits (with the header checksum fixed up, so the
edit gets past the checksum and into the reader) must end in a clean DivePyError or in an
image whose layers hold exactly what the original's hold: digests are verified, so a change
that survives reading cannot have changed a layer. Any other exception fails the test.

DIVEPY_FUZZ_EXAMPLES sets the examples per test (default 1500: about 30 s for the file here).
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from datetime import timedelta

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dive_py.analysis.analyze import analyze
from dive_py.errors import DivePyError
from dive_py.sources.archive import read_tar_stream
from dive_py.sources.assemble import image_from_parts
from dive_py.sources.layer_tar import read_layer
from tests.hostile import Entry, dir_entry, fix_checksum, layer_tar, legacy, oci, write_tar

EXAMPLES = int(os.environ.get("DIVEPY_FUZZ_EXAMPLES", "1500"))
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=20), derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

LAYERS = [
    layer_tar([dir_entry("etc"), Entry("etc/a", data=b"a" * 700), Entry("etc/l", "2", link="a"),
               Entry("etc/h", "1", link="etc/a"), Entry("x" * 120, data=b"long name")]),
    layer_tar([Entry("etc/a", data=b"b" * 100), Entry("etc/.wh.l"), Entry("var/.wh..wh..opq"),
               Entry("var/new", data=b"n" * 1500)]),
]
# the layer fields that tell one reading from another
Fingerprint = list[tuple[tuple, int]]


def _archive(form: str) -> bytes:
    buf = io.BytesIO()
    members = legacy(LAYERS) if form == "legacy" else oci(LAYERS, compress=_compressor(form))
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _compressor(form: str):
    return {"oci-gzip": lambda b: gzip.compress(b, mtime=0), "oci-zstd": zstandard.compress}[form]


def _read(data: bytes) -> Fingerprint:
    parts = read_tar_stream(io.BytesIO(data), "fuzz.tar")
    image = image_from_parts(parts, "fuzz", "docker-archive")
    analyze(image)  # the analysis must not fail on what the reader let through
    return [(layer.entries, layer.size) for layer in image.layers]


FORMS = ["legacy", "oci-gzip", "oci-zstd"]
ORIGINALS = {form: _archive(form) for form in FORMS}
EXPECTED = {form: _read(data) for form, data in ORIGINALS.items()}

# tar header fields: (offset, length)
FIELDS = {"name": (0, 100), "mode": (100, 8), "uid": (108, 8), "size": (124, 12), "mtime": (136, 12),
          "type": (156, 1), "linkname": (157, 100), "magic": (257, 6), "prefix": (345, 155)}


@st.composite
def mutations(draw, data: bytes) -> bytes:
    out = bytearray(data)
    kind = draw(st.sampled_from(["truncate", "flip", "header", "header"]))
    if kind == "truncate":
        return bytes(out[: draw(st.integers(0, len(out) - 1))])
    if kind == "flip":
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(out) - 1))
            out[at] ^= 1 << draw(st.integers(0, 7))
        return bytes(out)
    # a header field edit: any 512-byte block may be a header (layer tars sit block-aligned)
    headers = [i for i in range(0, len(out) - 512, 512) if out[i + 257:i + 262] == b"ustar"]
    start = draw(st.sampled_from(headers))
    offset, length = FIELDS[draw(st.sampled_from(sorted(FIELDS)))]
    value = draw(st.one_of(
        st.binary(min_size=1, max_size=length),
        st.integers(0, 8**(length - 1) - 1).map(lambda n: b"%o" % n),
        st.sampled_from([b"../../x", b"/abs", b"0" * length, b"7" * length, b"\x80" + b"\xff" * 7,
                         b"5", b"1", b"2", b"L", b"x", b"g"]).map(lambda v: v[:length]),
    ))
    block = out[start:start + 512]
    block[offset:offset + len(value)] = value
    if draw(st.booleans()):
        fix_checksum(block)
    out[start:start + 512] = block
    return bytes(out)


def _check(form: str, mutated: bytes) -> None:
    try:
        got = _read(mutated)
    except DivePyError as exc:
        assert "\n" not in str(exc)
        return
    assert got == EXPECTED[form], "a mutated archive read without error but with different layers"


@pytest.mark.parametrize("form", FORMS)
def test_mutated_archives_fail_cleanly_or_read_the_same(form):
    @FUZZ
    @given(mutations(ORIGINALS[form]))
    def check(mutated):
        _check(form, mutated)

    check()


LAYER_BLOBS = {
    "plain": LAYERS[0],
    "gzip": gzip.compress(LAYERS[0], mtime=0),
    "zstd": zstandard.compress(LAYERS[0]),
}


@pytest.mark.parametrize("kind", sorted(LAYER_BLOBS))
def test_mutated_layer_blobs_read_or_fail_cleanly(kind):
    """Without digests to hold them to, a layer may read differently, but only ever as entries
    or a clean error."""

    @FUZZ
    @given(mutations(LAYER_BLOBS[kind]) if kind == "plain" else _blob_mutations(LAYER_BLOBS[kind]))
    def check(mutated):
        try:
            entries, size = read_layer(io.BytesIO(mutated), "fuzz layer")
        except DivePyError as exc:
            assert "\n" not in str(exc)
            return
        assert size == sum(entry.size for entry in entries)

    check()


@st.composite
def _blob_mutations(draw, data: bytes) -> bytes:
    out = bytearray(data)
    if draw(st.booleans()):
        return bytes(out[: draw(st.integers(0, len(out) - 1))])
    for _ in range(draw(st.integers(1, 4))):
        out[draw(st.integers(0, len(out) - 1))] ^= 1 << draw(st.integers(0, 7))
    return bytes(out)


def test_the_seed_archives_read(tmp_path):
    """The fuzzers start from archives the command line reads."""
    from tests.helpers import run_divepy

    path = write_tar(tmp_path / "seed.tar", legacy(LAYERS))
    assert run_divepy(path, "--json", str(tmp_path / "o.json")).returncode == 0
    assert all(EXPECTED[form] == EXPECTED["legacy"] for form in FORMS)
