"""The layer cache: hit on a second look, never trusted when broken, bounded, bypassable."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tarfile
import time

import pytest

from dive_py.demo import demo_layers
from dive_py.errors import ArchiveError
from dive_py.imagewriter import Entry, dir_entry, layer_tar, write_docker_archive
from dive_py.sources.layercache import LayerCache, decode, encode
from dive_py.sources.resolve import Source
from tests.helpers import divepy_json, run_dive_json, run_divepy, saves_during
from tests.test_reference_parity import assert_same_export


def _demo_archive(path) -> str:
    layers, history = demo_layers()
    return write_docker_archive(str(path), layers[:-1], history[:-3])


def _wipe_layer_data(archive: str) -> int:
    """Overwrite every layer.tar member's bytes with 0xff, in place; headers stay."""
    with tarfile.open(archive) as tar:
        spans = [(m.offset_data, m.size) for m in tar.getmembers() if m.name.endswith("layer.tar")]
    with open(archive, "r+b") as fh:
        for offset, size in spans:
            fh.seek(offset)
            fh.write(b"\xff" * size)
    return len(spans)


def _json(archive: str, where, *extra: str) -> dict:
    os.makedirs(where, exist_ok=True)
    return divepy_json(archive, str(where), *extra)


def _cache_files(cache_home: str) -> list[str]:
    root = os.path.join(cache_home, "divepy", "v1", "layers")
    return sorted(os.path.join(root, n) for n in os.listdir(root)) if os.path.isdir(root) else []


@pytest.fixture
def cache_home(tmp_path, monkeypatch) -> str:
    home = str(tmp_path / "xdg")
    monkeypatch.setenv("XDG_CACHE_HOME", home)
    return home


def test_second_run_reads_no_layer_bytes(tmp_path, cache_home):
    """With the layers wiped from the archive, only the cache can still give the right answer."""
    archive = _demo_archive(tmp_path / "demo.tar")
    first = _json(archive, tmp_path / "a")
    assert len(_cache_files(cache_home)) == len(first["layer"])
    assert _wipe_layer_data(archive) == len(first["layer"])
    assert _json(archive, tmp_path / "b") == first
    # the wipe is real: without the cache the archive is unreadable now
    proc = run_divepy(archive, "--json", str(tmp_path / "c.json"), "--no-cache")
    assert proc.returncode == 3, proc.stderr


def test_no_cache_neither_reads_nor_writes(tmp_path, cache_home):
    archive = _demo_archive(tmp_path / "demo.tar")
    _json(archive, tmp_path / "a", "--no-cache")
    assert not os.path.exists(os.path.join(cache_home, "divepy"))
    _json(archive, tmp_path / "b")
    _wipe_layer_data(archive)
    assert run_divepy(archive, "--json", str(tmp_path / "c.json"), "--no-cache").returncode == 3


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "old-format"])
def test_broken_entry_is_ignored_and_rebuilt(tmp_path, cache_home, damage):
    archive = _demo_archive(tmp_path / "demo.tar")
    first = _json(archive, tmp_path / "a")
    victim = _cache_files(cache_home)[0]
    with open(victim, "rb") as fh:
        good = fh.read()
    bad = {
        "garbage": b"not a cache entry at all",
        "truncated": good[: len(good) // 2],
        "flipped": good[:-1] + bytes([good[-1] ^ 0xFF]),
        # the same entry, but labelled as format 0: another divepy's layout is never read
        "old-format": good[:8] + struct.pack("<H", 0) + good[10:],
    }[damage]
    assert decode(bad) is None
    with open(victim, "wb") as fh:
        fh.write(bad)
    assert _json(archive, tmp_path / "b") == first
    with open(victim, "rb") as fh:
        assert decode(fh.read()) == decode(good)  # read from the archive again, stored again


def test_entry_round_trips_odd_names():
    entries = (
        Entry("caf\udcc3.txt"),  # a non-UTF-8 name, surrogate-escaped as tarfile gives it
    )
    from dive_py.model.fileinfo import FileInfo

    data = (tuple(FileInfo(e.path, "0", 3, 0o4755, 1000, 1000, "t\u00e4rget", 2**64 - 1) for e in entries), 3)
    assert decode(encode(data)) == data


def test_least_recently_used_entries_go_first(tmp_path):
    cache = LayerCache(str(tmp_path), limit=10**9)
    layer = (tuple(), 0)
    ids = ["sha256:" + hashlib.sha256(bytes([i])).hexdigest() for i in range(4)]
    for diff_id in ids[:3]:
        cache.put_layer(diff_id, layer)
    entry_size = os.path.getsize(os.path.join(cache.root, "layers", ids[0][7:]))
    now = time.time()
    for age, diff_id in zip((300, 200, 100), ids):  # ids[0] oldest
        path = os.path.join(cache.root, "layers", diff_id[7:])
        os.utime(path, (now - age, now - age))
    assert cache.get_layer(ids[0]) == layer  # a use: ids[0] is now the most recent
    cache.limit = 3 * entry_size
    cache.put_layer(ids[3], layer)
    assert [cache.has_layer(d) for d in ids] == [True, False, True, True]


def test_a_lying_config_cannot_poison_the_cache(tmp_path, cache_home):
    """Archive A claims its layer is B's diff ID; B must still show B's own files."""
    honest = [[dir_entry("b"), Entry("b/real.txt", data=b"real")]]
    liar = [[dir_entry("a"), Entry("a/fake.txt", data=b"fake")]]
    b_archive = write_docker_archive(str(tmp_path / "b.tar"), honest, tag="divepy/i6-b:1")
    b_diff_id = "sha256:" + hashlib.sha256(layer_tar(honest[0])).hexdigest()
    a_archive = write_docker_archive(str(tmp_path / "a.tar"), liar, tag="divepy/i6-a:1",
                                     config_extra={"rootfs": {"type": "layers", "diff_ids": [b_diff_id]}})
    with pytest.raises(ArchiveError, match="does not match the config's diff ID"):
        Source("docker-archive", a_archive).load()
    Source("docker-archive", a_archive).load(keep_broken=True)  # the explorer's way: error row
    assert not LayerCache().has_layer(b_diff_id)
    image = Source("docker-archive", b_archive).load()
    assert [e.path for e in image.layers[0].entries] == ["b", "b/real.txt"]


@pytest.mark.reference
def test_cached_and_uncached_match_dive(tmp_path, cache_home):
    archive = _demo_archive(tmp_path / "demo.tar")
    dive = run_dive_json(archive, str(tmp_path))
    cold = _json(archive, tmp_path / "cold")
    warm = _json(archive, tmp_path / "warm")
    bypass = _json(archive, tmp_path / "bypass", "--no-cache")
    assert cold == warm == bypass
    assert_same_export(dive, warm)


@pytest.mark.engine
def test_daemon_skips_save_when_every_layer_is_cached(docker_client, build_image, cache_home):
    image = build_image("FROM divepy-test/busybox:latest\nRUN mkdir -p /i6 && echo one > /i6/one\n"
                        "COPY two /i6/two\nRUN chmod 600 /i6/one\n", {"two": b"two\n"}, tag="i6-cache")

    cold, cold_saves = saves_during(docker_client, image, lambda: Source("docker", image.id).load())
    assert cold_saves == 1  # the events really show an export
    warm, warm_saves = saves_during(docker_client, image, lambda: Source("docker", image.id).load())
    assert warm_saves == 0
    assert [(layer.digest, layer.size, layer.entries, layer.command) for layer in warm.layers] == \
        [(layer.digest, layer.size, layer.entries, layer.command) for layer in cold.layers]
    assert warm.config == cold.config and warm.tags == cold.tags
    bypass, bypass_saves = saves_during(docker_client, image, lambda: Source("docker", image.id, cache=False).load())
    assert bypass_saves == 1


def test_a_config_over_other_blobs_cannot_poison_the_caches(tmp_path, cache_home):
    """Two OCI images with one config (the same diff IDs) over different compressed layers.
    divepy checks a named compressed blob by its name, not by the diff ID the config gives it,
    so the layers and the report's figures are kept under the blobs' names: the fake, read
    first, must not answer for the real one."""
    from tests.hostile import oci, sha256, small_layers, write_tar

    honest = small_layers()
    other = [honest[0], layer_tar([dir_entry("etc"), Entry("etc/big", data=b"x" * 9000)])]
    def same_blobs(tar: bytes) -> bytes:  # gzip's header holds the time: one base blob for both
        return gzip.compress(tar, mtime=0)

    real = write_tar(tmp_path / "real.tar", oci(honest, same_blobs))
    fake = write_tar(tmp_path / "fake.tar", oci(other, same_blobs, [sha256(t) for t in honest]))
    ci = {}
    for name, archive in (("fake", fake), ("real", real), ("real, no cache", real)):
        proc = run_divepy(f"oci-archive://{archive}", "--ci", *(["--no-cache"] if "no cache" in name else []))
        assert proc.returncode in (0, 1), proc.stderr
        ci[name] = [line for line in proc.stdout.splitlines() if not line.startswith("Image Source:")]
    assert ci["real"] == ci["real, no cache"] != ci["fake"]
    assert len(_cache_files(cache_home)) == 3  # the shared base once, and each other layer
    assert _json(f"oci-archive://{real}", tmp_path / "a") == _json(f"oci-archive://{real}", tmp_path / "b", "--no-cache")


def test_a_config_listing_another_number_of_layers_cannot_poison_the_summary(tmp_path, cache_home):
    """Where the config lists more diff IDs than the image has layers, none of them is checked
    (which belongs to which is unknown): two legacy archives with one such config over
    different layers must not share a report through the summary cache."""
    from tests.hostile import legacy, sha256, small_layers, write_tar

    honest = small_layers()
    other = [honest[0], layer_tar([dir_entry("etc"), Entry("etc/big", data=b"x" * 9000)])]
    claims = [sha256(t) for t in honest] + [sha256(b"a layer the manifest does not list")]
    real = write_tar(tmp_path / "real.tar", legacy(honest, diff_ids=claims))
    fake = write_tar(tmp_path / "fake.tar", legacy(other, diff_ids=claims))
    ci = {}
    for name, archive in (("fake", fake), ("real", real), ("real, no cache", real)):
        proc = run_divepy(f"docker-archive://{archive}", "--ci", *(["--no-cache"] if "no cache" in name else []))
        assert proc.returncode in (0, 1), proc.stderr
        assert "config lists 3 layers" in proc.stderr
        ci[name] = [line for line in proc.stdout.splitlines() if not line.startswith("Image Source:")]
    assert ci["real"] == ci["real, no cache"] != ci["fake"]
