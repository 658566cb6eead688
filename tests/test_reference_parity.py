"""divepy's JSON equals the reference dive 0.13.1's JSON, key by key, on the same archives."""

import pytest

from dive_py.demo import demo_layers
from dive_py.imagewriter import write_docker_archive
from tests.helpers import DIVE_TEST_IMAGE, divepy_json, run_dive_json

pytestmark = pytest.mark.reference


def assert_same_export(dive: dict, mine: dict) -> None:
    assert len(dive["layer"]) == len(mine["layer"])
    for theirs, ours in zip(dive["layer"], mine["layer"]):
        for key in ("index", "sizeBytes", "command", "fileList"):
            assert theirs[key] == ours[key], (theirs["index"], key)
    for key, value in dive["image"].items():
        assert mine["image"][key] == value, key


def test_dive_test_image_json_matches_dive(tmp_path):
    assert_same_export(run_dive_json(DIVE_TEST_IMAGE, str(tmp_path)),
                       divepy_json(f"docker-archive://{DIVE_TEST_IMAGE}", str(tmp_path)))


def test_demo_without_opaque_layer_matches_dive(tmp_path):
    layers, history = demo_layers()
    archive = write_docker_archive(str(tmp_path / "demo.tar"), layers[:-1], history[:-3])
    assert_same_export(run_dive_json(archive, str(tmp_path)), divepy_json(archive, str(tmp_path)))


def test_opaque_directory_is_where_we_differ_from_dive(tmp_path):
    """dive drops `.wh..wh..opq`; we count what it hides as removed, so efficiency is lower."""
    layers, history = demo_layers()
    archive = write_docker_archive(str(tmp_path / "demo.tar"), layers, history)
    dive = run_dive_json(archive, str(tmp_path))
    mine = divepy_json(archive, str(tmp_path))
    for theirs, ours in zip(dive["layer"], mine["layer"]):
        assert theirs["fileList"] == ours["fileList"]
    hidden = {"/etc/app/legacy.conf", "/etc/app/defaults.conf"}
    assert hidden & {f["file"] for f in mine["image"]["fileReference"]} == hidden
    assert not hidden & {f["file"] for f in dive["image"]["fileReference"]}
    assert mine["image"]["efficiencyScore"] < dive["image"]["efficiencyScore"]
