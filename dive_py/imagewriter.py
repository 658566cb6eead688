"""Write small images as `docker save` archives: the demo image and test images are made here.

Deterministic: same input, same bytes (fixed mtimes, sorted JSON), so digests are stable.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass

EPOCH = 1_700_000_000


@dataclass(frozen=True)
class Entry:
    """One member of a layer tar. `type` is the tar type flag ('0' file, '5' dir, '2' symlink...)."""

    path: str
    type: str = "0"
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    link: str = ""


def dir_entry(path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Entry:
    return Entry(path, "5", mode=mode, uid=uid, gid=gid)


def layer_tar(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.path)
            info.type = e.type.encode()
            info.mode = e.mode
            info.uid, info.gid = e.uid, e.gid
            info.mtime = EPOCH
            info.linkname = e.link
            if e.type == "0":
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = EPOCH
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_docker_archive(path: str, layers: list[list[Entry]], history: list[dict] | None = None,
                         tag: str = "divepy/test:latest", config_extra: dict | None = None) -> str:
    """A legacy `docker save` archive (<id>/layer.tar, <config>.json, manifest.json).

    `history` defaults to one step per layer. Written to a temp file, then renamed into place.
    """
    blobs = [layer_tar(entries) for entries in layers]
    diff_ids = ["sha256:" + hashlib.sha256(b).hexdigest() for b in blobs]
    if history is None:
        history = [{"created_by": f"/bin/sh -c #(nop) layer {i}"} for i in range(len(layers))]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "created": "2023-11-14T22:13:20Z",
        "history": [{"created": "2023-11-14T22:13:20Z", **h} for h in history],
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        **(config_extra or {}),
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_dirs = []
    parent = ""
    for diff_id in diff_ids:
        chain = hashlib.sha256((parent + diff_id).encode()).hexdigest()
        layer_dirs.append(chain)
        parent = chain
    manifest = [{"Config": config_name, "RepoTags": [tag],
                 "Layers": [f"{d}/layer.tar" for d in layer_dirs]}]
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".divepy-", suffix=".tar")
    try:
        with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w") as tar:
            written = set()
            for layer_dir, blob in zip(layer_dirs, blobs):
                if layer_dir in written:
                    continue
                written.add(layer_dir)
                _add_bytes(tar, f"{layer_dir}/VERSION", b"1.0")
                _add_bytes(tar, f"{layer_dir}/layer.tar", blob)
            _add_bytes(tar, config_name, config_bytes)
            _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
