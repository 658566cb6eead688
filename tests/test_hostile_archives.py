"""Broken and hostile archives through the real command: a correct analysis, or exit 3 with one
line naming the image, the layer and the problem; never a traceback, a hang or a memory blow-up.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import tarfile

import pytest
import zstandard

from tests.helpers import run_divepy
from tests.hostile import (
    Entry,
    fails,
    fix_checksum,
    layer_tar,
    legacy,
    oci,
    sha256,
    small_layers,
    write_dir,
    write_tar,
    zero_bomb,
)

MEMORY = 512 << 20  # every case runs in this address space (a bomb expands to gigabytes)


def run(ref: str, tmp_path, *extra: str):
    out = tmp_path / "out.json"
    proc = run_divepy(ref, "--json", str(out), *extra, timeout=120, max_memory=MEMORY)
    return proc, (json.loads(out.read_text()) if proc.returncode == 0 else None)


def reference(tmp_path, members) -> dict:
    proc, result = run(write_tar(tmp_path / "reference.tar", members), tmp_path)
    assert proc.returncode == 0, proc.stderr
    return result


# ---------------------------------------------------------------- the archive


def test_truncated_anywhere_is_an_error_or_the_whole_answer(tmp_path):
    """Cut inside a header, inside layer data, inside the manifest, in the end-of-archive
    blocks: never a partial analysis."""
    members = legacy(small_layers())
    whole = reference(tmp_path, members)
    data = open(write_tar(tmp_path / "full.tar", members), "rb").read()
    manifest_at = data.index(b"manifest.json")
    cuts = {100, 700, 1500, len(data) // 3, len(data) // 2, manifest_at + 300, manifest_at + 600,
            len(data) - 10240, len(data) - 1024, len(data) - 512, len(data) - 100}
    outcomes = set()
    for cut in sorted(cuts):
        path = tmp_path / f"cut{cut}.tar"
        path.write_bytes(data[:cut])
        proc, result = run(str(path), tmp_path)
        if proc.returncode == 0:
            assert result == whole, f"cut at {cut} of {len(data)} gave a different analysis"
            outcomes.add("whole")
        else:
            fails(proc, f"cut{cut}.tar")
            outcomes.add("error")
    assert outcomes == {"whole", "error"}  # only a cut in the trailing zeros may still load


def test_a_member_claiming_exabytes_ends_at_once(tmp_path):
    path = tmp_path / "huge.tar"
    path.write_bytes(_claims_exabytes())
    fails(run(str(path), tmp_path)[0], "huge.tar", "unexpected end of data")


@pytest.mark.parametrize("how", ["file", "pipe"])
def test_an_archive_member_of_negative_size(tmp_path, how):
    """A base-256 size field can be negative: the member would end before it starts."""
    data = bytearray(open(write_tar(tmp_path / "a.tar", legacy(small_layers())), "rb").read())
    header = data[:512]
    header[124:136] = b"\xff" * 10 + (-1024 & 0xFFFF).to_bytes(2, "big")
    fix_checksum(header)
    data[:512] = header
    path = tmp_path / "negative.tar"
    path.write_bytes(bytes(data))
    if how == "file":
        fails(run(str(path), tmp_path)[0], "negative.tar", "cannot read archive")
        return
    cat = subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE)  # a pipe: read as a stream
    proc = run_divepy("docker-archive:///dev/stdin", "--json", str(tmp_path / "o.json"),
                      stdin=cat.stdout, timeout=120, max_memory=MEMORY)
    cat.stdout.close()
    cat.wait()
    fails(proc, "/dev/stdin", "not a valid image archive")


def test_manifest_missing(tmp_path):
    members = legacy(small_layers())
    del members["manifest.json"]
    fails(run(write_tar(tmp_path / "a.tar", members), tmp_path)[0], "a.tar", "no manifest.json")


@pytest.mark.parametrize("manifest, needle", [
    (b"[{not json", "manifest.json"),
    (b"{}", "manifest.json"),
    (b"[]", "manifest.json lists no image"),
    (b"[1]", "manifest.json entry"),
    (b'[{"Config": 1, "Layers": []}]', "Config and Layers"),
    (b'[{"Config": "c.json", "Layers": "layer0/layer.tar"}]', "Config and Layers"),
    (b'[{"Config": "c.json", "Layers": [7]}]', "Config and Layers"),
    (b'"just a string"', "manifest.json"),
])
def test_manifest_of_the_wrong_shape(tmp_path, manifest, needle):
    members = legacy(small_layers())
    members["manifest.json"] = manifest
    fails(run(write_tar(tmp_path / "m.tar", members), tmp_path)[0], "m.tar", needle)


def test_manifest_points_at_a_missing_layer(tmp_path):
    members = legacy(small_layers())
    del members["layer1/layer.tar"]
    fails(run(write_tar(tmp_path / "a.tar", members), tmp_path)[0], "layer1/layer.tar", "missing")


def test_manifest_points_at_a_missing_config(tmp_path):
    members = legacy(small_layers())
    config = next(name for name in members if name.endswith(".json") and name != "manifest.json")
    del members[config]
    fails(run(write_tar(tmp_path / "a.tar", members), tmp_path)[0], config, "missing")


@pytest.mark.parametrize("config, needle", [(b"{not json", "not JSON"), (b"[1, 2]", "image config")])
def test_config_malformed(tmp_path, config, needle):
    members = legacy(small_layers(), config=config)
    fails(run(write_tar(tmp_path / "a.tar", members), tmp_path)[0], "a.tar", needle)


@pytest.mark.parametrize("config", [
    {"history": 5, "rootfs": "x"},
    {"history": ["x", None, {"created_by": 7, "empty_layer": "yes"}], "rootfs": {"diff_ids": 7}},
    {},
])
def test_config_with_odd_fields_is_still_analysed(tmp_path, config):
    """Nothing in the config changes what the layers hold: the numbers stay right."""
    whole = reference(tmp_path, legacy(small_layers()))
    members = legacy(small_layers(), config=json.dumps(config).encode())
    proc, result = run(write_tar(tmp_path / "a.tar", members), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert result["image"] == whole["image"]
    assert [layer["fileList"] for layer in result["layer"]] == [layer["fileList"] for layer in whole["layer"]]


def test_history_and_layer_counts_disagree_analyse_and_warn(tmp_path):
    members = legacy(small_layers(), history=[{"created_by": "only one step"}])
    proc, result = run(write_tar(tmp_path / "a.tar", members), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "warning" in proc.stderr and "history has 1 steps" in proc.stderr
    assert [layer["command"] for layer in result["layer"]] == ["only one step", "(missing)"]


def test_layer_not_matching_its_diff_id(tmp_path):
    blobs = small_layers()
    diff_ids = [sha256(b) for b in blobs]
    diff_ids[1] = sha256(b"something else")
    members = legacy(blobs, diff_ids=diff_ids)
    fails(run(write_tar(tmp_path / "a.tar", members), tmp_path)[0], "a.tar", "layer 1",
          "layer1/layer.tar", "diff ID")


def _oci_blob(members, suffix_of_type: str) -> str:
    index = json.loads(members["index.json"])
    manifest_name = "blobs/sha256/" + index["manifests"][0]["digest"][7:]
    manifest = json.loads(members[manifest_name])
    if suffix_of_type == "manifest":
        return manifest_name
    if suffix_of_type == "config":
        return "blobs/sha256/" + manifest["config"]["digest"][7:]
    return "blobs/sha256/" + manifest["layers"][1]["digest"][7:]


@pytest.mark.parametrize("what", ["manifest", "config", "layer"])
@pytest.mark.parametrize("form", ["archive", "layout"])
def test_oci_pointing_at_missing_blobs(tmp_path, what, form):
    members = oci(small_layers())
    name = _oci_blob(members, what)
    del members[name]
    ref = (write_tar(tmp_path / "o.tar", members) if form == "archive"
           else write_dir(tmp_path / "layout", members))
    fails(run(ref, tmp_path)[0], name[-20:])


@pytest.mark.parametrize("what", ["manifest", "config", "layer"])
@pytest.mark.parametrize("form", ["archive", "layout"])
def test_oci_blob_not_matching_its_name(tmp_path, what, form):
    """Same size, one byte changed: only the digest can tell."""
    members = oci(small_layers())
    name = _oci_blob(members, what)
    data = bytearray(members[name])
    at = data.index(b"sha256") if what != "layer" else len(data) - 9  # the gzip CRC
    data[at] ^= 0x01
    members[name] = bytes(data)
    ref = (write_tar(tmp_path / "o.tar", members) if form == "archive"
           else write_dir(tmp_path / "layout", members))
    line = fails(run(ref, tmp_path)[0], name[-20:])
    assert "does not match" in line or "corrupt" in line


def _recompressed_layer(tars: list[bytes], diff_ids=None) -> tuple[dict[str, bytes], str, bytes]:
    """An OCI image whose second layer blob is the same gzip stream with another mtime in its
    header: the same size and the same tar, other bytes than its name says; and the blob that
    was there."""
    members = oci(tars, diff_ids=diff_ids)
    name = _oci_blob(members, "layer")
    original = members[name]
    data = bytearray(members[name])
    data[4:8] = (12345).to_bytes(4, "little")  # gzip's MTIME field
    assert gzip.decompress(bytes(data)) == tars[1] and sha256(bytes(data)) != "sha256:" + name[-64:]
    members[name] = bytes(data)
    return members, name, original


@pytest.mark.parametrize("form", ["archive", "layout"])
@pytest.mark.parametrize("diff_ids", ["right", "one for two layers"])
def test_a_compressed_layer_is_checked_by_its_name(tmp_path, form, diff_ids):
    """A blob named by its digest must be those bytes: the same tar compressed again (another
    gzip header) is another blob, whatever the config says of the tar."""
    tars = small_layers()
    members, name, _ = _recompressed_layer(tars, diff_ids=None if diff_ids == "right" else [sha256(tars[0])])
    ref = (write_tar(tmp_path / "o.tar", members) if form == "archive"
           else write_dir(tmp_path / "layout", members))
    line = fails(run(ref, tmp_path)[0], name[-20:])
    assert "does not match its name" in line


def test_a_layout_blob_reached_through_a_symlink_is_checked_by_its_name(tmp_path):
    """The name the manifest gives is what the blob must hash to, wherever the file lies."""
    members, name, _ = _recompressed_layer(small_layers())
    blob = members.pop(name)
    layout = write_dir(tmp_path / "layout", {**members, "elsewhere/blob": blob})
    (tmp_path / "layout" / name).symlink_to(tmp_path / "layout" / "elsewhere" / "blob")
    line = fails(run(layout, tmp_path)[0], name[-20:])
    assert "does not match its name" in line


def _symlinked_save(tmp_path, blob: bytes, diff_id: str) -> str:
    """A `docker save` whose manifest names its one layer `x/layer.tar`, a symlink to the blob
    stored as blobs/sha256/<its name>, with `blob` there."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "history": [{"created_by": "step"}],
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    name = "blobs/sha256/" + sha256(gzip.compress(GOOD_TAR, mtime=0))[7:]
    members = [("c.json", config), (name, blob),
               ("manifest.json", json.dumps([{"Config": "c.json", "Layers": ["x/layer.tar"]}]).encode())]
    return _with_symlinks(write_tar(tmp_path / "s.tar", dict(members)), ("x/layer.tar", "../" + name))


def _with_symlinks(path: str, *links: tuple[str, str]) -> str:
    """The tar at `path` with symlinks (name, target) added at its end."""
    with tarfile.open(path, "a") as tar:
        for name, target in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def test_a_layer_reached_through_a_symlink_is_checked_by_its_targets_name(tmp_path, monkeypatch):
    """The manifest's `x/layer.tar` gives no digest, its target's name does: the bytes must
    match that name, and the layer is kept in the cache under it, not under the config's diff
    ID, which nothing checked."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    good = gzip.compress(GOOD_TAR, mtime=0)
    again = gzip.compress(GOOD_TAR, mtime=7)  # the same tar, other bytes than the name says
    for ref in (_symlinked_save(tmp_path, again, sha256(GOOD_TAR)),
                "docker-archive://" + _symlinked_save(tmp_path, again, sha256(GOOD_TAR))):
        line = fails(run_divepy(ref, "--ci", cwd=str(tmp_path)), "does not match its name")
        assert sha256(good)[7:] in line
    proc = run_divepy(_symlinked_save(tmp_path, good, sha256(b"not the tar")), "--ci", cwd=str(tmp_path))
    assert proc.returncode in (0, 1), proc.stderr
    assert os.listdir(tmp_path / "cache" / "divepy" / "v1" / "layers") == [sha256(good)[7:]]


def test_a_named_compressed_layer_is_hashed_once(tmp_path):
    """Its name proves its bytes, and so the tar they decompress to: the config's diff ID for
    it is not recomputed (a third sha256 pass of the layer), and a wrong one is the config's
    word, shown as it is (as a registry client takes it)."""
    tars = small_layers()
    wrong = "sha256:" + "0" * 64

    def same_blobs(tar: bytes) -> bytes:  # gzip's header holds the time: the same bytes in both
        return gzip.compress(tar, mtime=0)

    proc, report = run(write_tar(tmp_path / "o.tar", oci(tars, same_blobs, [sha256(tars[0]), wrong])), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [layer["digestId"] for layer in report["layer"]] == [sha256(tars[0]), wrong]
    honest = reference(tmp_path, oci(tars, same_blobs))
    assert report["image"] == honest["image"]
    assert [dict(layer, digestId="") for layer in report["layer"]] == [dict(layer, digestId="") for layer in honest["layer"]]


def test_oci_descriptor_size_disagrees(tmp_path):
    members = oci(small_layers())
    name = _oci_blob(members, "manifest")
    manifest = json.loads(members[name])
    manifest["layers"][0]["size"] += 1
    new = json.dumps(manifest).encode()
    del members[name]
    members[f"blobs/sha256/{sha256(new)[7:]}"] = new
    index = json.loads(members["index.json"])
    index["manifests"][0].update(digest=sha256(new), size=len(new))
    members["index.json"] = json.dumps(index).encode()
    fails(run(write_tar(tmp_path / "o.tar", members), tmp_path)[0], "o.tar",
          manifest["layers"][0]["digest"][7:], "descriptor says")


def test_docker25_blob_not_matching_its_name(tmp_path):
    """Docker 25+ saves name uncompressed layers by digest in manifest.json too."""
    blobs = small_layers()
    members = legacy(blobs)
    manifest = json.loads(members["manifest.json"])
    names = []
    for i, blob in enumerate(blobs):
        del members[f"layer{i}/layer.tar"]
        names.append(f"blobs/sha256/{sha256(blob)[7:]}")
        members[names[-1]] = blob
    members[names[0]] = blobs[1]  # the right size for a tar, the wrong content
    manifest[0]["Layers"] = names
    members["manifest.json"] = json.dumps(manifest).encode()
    fails(run(write_tar(tmp_path / "d.tar", members), tmp_path)[0], names[0], "does not match its name")


# ---------------------------------------------------------------- layers


def _layer_case(tmp_path, blob: bytes) -> str:
    good = small_layers()
    return write_tar(tmp_path / "l.tar", legacy([good[0], blob]))


def _header_with_bad_checksum() -> bytes:
    data = bytearray(layer_tar([Entry("a.txt", data=b"a" * 600), Entry("b.txt", data=b"b")]))
    second = data.index(b"b.txt") - 0  # name field of b.txt's header (PAX headers come first)
    start = second - second % 512
    data[start + 100] ^= 0x04  # a mode digit: still octal, the checksum no longer adds up
    return bytes(data)


def _declares_more_than_exists() -> bytes:
    small, big = tarfile.TarInfo("a.txt"), tarfile.TarInfo("big.bin")
    small.size, big.size = 1, 100_000
    return small.tobuf() + b"a".ljust(512, b"\0") + big.tobuf() + b"x" * 3000


def _claims_exabytes() -> bytes:
    """A header whose base-256 size field claims 2**56 bytes: tarfile alone would try to skip
    them block by block, for ever."""
    header = bytearray(tarfile.TarInfo("huge.bin").tobuf())
    header[124:136] = b"\x80" + b"\x00" * 4 + b"\x01" + b"\x00" * 6
    fix_checksum(header)
    return bytes(header) + b"x" * 512


def _zero_block_then_data() -> bytes:
    first = layer_tar([Entry("a.txt", data=b"a")])
    end = first.index(bytes(1024), 1024)  # the end-of-archive blocks of the first tar
    return first[:end] + bytes(512) + layer_tar([Entry("b.txt", data=b"b")])


GOOD_TAR = layer_tar([Entry("x/" + str(i), data=os.urandom(3000)) for i in range(20)])


@pytest.mark.parametrize("name, blob, needle", [
    ("not a tar", b"GARBAGE!" * 300, "not a valid tar"),
    ("empty", b"", "empty"),
    ("gzip truncated", gzip.compress(GOOD_TAR)[:-5000], "truncated or corrupt"),
    ("gzip corrupt", gzip.compress(GOOD_TAR)[:3000] + b"\xff" * 40 + gzip.compress(GOOD_TAR)[3040:], "corrupt"),
    ("gzip bad CRC", gzip.compress(GOOD_TAR)[:-8] + b"\0\0\0\0" + gzip.compress(GOOD_TAR)[-4:], "corrupt"),
    ("zstd truncated", zstandard.compress(GOOD_TAR)[:-3000], "truncated or corrupt"),
    # random file data sits in raw zstd blocks without a checksum: it decompresses, and only
    # the diff ID can tell
    ("zstd corrupt", zstandard.compress(GOOD_TAR)[:2000] + b"\x00" * 100 + zstandard.compress(GOOD_TAR)[2100:],
     "does not match the config's diff ID"),
    ("zstd garbage", b"\x28\xb5\x2f\xfd" + b"\xff" * 3000, "corrupt zstd"),
    ("more data declared than exists", _declares_more_than_exists(), "layer1/layer.tar"),
    ("header checksum error", _header_with_bad_checksum(), "checksum"),
    ("zero block then data", _zero_block_then_data(), "zero block"),
    ("size claims 2**56 bytes", _claims_exabytes(), "unexpected end of data"),
], ids=lambda value: value if isinstance(value, str) and len(value) < 40 else "")
def test_broken_layer_is_an_error_never_100_percent(tmp_path, name, blob, needle):
    # the layer's diff ID is right: only the broken content can stop the read
    fails(run(_layer_case(tmp_path, blob), tmp_path)[0], "l.tar", "layer1/layer.tar", needle)


def test_hundreds_of_layers(tmp_path):
    blobs = [layer_tar([Entry(f"f{i % 7}", data=bytes([i % 256]) * 100)]) for i in range(300)]
    proc, result = run(write_tar(tmp_path / "many.tar", legacy(blobs)), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(result["layer"]) == 300
    assert result["image"]["sizeBytes"] == 300 * 100
    assert {ref["file"] for ref in result["image"]["fileReference"]} == {f"/f{i}" for i in range(7)}


def test_duplicate_entries_in_one_layer_last_wins(tmp_path):
    blob = layer_tar([Entry("dup", data=b"first" * 100), Entry("dup", data=b"second" * 50),
                      Entry("dup", data=b"x")])
    members = legacy([blob, layer_tar([Entry("other", data=b"o")])])
    proc, result = run(write_tar(tmp_path / "dup.tar", members), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert result["layer"][0]["sizeBytes"] == 500 + 300 + 1  # dive counts every header
    assert [f["size"] for f in result["layer"][0]["fileList"] if f["path"] == "dup"] == [1]


@pytest.mark.parametrize("kind, total, files", [("gzip", 512 << 20, 1), ("zstd", 2 << 30, 2048)])
def test_compression_bomb_streams_in_flat_memory(tmp_path, kind, total, files):
    """A few MB that expand to gigabytes of zeros: read as a stream, in the same 512 MB
    address space as every other case, and counted right."""
    blob, diff_id = zero_bomb(kind, total, files)
    assert len(blob) < total // 200
    members = legacy([small_layers()[0], blob], diff_ids=[sha256(small_layers()[0]), diff_id])
    proc, result = run(write_tar(tmp_path / "bomb.tar", members), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert result["layer"][1]["sizeBytes"] == total
    assert len([f for f in result["layer"][1]["fileList"] if f["path"].startswith("zeros/")]) == files


def test_a_layer_behind_a_symlink_loop_is_one_broken_layer(tmp_path):
    """Reported where the layer is read: with -i the other layer is still analysed."""
    blobs = small_layers()
    members = legacy(blobs)
    manifest = json.loads(members["manifest.json"])
    manifest[0]["Layers"][1] = "loop/layer.tar"
    members["manifest.json"] = json.dumps(manifest).encode()
    path = _with_symlinks(write_tar(tmp_path / "loop.tar", members),
                          ("loop/layer.tar", "../again/layer.tar"), ("again/layer.tar", "../loop/layer.tar"))
    fails(run(path, tmp_path)[0], "loop.tar", "symlink loop")
    proc, result = run(path, tmp_path, "-i")
    assert proc.returncode == 0, proc.stderr
    assert "layer 1 analysed as empty" in proc.stderr and "symlink loop" in proc.stderr
    assert result["layer"][0]["fileList"] and not result["layer"][1]["fileList"]


def test_symlink_loop_inside_the_archive(tmp_path):
    members = legacy(small_layers())
    manifest = members.pop("manifest.json")
    members["real.json"] = manifest
    path = _with_symlinks(write_tar(tmp_path / "loop.tar", members),
                          ("manifest.json", "a.json"), ("a.json", "manifest.json"))
    fails(run(path, tmp_path)[0], "loop.tar", "symlink loop")


def test_layout_blob_linking_outside_the_layout_is_not_followed(tmp_path):
    root = tmp_path / "layout"
    members = oci(small_layers())
    name = _oci_blob(members, "config")
    write_dir(root, members)
    secret = tmp_path / "secret.json"
    secret.write_text('{"rootfs": {"diff_ids": []}}')
    (root / name).unlink()
    (root / name).symlink_to(secret)
    fails(run(str(root), tmp_path)[0], "layout", "points outside the layout")


def test_ignore_errors_analyses_the_readable_layers(tmp_path):
    """dive's -i / `ignore-errors: true`: a broken layer counts as empty, with a warning naming it."""
    archive = _layer_case(tmp_path, gzip.compress(GOOD_TAR)[:-5000])
    strict = run_divepy(archive, "--ci", cwd=tmp_path)
    assert strict.returncode == 3
    home = tmp_path / "home"
    home.mkdir()
    (home / ".dive.yaml").write_text("ignore-errors: true\n")
    for args, env in ((["-i"], None), ([], {"HOME": str(home), "XDG_CONFIG_HOME": ""})):
        out = tmp_path / "out.json"
        proc = run_divepy(archive, "--json", str(out), *args, env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        warning = [line for line in proc.stderr.splitlines() if "ignore-errors" in line]
        assert len(warning) == 1 and "layer 1 analysed as empty" in warning[0] and "layer1/layer.tar" in warning[0]
        result = json.loads(out.read_text())
        assert [len(layer["fileList"]) for layer in result["layer"]][1] == 0
        assert result["layer"][0]["fileList"]


def test_a_diff_id_that_is_not_a_string_leaves_its_layer_without_one(tmp_path):
    """The others keep their own: each layer's diff ID is the config's entry at its place."""
    from dive_py.sources.resolve import Source

    blobs = small_layers()
    diff_ids = [sha256(b) for b in blobs]
    members = legacy(blobs, diff_ids=[7, *diff_ids[1:]])
    image = Source("docker-archive", write_tar(tmp_path / "a.tar", members)).load()
    assert [layer.digest for layer in image.layers] == ["", *diff_ids[1:]]
    assert [layer.content_digest for layer in image.layers] == ["", *diff_ids[1:]]
