"""Crafted archives for the hostile-input tests: valid envelopes around broken parts.

Everything is made here byte by byte with tarfile, gzip and zstandard, so each case breaks
exactly one thing. `legacy()` and `oci()` return archive members (name -> bytes) that a
test can still edit before `write_tar()` puts them on disk.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable

import zstandard

from dive_py.imagewriter import Entry, dir_entry, layer_tar

__all__ = ["Entry", "dir_entry", "layer_tar", "legacy", "oci", "write_tar", "write_dir",
           "sha256", "tar_of", "files_named", "fix_checksum", "zero_bomb", "small_layers"]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(members: Iterable[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    """A tar of raw TarInfo headers (any field may be odd) with their data."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def files_named(names: list[str], content: bytes) -> bytes:
    """A layer of regular files with exactly these names (any bytes, escapes, markup)."""
    infos = []
    for name in names:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        infos.append((info, content))
    return tar_of(infos)


def fix_checksum(header: bytearray) -> None:
    """Recompute a tar header's checksum after editing its fields."""
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % (sum(header) & 0o777777)


def small_layers() -> list[bytes]:
    """Two ordinary layers: a base, and a layer that modifies one file and adds another."""
    return [
        layer_tar([dir_entry("etc"), Entry("etc/os-release", data=b"ID=test\n"),
                   Entry("etc/big", data=b"b" * 4000)]),
        layer_tar([dir_entry("etc"), Entry("etc/big", data=b"c" * 4000),
                   Entry("app.txt", data=b"hello\n")]),
    ]


def _config(diff_ids: list[str], history: list[dict] | None, count: int) -> dict:
    if history is None:
        history = [{"created_by": f"/bin/sh -c step {i}"} for i in range(count)]
    return {"architecture": "amd64", "os": "linux", "config": {}, "history": history,
            "rootfs": {"type": "layers", "diff_ids": diff_ids}}


def legacy(blobs: list[bytes], diff_ids: list[str] | None = None, history: list[dict] | None = None,
           config: bytes | None = None) -> dict[str, bytes]:
    """A legacy `docker save`: <n>/layer.tar, <sha256>.json, manifest.json.

    `diff_ids` default to the sha256 of each blob (right for uncompressed layers).
    """
    if diff_ids is None:
        diff_ids = [sha256(b) for b in blobs]
    if config is None:
        config = json.dumps(_config(diff_ids, history, len(blobs))).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    members = {f"layer{i}/layer.tar": blob for i, blob in enumerate(blobs)}
    members[config_name] = config
    members["manifest.json"] = json.dumps(
        [{"Config": config_name, "RepoTags": ["hostile/test:latest"],
          "Layers": [f"layer{i}/layer.tar" for i in range(len(blobs))]}]).encode()
    return members


def oci(tars: list[bytes], compress=gzip.compress, diff_ids: list[str] | None = None) -> dict[str, bytes]:
    """An OCI image layout (index.json -> manifest -> config, layers) with compressed layers.

    `diff_ids` default to the sha256 of each tar (the right ones)."""
    members: dict[str, bytes] = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}'}

    def blob(data: bytes, media_type: str) -> dict:
        members[f"blobs/sha256/{sha256(data)[7:]}"] = data
        return {"mediaType": media_type, "digest": sha256(data), "size": len(data)}

    layers = [blob(compress(t), "application/vnd.oci.image.layer.v1.tar+gzip") for t in tars]
    if diff_ids is None:
        diff_ids = [sha256(t) for t in tars]
    config = json.dumps(_config(diff_ids, None, len(tars))).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": blob(config, "application/vnd.oci.image.config.v1+json"), "layers": layers}
    desc = blob(json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    members["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [desc]}).encode()
    return members


def write_tar(path, members: dict[str, bytes]) -> str:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return str(path)


def write_dir(root, members: dict[str, bytes]) -> str:
    for name, data in members.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return str(root)


def zero_bomb(kind: str, total: int, files: int = 1) -> tuple[bytes, str]:
    """A gzip or zstd layer blob holding `files` files of zeros, `total` bytes in all, and the
    layer's diff ID. Made in a stream: neither side ever holds more than a chunk."""
    chunk = bytes(1 << 20)
    plain_hash = hashlib.sha256()
    out = io.BytesIO()
    if kind == "gzip":
        sink = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1, mtime=0)
    else:
        sink = zstandard.ZstdCompressor(level=1).stream_writer(out, closefd=False)

    def write(data: bytes) -> None:
        plain_hash.update(data)
        sink.write(data)

    each = total // files
    for i in range(files):
        info = tarfile.TarInfo(f"zeros/{i:05d}.bin")
        info.size = each
        write(info.tobuf(format=tarfile.PAX_FORMAT))
        left = each
        while left:
            n = min(left, len(chunk))
            write(chunk[:n])
            left -= n
        if each % tarfile.BLOCKSIZE:
            write(bytes(tarfile.BLOCKSIZE - each % tarfile.BLOCKSIZE))
    write(bytes(2 * tarfile.BLOCKSIZE))
    sink.close()
    return out.getvalue(), "sha256:" + plain_hash.hexdigest()


def fails(proc, *needles: str) -> str:
    """Exit 3 and exactly one line on stderr that contains every needle."""
    assert proc.returncode == 3, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]
