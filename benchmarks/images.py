"""The benchmark images, generated once into a cache directory (never committed).

- `big.tar`: a legacy `docker save` shaped like a Debian image with build tools: a base layer,
  a build-tools layer, a chmod layer (chmod -R copies every file it touches into a new layer),
  a delete layer (whiteouts) and a small app layer. ~1.0 GB and ~22,000 entries at full size.
- `big-gzip.tar`, `big-zstd.tar`: the same image as OCI archives, converted by skopeo.
- `small-files.tar`: 300,000 small files (360,000 entries with their directories) in 3 layers,
  the last rewriting a tenth of the first.
- `divepy-bench/big:latest` in the Docker daemon ($DOCKER_HOST), loaded from big.tar.

File contents are half random, half text, so gzip and zstd have real work to do. Generation is
deterministic (seeded), so a rerun finds the images in the cache and skips building them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import subprocess
import tarfile
from dataclasses import dataclass

EPOCH = 1_700_000_000
POOL = 16 << 20


@dataclass(frozen=True)
class Scale:
    name: str
    bytes_factor: float  # 1.0: ~1 GB
    files_factor: float  # 1.0: ~22,000 and 300,000 entries


FULL = Scale("full", 1.0, 1.0)
QUICK = Scale("quick", 0.1, 0.1)


class Content:
    """Slices of a random pool and a text pool: cheap to make, realistic to compress."""

    def __init__(self, seed: int):
        rng = random.Random(seed)
        self.random = rng.randbytes(POOL)
        words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
                 for _ in range(4000)]
        text = bytearray()
        while len(text) < POOL:
            text += b" ".join(rng.choices(words, k=12)) + b"\n"
        self.text = bytes(text[:POOL])
        self.rng = rng

    def make(self, size: int, key: str = "") -> bytes:
        """`size` bytes; the same `key` and size give the same bytes (a chmod keeps contents)."""
        pick = random.Random(key).randrange if key else self.rng.randrange
        half = size // 2
        a = pick(0, POOL - half) if half < POOL else 0
        b = pick(0, POOL - (size - half)) if size - half < POOL else 0
        return (self.random[a:a + half] * (1 + half // POOL))[:half] + \
            (self.text[b:b + size - half] * (1 + (size - half) // POOL))[:size - half]


def _info(path: str, kind: bytes = tarfile.REGTYPE, size: int = 0, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.type = kind
    info.size = size
    info.mode = mode
    info.mtime = EPOCH
    return info


class LayerWriter:
    """One layer tar written straight to disk; directories added once, parents first."""

    def __init__(self, path: str):
        self.path = path
        self.tar = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)
        self.dirs: set[str] = set()

    def directory(self, path: str, mode: int = 0o755) -> None:
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if parent and parent not in self.dirs:
            self.directory(parent)
        if path not in self.dirs:
            self.dirs.add(path)
            self.tar.addfile(_info(path + "/", tarfile.DIRTYPE, mode=mode))

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.directory(path.rsplit("/", 1)[0])
        self.tar.addfile(_info(path, size=len(data), mode=mode), io.BytesIO(data))

    def whiteout(self, path: str) -> None:
        head, _, name = path.rpartition("/")
        self.directory(head)
        self.tar.addfile(_info(f"{head}/.wh.{name}"))

    def close(self) -> str:
        self.tar.close()
        return self.path


def _sizes(rng: random.Random, count: int, total: int) -> list[int]:
    raw = [rng.lognormvariate(8.5, 1.6) for _ in range(count)]
    factor = total / sum(raw)
    return [max(0, int(r * factor)) for r in raw]


def _tree(prefix: str, count: int, per_dir: int, rng: random.Random) -> list[str]:
    paths = []
    for i in range(count):
        d = i // per_dir
        paths.append(f"{prefix}/d{d // 50:03d}/p{d:05d}/f{i:06d}.{rng.choice(('so', 'h', 'py', 'txt', 'gz'))}")
    return paths


def _write_docker_save(out: str, layer_files: list[str], commands: list[str], tag: str) -> str:
    """A legacy docker save archive from layer tars on disk (what Docker 20.10 writes)."""
    diff_ids = []
    for path in layer_files:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        diff_ids.append("sha256:" + h.hexdigest())
    config = {"architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
              "config": {"Cmd": ["/bin/sh"]},
              "history": [{"created": "2023-11-14T22:13:20Z", "created_by": f"/bin/sh -c {c}"} for c in commands],
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    dirs, parent = [], ""
    for diff_id in diff_ids:
        parent = hashlib.sha256((parent + diff_id).encode()).hexdigest()
        dirs.append(parent)
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": [f"{d}/layer.tar" for d in dirs]}]
    tmp = out + ".tmp"
    with tarfile.open(tmp, "w") as tar:
        for d, path in zip(dirs, layer_files):
            tar.addfile(_info(d + "/", tarfile.DIRTYPE, mode=0o755))
            tar.addfile(_info(f"{d}/VERSION", size=3), io.BytesIO(b"1.0"))
            with open(path, "rb") as fh:
                tar.addfile(_info(f"{d}/layer.tar", size=os.path.getsize(path)), fh)
        tar.addfile(_info(config_name, size=len(config_bytes)), io.BytesIO(config_bytes))
        data = json.dumps(manifest).encode()
        tar.addfile(_info("manifest.json", size=len(data)), io.BytesIO(data))
    os.replace(tmp, out)
    for path in layer_files:
        os.unlink(path)
    return out


def build_big(out: str, scale: Scale) -> str:
    content = Content(1)
    rng = content.rng
    gb = scale.bytes_factor * (1 << 30)
    n = lambda count: max(10, int(count * scale.files_factor))  # noqa: E731
    layers = []
    base_paths = _tree("usr/lib/x86_64-linux-gnu", n(9000), 12, rng) + _tree("usr/share/doc", n(3000), 6, rng)
    tools_paths = _tree("usr/lib/gcc", n(5000), 15, rng) + _tree("usr/include", n(3000), 20, rng)
    app_paths = _tree("opt/app", n(100), 10, rng)
    sizes: dict[str, int] = {}
    for name, paths, share in [("base", base_paths, 0.26), ("tools", tools_paths, 0.58)]:
        w = LayerWriter(out + f".{name}.layer")
        for path, size in zip(paths, _sizes(rng, len(paths), int(gb * share))):
            sizes[path] = size
            w.file(path, content.make(size, path))
        layers.append(w.close())
    # chmod -R on part of the compiler's directory: docker copies every file it touches into
    # the new layer, same bytes, new mode (dive counts them as wasted)
    chmod = LayerWriter(out + ".chmod.layer")
    budget = int(gb * 0.15)
    for path in tools_paths:
        if budget <= 0:
            break
        chmod.file(path, content.make(sizes[path], path), mode=0o755)
        budget -= sizes[path]
    layers.append(chmod.close())
    delete = LayerWriter(out + ".delete.layer")
    for path in base_paths[-n(400):]:
        delete.whiteout(path)
    layers.append(delete.close())
    app = LayerWriter(out + ".app.layer")
    for path, size in zip(app_paths, _sizes(rng, len(app_paths), int(gb * 0.005))):
        app.file(path, content.make(size))
    layers.append(app.close())
    commands = ["#(nop) ADD file:debian-rootfs in / ", "apt-get install -y build-essential",
                "chmod -R 755 /usr/lib/gcc", "rm -rf /usr/share/doc/*", "#(nop) COPY dir:app in /opt/app "]
    return _write_docker_save(out, layers, commands, "divepy-bench/big:latest")


def build_small_files(out: str, scale: Scale) -> str:
    content = Content(2)
    rng = content.rng
    counts = [int(c * scale.files_factor) for c in (150_000, 100_000, 50_000)]
    layers = []
    first = []
    for index, count in enumerate(counts):
        w = LayerWriter(out + f".{index}.layer")
        if index == 2:  # rewrite a tenth of the first layer's files, then add new ones
            rewrite = first[: count // 3]
            for path in rewrite:
                w.file(path, content.make(rng.randrange(0, 512)))
            count -= len(rewrite)
        for i in range(count):
            path = f"srv/l{index}/g{i // 1000:03d}/d{i // 5:06d}/f{i:07d}"
            w.file(path, content.make(rng.randrange(0, 512)))
            if index == 0:
                first.append(path)
        layers.append(w.close())
    commands = ["#(nop) ADD file:many in / ", "generate --more", "generate --rewrite"]
    return _write_docker_save(out, layers, commands, "divepy-bench/small-files:latest")


def _skopeo(src: str, dst: str, compression: str) -> str:
    tmp = dst + ".tmp"
    if os.path.exists(tmp):
        os.unlink(tmp)
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-compress-format", compression,
                    f"docker-archive:{src}", f"oci-archive:{tmp}"], check=True)
    os.replace(tmp, dst)
    return dst


def daemon_has(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0


def ensure_images(root: str, scale: Scale, log=print) -> dict[str, str]:
    """Build what is missing; returns {name: divepy reference}."""
    directory = os.path.join(root, scale.name)
    os.makedirs(directory, exist_ok=True)
    big = os.path.join(directory, "big.tar")
    if not os.path.exists(big):
        log(f"generating {big}")
        build_big(big, scale)
    refs = {"legacy docker-save": f"docker-archive://{big}"}
    for compression in ("gzip", "zstd"):
        path = os.path.join(directory, f"big-{compression}.tar")
        if not os.path.exists(path):
            log(f"converting to {path} (skopeo)")
            _skopeo(big, path, compression)
        refs[f"OCI {compression}"] = f"oci-archive://{path}"
    small = os.path.join(directory, "small-files.tar")
    if not os.path.exists(small):
        log(f"generating {small}")
        build_small_files(small, scale)
    refs["300k small files" if scale is FULL else "small files"] = f"docker-archive://{small}"
    tag = f"divepy-bench/big-{scale.name}:latest"
    if os.environ.get("DOCKER_HOST") or os.path.exists("/var/run/docker.sock"):
        if not daemon_has(tag):
            log(f"loading {tag} into the daemon")
            subprocess.run(["docker", "load", "-q", "-i", big], check=True, capture_output=True)
            subprocess.run(["docker", "tag", "divepy-bench/big:latest", tag], check=True)
        refs["daemon"] = f"docker://{tag}"
    return refs
