"""Hints on an image built by the engine with every pattern the advice knows."""

from __future__ import annotations

import json

import pytest

from dive_py.analysis.analyze import analyze
from dive_py.sources.resolve import Source
from tests.helpers import run_divepy

pytestmark = pytest.mark.engine

APP_SH = b"#!/bin/sh\necho app\n"
DATA = bytes(range(256)) * 20
DOCKERFILE = """\
FROM divepy-test/busybox:latest
RUN mkdir -p /var/lib/apt/lists/partial /var/cache/apt/archives \\
 && seq 1 30000 > /var/lib/apt/lists/deb_main_Packages && seq 2 20000 > /var/cache/apt/archives/curl.deb
RUN mkdir -p /root/.cache/pip/http /root/.npm/_cacache /usr/local/share/.cache/yarn/v6 /var/cache/apk \\
    /var/cache/dnf \\
 && seq 3 15000 > /root/.cache/pip/http/wheel && seq 4 12000 > /root/.npm/_cacache/index \\
 && seq 6 7000 > /usr/local/share/.cache/yarn/v6/pkg && seq 7 6000 > /var/cache/apk/APKINDEX.tar.gz \\
 && seq 8 5000 > /var/cache/dnf/repomd.xml
RUN seq 5 40000 > /tmp/build.tmp
RUN rm /tmp/build.tmp
COPY app.sh /app/app.sh
RUN chmod 755 /app/app.sh
COPY data.bin /opt/one.bin
COPY data.bin /opt/two.bin
RUN dd if=/dev/zero of=/opt/big.bin bs=1048576 count=11
"""


def seq(first: int, last: int) -> int:
    return len(b"".join(b"%d\n" % i for i in range(first, last + 1)))


@pytest.fixture(scope="module")
def image(build_image):
    return build_image(DOCKERFILE, {"app.sh": APP_SH, "data.bin": DATA}, tag="i7-hints")


@pytest.fixture(scope="module")
def by_kind(image):
    analysis = analyze(Source("docker", image.id).load())
    out: dict[tuple[str, tuple[int, ...]], int] = {}
    for hint in analysis.hints:
        key = (hint.kind, hint.layers)
        assert key not in out or hint.kind == "package-cache", hint
        out[key] = out.get(key, 0) + hint.bytes_saved
    return out, analysis


def test_every_pattern_gives_its_hint_with_exact_bytes(by_kind):
    found, _ = by_kind
    assert found == {
        ("package-cache", (1,)): seq(1, 30000) + seq(2, 20000),
        # pip, npm, yarn, apk and dnf: one hint each
        ("package-cache", (2,)): seq(3, 15000) + seq(4, 12000) + seq(6, 7000) + seq(7, 6000) + seq(8, 5000),
        ("deleted-later", (3, 4)): seq(5, 40000),
        ("attributes-only", (5, 6)): len(APP_SH),
        ("duplicate-content", (7, 8)): len(DATA),
        ("large-file", (9,)): 11 << 20,
    }


def test_hints_name_the_fix_and_the_paths(by_kind):
    _, analysis = by_kind
    hints = {(h.kind, h.layers, h.paths[0]): h for h in analysis.hints}
    pip = hints[("package-cache", (2,), "/root/.cache/pip")]
    assert "--no-cache-dir" in pip.fix
    caches = {h.paths: h.message.split(" cache ")[0].rsplit(" ", 1)[1]
              for h in analysis.hints if h.kind == "package-cache" and h.layers == (2,)}
    assert caches == {("/root/.cache/pip",): "pip", ("/root/.npm",): "npm",
                      ("/usr/local/share/.cache/yarn",): "yarn", ("/var/cache/apk",): "apk",
                      ("/var/cache/dnf",): "dnf/yum"}
    apt = hints[("package-cache", (1,), "/var/cache/apt")]
    assert apt.paths == ("/var/cache/apt", "/var/lib/apt/lists") and "rm -rf /var/lib/apt/lists/*" in apt.message
    assert "same RUN" in hints[("deleted-later", (3, 4), "/tmp/build.tmp")].message
    assert "--chmod" in hints[("attributes-only", (5, 6), "/app/app.sh")].fix
    assert hints[("duplicate-content", (7, 8), "/opt/one.bin")].paths == ("/opt/one.bin", "/opt/two.bin")
    assert hints[("large-file", (9,), "/opt/big.bin")].bytes_saved == 11 << 20
    assert [h.bytes_saved for h in analysis.hints] == sorted((h.bytes_saved for h in analysis.hints), reverse=True)


def test_hints_in_json_ci_and_markdown(image, tmp_path):
    out, md, junit = tmp_path / "out.json", tmp_path / "out.md", tmp_path / "junit.xml"
    proc = run_divepy(image.id, "--ci", "--json", str(out), "--markdown", str(md), "--junit", str(junit),
                      "--highestReclaimableBytes", "100KB", env={"NO_COLOR": "1"})
    data = json.loads(out.read_text())
    assert set(data) == {"layer", "image", "config", "hints"}
    assert {h["kind"] for h in data["hints"]} == {"package-cache", "deleted-later", "attributes-only",
                                                  "duplicate-content", "large-file"}
    assert set(data["hints"][0]) == {"kind", "message", "bytesSaved", "layers", "paths", "fix"}
    lines = proc.stdout.splitlines()
    result = next(i for i, line in enumerate(lines) if line.startswith("Result:"))
    assert lines[result + 1] == "Hints:"  # after everything dive prints
    assert lines[result + 2].startswith(f"  [large-file] saves {11 << 20} bytes")
    assert "FAIL: highestReclaimableBytes" in proc.stdout and proc.returncode == 1
    text = md.read_text()
    assert "### Hints" in text and "| large-file | 9 |" in text
    assert f"[large-file] saves {11 << 20} bytes" in junit.read_text()


def test_shared_contents_are_the_same_counted_either_way():
    """Few files: a Counter; many: numpy. Both find the contents a user layer adds twice, or
    adds again over the base image."""
    from array import array
    import random

    from dive_py.analysis.hints import shared_contents

    rng = random.Random(5)
    for _ in range(200):
        pool = [rng.getrandbits(64) for _ in range(rng.randrange(1, 40))]
        base = array("Q", rng.choices(pool, k=rng.randrange(0, 30)))
        user = [array("Q", rng.choices(pool, k=rng.randrange(0, 30))) for _ in range(rng.randrange(1, 4))]
        everything = [d for layer in user for d in layer]
        expected = {d for d in everything if everything.count(d) > 1 or d in base}
        assert shared_contents(base, user, numpy_above=10**9) == expected
        assert shared_contents(base, user, numpy_above=0) == expected
