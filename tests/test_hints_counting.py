"""The hints' counting, without an engine: numpy and plain iteration give the same hints, and
the cache paths' prefilter lets every cache path through."""

from __future__ import annotations

import random

import pytest

from dive_py.analysis import hints as hints_module
from dive_py.analysis.analyze import Analyzer
from dive_py.model.fileinfo import DIR, REG, SYMLINK, FileInfo
from dive_py.model.image import Image, Layer

CACHE_DIRS = ["var/lib/apt/lists", "var/cache/apt/archives", "root/.cache/pip/http", "home/u/.cache/pip",
              "root/.npm/_cacache", "home/app/.npm", "usr/local/share/.cache/yarn/v6", "root/.cache/yarn",
              "home/x/.cache/yarn", "var/cache/apk", "etc/apk/cache", "var/cache/dnf", "var/cache/yum"]
OTHER_DIRS = ["usr/bin", "opt/app", "var/lib/dpkg", "root", "home/u", "srv/data", "var/cache", "etc/apk"]


def _layer(rng: random.Random, index: int, pool: list[int]) -> Layer:
    infos = []
    for n in range(rng.randrange(0, 300)):
        folder = rng.choice(CACHE_DIRS + OTHER_DIRS)
        roll = rng.random()
        if roll < 0.1:
            infos.append(FileInfo(folder, DIR, 0, 0o755, 0, 0, "", 0))
        elif roll < 0.15:
            infos.append(FileInfo(f"{folder}/l{n}", SYMLINK, 0, 0o777, 0, 0, "target", 0))
        elif roll < 0.2 and index:
            infos.append(FileInfo(f"{folder}/.wh.f{rng.randrange(60)}", REG, 0, 0o644, 0, 0, "", 0))
        else:
            size = rng.choice([0, 1, 100, 5000, 11 << 20])
            infos.append(FileInfo(f"{folder}/f{rng.randrange(60)}", REG, size, rng.choice([0o644, 0o755]),
                                  rng.choice([0, 1000]), 0, "", rng.choice(pool)))
    return Layer(index, f"sha256:{index}", str(index), None, infos, sum(i.size for i in infos))


def _hints(image: Image) -> list:
    analyzer = Analyzer()
    for layer in image.layers:
        analyzer.add(layer.entries)
    return list(analyzer.result(image).hints)


def test_numpy_and_plain_counting_give_the_same_hints(monkeypatch):
    rng = random.Random(11)
    kinds = set()
    for case in range(60):
        pool = [rng.getrandbits(64) for _ in range(rng.randrange(1, 50))]
        image = Image("t", "test", tuple(_layer(rng, i, pool) for i in range(rng.randrange(1, 5))))
        monkeypatch.setattr(hints_module, "NUMPY_ABOVE", 10**9)
        plain = _hints(image)
        monkeypatch.setattr(hints_module, "NUMPY_ABOVE", 0)
        assert _hints(image) == plain, case
        kinds.update(hint.kind for hint in plain)
    assert kinds == {"package-cache", "deleted-later", "attributes-only", "duplicate-content", "large-file"}


@pytest.mark.parametrize("path", [f"{d}/file" for d in CACHE_DIRS] + CACHE_DIRS)
def test_every_cache_path_passes_the_prefilter(path):
    assert hints_module._CACHE_RE.match(path) and path.startswith(hints_module.CACHE_PREFIXES)
