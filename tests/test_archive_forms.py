"""Archive forms made here byte by byte: kaniko tarballs and multi-platform OCI layouts."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest

from dive_py.analysis.analyze import analyze
from dive_py.demo import demo_archive, demo_layers
from dive_py.errors import ArchiveError
from dive_py.imagewriter import layer_tar
from dive_py.sources.resolve import Source, resolve


def _fingerprint(analysis):
    return (analysis.score, analysis.wasted_bytes, analysis.size,
            [(i.path, i.count, i.cumulative_size) for i in analysis.inefficiencies])


def _tar(path, members: dict[str, bytes]):
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _demo_blobs():
    layers, history = demo_layers()
    tars = [layer_tar(entries) for entries in layers]
    config = {"architecture": "amd64", "os": "linux", "history": history,
              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for t in tars]}}
    return tars, json.dumps(config).encode()


def test_kaniko_tarball_with_gzip_layers_reads_like_the_legacy_archive(tmp_path):
    tars, config = _demo_blobs()
    gz = [gzip.compress(t, mtime=0) for t in tars]
    names = [hashlib.sha256(g).hexdigest() + ".tar.gz" for g in gz]
    config_name = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = [{"Config": config_name, "RepoTags": ["kaniko/demo:latest"], "Layers": names}]
    _tar(tmp_path / "kaniko.tar", {config_name: config, **dict(zip(names, gz)),
                                   "manifest.json": json.dumps(manifest).encode()})
    expected = _fingerprint(analyze(Source("docker-archive", demo_archive(str(tmp_path / "cache"))).load()))
    assert _fingerprint(analyze(resolve(str(tmp_path / "kaniko.tar")).load())) == expected


def _blob(root, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _multi_platform_layout(root):
    """index.json -> nested index -> amd64 (the demo) and arm64 (one tiny layer) manifests."""
    tars, config = _demo_blobs()
    amd = {"schemaVersion": 2, "config": _blob(root, config), "layers": [_blob(root, t) for t in tars]}
    small = layer_tar([])
    arm_config = json.dumps({"architecture": "arm64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    arm = {"schemaVersion": 2, "config": _blob(root, arm_config), "layers": [_blob(root, small)]}
    nested = {"schemaVersion": 2, "manifests": [
        {**_blob(root, json.dumps(arm).encode()), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {**_blob(root, json.dumps(amd).encode()), "platform": {"os": "linux", "architecture": "amd64"}},
    ]}
    index = {"schemaVersion": 2, "manifests": [
        {**_blob(root, json.dumps(nested).encode()), "mediaType": "application/vnd.oci.image.index.v1+json"}]}
    (root / "index.json").write_text(json.dumps(index))
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')


def test_nested_index_picks_the_platform(tmp_path):
    _multi_platform_layout(tmp_path)
    amd = analyze(Source("oci", str(tmp_path), platform="linux/amd64").load())
    assert len(amd.image.layers) == 7
    arm = Source("oci", str(tmp_path), platform="linux/arm64").load()
    assert len(arm.layers) == 1 and arm.config["architecture"] == "arm64"


def test_missing_platform_lists_the_available_ones(tmp_path):
    _multi_platform_layout(tmp_path)
    with pytest.raises(ArchiveError) as err:
        Source("oci", str(tmp_path), platform="linux/s390x").load()
    assert "linux/amd64" in str(err.value) and "linux/arm64/v8" in str(err.value)
