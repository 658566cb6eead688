"""`divepy shared` and `divepy diff` on images built here on one base (Docker and podman)."""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers import run_divepy

pytestmark = pytest.mark.engine

COMMON = bytes(range(256)) * 160  # 40,960 bytes
APP_A, APP_B = b"version a\n", b"version b, a longer one\n"
ONLY_B = b"\x00\x01" * 3000


@pytest.fixture(scope="module")
def images(build_image):
    base = build_image("FROM divepy-test/busybox:latest\nCOPY common.bin /common/common.bin\n",
                       {"common.bin": COMMON}, tag="i8-base")
    base_ref = base.tags[0]
    a = build_image(f"FROM {base_ref}\nCOPY app.txt /app/app.txt\nCOPY only-a.txt /app/only-a.txt\n"
                    "RUN mkdir /etc/conf && echo a > /etc/conf/x\n",
                    {"app.txt": APP_A, "only-a.txt": b"just in a\n"}, tag="i8-a")
    b = build_image(f"FROM {base_ref}\nCOPY app.txt /app/app.txt\nCOPY only-b.bin /data/only-b.bin\n"
                    "RUN rm /common/common.bin\n",
                    {"app.txt": APP_B, "only-b.bin": ONLY_B}, tag="i8-b")
    return base, a, b


def _json(*args: str, env: dict | None = None) -> dict:
    proc = run_divepy(*args, "--json", "-", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _layer_sizes(ref: str) -> list[tuple[str, int]]:
    """Each layer's diff ID and size as the single-image analysis reads them."""
    return [(layer["digestId"], layer["sizeBytes"]) for layer in _json(ref)["layer"]]


def test_shared_layers_of_two_images_on_one_base(images):
    base, a, b = images
    result = _json("shared", a.tags[0], b.tags[0])
    layers_a, layers_b = _layer_sizes(a.id), _layer_sizes(b.id)
    assert len(layers_a) == len(layers_b) == 5
    assert layers_a[:2] == layers_b[:2] and layers_a[2:] != layers_b[2:]
    assert layers_a[1][1] == len(COMMON)  # the base's COPY layer: one file (directories count 0)

    by_id = {layer["digestId"]: layer for layer in result["layers"]}
    assert len(by_id) == 2 + 3 + 3
    for digest, size in layers_a[:2]:
        assert by_id[digest]["images"] == [a.tags[0], b.tags[0]]
        assert (by_id[digest]["sizeBytes"], by_id[digest]["savedBytes"]) == (size, size)
    for ref, layers in ((a.tags[0], layers_a), (b.tags[0], layers_b)):
        for digest, size in layers[2:]:
            assert (by_id[digest]["images"], by_id[digest]["sizeBytes"], by_id[digest]["savedBytes"]) == \
                ([ref], size, 0)
    base_bytes = sum(size for _, size in layers_a[:2])
    images_by_name = {i["name"]: i for i in result["images"]}
    for ref, layers in ((a.tags[0], layers_a), (b.tags[0], layers_b)):
        own = sum(size for _, size in layers[2:])
        assert images_by_name[ref] == {"name": ref, "layers": 5, "sizeBytes": base_bytes + own,
                                       "sharedBytes": base_bytes, "uniqueBytes": own}
    total = sum(s for _, s in layers_a) + sum(s for _, s in layers_b)
    assert result["summary"] == {"images": 2, "distinctLayers": 8, "storedBytes": total - base_bytes,
                                 "unsharedBytes": total, "savedBytes": base_bytes}

    table = run_divepy("shared", a.tags[0], b.tags[0])
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[2].split()[:3] == [layers_a[0][0][7:19], "2.0", "MB"]
    assert "2 images, 8 distinct layers" in table.stdout


def test_shared_defaults_to_every_local_image(images, docker_client):
    base, a, b = images
    before = {img.id for img in docker_client.images.list()}
    result = _json("shared")
    after = {img.id for img in docker_client.images.list()}  # other tests may build meanwhile
    names = {i["name"] for i in result["images"]}
    assert {a.tags[0], b.tags[0], base.tags[0], "divepy-test/busybox:latest"} <= names
    assert len(before & after) <= len(result["images"]) <= len(before | after)
    busybox_layer = _layer_sizes("divepy-test/busybox:latest")[0][0]
    users = next(layer["images"] for layer in result["layers"] if layer["digestId"] == busybox_layer)
    assert {a.tags[0], b.tags[0], base.tags[0]} <= set(users)


def test_shared_on_podman_and_on_archives_agrees_with_docker(images, docker_client, podman_client, tmp_path,
                                                              podman_busybox):
    _, a, b = images
    archive = tmp_path / "ab.tar"
    with open(archive, "wb") as fh:
        for chunk in docker_client.api.get_image(a.id):
            fh.write(chunk)
    podman_client.images.load(open(archive, "rb").read())
    with open(archive, "wb") as fh:
        for chunk in docker_client.api.get_image(b.id):
            fh.write(chunk)
    podman_client.images.load(open(archive, "rb").read())

    def shape(result):
        return (sorted((l["digestId"], l["sizeBytes"], len(l["images"])) for l in result["layers"]),
                result["summary"])

    docker_result = _json("shared", a.id, b.id)
    podman_result = _json("shared", "--source", "podman", a.id, b.id,
                          env={"CONTAINER_HOST": os.environ["DIVEPY_PODMAN_HOST"]})
    assert shape(podman_result) == shape(docker_result)
    home = tmp_path / "home"
    (home / ".config" / "divepy").mkdir(parents=True)
    (home / ".config" / "divepy" / "config.yaml").write_text("container-engine: podman\n")
    env = {"CONTAINER_HOST": os.environ["DIVEPY_PODMAN_HOST"], "HOME": str(home), "XDG_CONFIG_HOME": ""}
    configured = _json("shared", a.id, b.id, podman_busybox, env=env)  # that name is podman's only
    assert [len(layer["images"]) for layer in configured["layers"]][0] == 3
    mixed = _json("shared", a.id, f"docker-archive://{archive}")  # archive now holds b
    assert shape(mixed) == shape(docker_result)


def test_shared_names_a_missing_image(images):
    proc = run_divepy("shared", images[1].tags[0], "divepy-test/i8-nope:1")
    assert proc.returncode == 3
    assert proc.stderr.startswith("divepy: image 'divepy-test/i8-nope:1' not found in docker")


def test_diff_lists_what_b_adds_removes_and_changes(images):
    _, a, b = images
    result = _json("diff", a.tags[0], b.tags[0])
    changes = {(p["path"], p["change"]): p for p in result["paths"]}
    assert sorted(changes) == sorted([
        ("app/app.txt", "changed"), ("app/only-a.txt", "removed"),
        ("etc/conf", "removed"), ("etc/conf/x", "removed"),
        ("common/common.bin", "removed"),
        ("data", "added"), ("data/only-b.bin", "added"),
    ])
    app = changes[("app/app.txt", "changed")]
    assert (app["sizeA"], app["sizeB"], app["layerA"], app["layerB"]) == (len(APP_A), len(APP_B), 2, 2)
    common = changes[("common/common.bin", "removed")]
    assert (common["sizeA"], common["sizeB"], common["layerA"], common["layerB"]) == (len(COMMON), None, 1, None)
    only_b = changes[("data/only-b.bin", "added")]
    assert (only_b["kindB"], only_b["sizeB"], only_b["layerB"]) == ("file", len(ONLY_B), 3)
    assert changes[("etc/conf/x", "removed")]["layerA"] == 4
    assert result["commonBase"] == [layer[0] for layer in _layer_sizes(a.id)[:2]]
    summary = result["summary"]
    assert (summary["commonLayers"], summary["added"], summary["removed"], summary["changed"]) == (2, 2, 4, 1)
    assert summary["addedBytes"] == len(ONLY_B)
    assert summary["removedBytes"] == len(COMMON) + len(b"just in a\n") + len(b"a\n")
    assert (summary["changedBytesA"], summary["changedBytesB"]) == (len(APP_A), len(APP_B))

    table = run_divepy("diff", a.tags[0], b.tags[0])
    assert table.returncode == 0, table.stderr
    assert "Common base: 2 layers" in table.stdout
    assert "2 added (6.0 kB), 4 removed" in table.stdout
    rows = [line.split() for line in table.stdout.splitlines()]
    assert ["~", "10", "Bytes", "24", "Bytes", "#2", "#2", "app/app.txt"] in rows


def test_diff_across_sources_and_of_an_image_with_itself(images, docker_client, tmp_path):
    _, a, b = images
    archive = tmp_path / "b.tar"
    with open(archive, "wb") as fh:
        for chunk in docker_client.api.get_image(b.id):
            fh.write(chunk)
    from_daemon = _json("diff", a.id, b.id)
    mixed = _json("diff", a.id, f"docker-archive://{archive}")
    assert mixed["paths"] == from_daemon["paths"] and mixed["summary"] == from_daemon["summary"]
    same = _json("diff", a.id, a.tags[0])
    assert same["paths"] == [] and same["summary"]["commonLayers"] == 5
    assert "The final trees are identical." in run_divepy("diff", a.id, a.id).stdout


def test_diff_errors_are_one_line(images):
    _, a, _ = images
    missing = run_divepy("diff", a.tags[0], "divepy-test/i8-nope:1")
    assert missing.returncode == 3 and missing.stderr.count("\n") == 1
    assert "divepy-test/i8-nope:1" in missing.stderr
    no_tty = run_divepy("diff", a.tags[0], a.tags[0], "--explore")
    assert no_tty.returncode == 2 and "not a terminal" in no_tty.stderr
