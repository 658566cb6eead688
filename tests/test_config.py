"""dive's config files, read from dive's places, through the real `divepy` command."""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers import DIVE_TEST_IMAGE, run_divepy

ARCHIVE = f"docker-archive://{DIVE_TEST_IMAGE}"


@pytest.fixture
def home(tmp_path):
    """A fresh HOME with no XDG_CONFIG_HOME: ~/.config is the XDG config dir."""
    path = tmp_path / "home"
    path.mkdir()
    return path


def write(path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def config_json(home, *args: str, xdg: str | None = None) -> dict:
    env = {"HOME": str(home), "XDG_CONFIG_HOME": xdg or ""}
    proc = run_divepy("config", "--json", *args, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_without_files_every_value_is_dives_default(home):
    data = config_json(home)
    assert data["files"] == []
    values = data["values"]
    assert all(v["origin"] == "default" for v in values.values())
    assert values["diff.hide"]["value"] == []
    assert values["filetree.collapse-dir"]["value"] is False
    assert values["filetree.show-attributes"]["value"] is True
    assert values["layer.show-aggregated-changes"]["value"] is False
    assert values["container-engine"]["value"] == "docker"
    assert values["keybinding.toggle-added-files"]["value"] == "ctrl+a"
    assert values["keybinding.page-up"]["value"] == "pgup,u"


def test_files_are_read_from_dives_places_and_divepys_own_wins(home, tmp_path):
    dot = write(home / ".dive.yaml", "filetree:\n  pane-width: 0.3\n  collapse-dir: true\n")
    cfg = write(home / ".config" / "dive" / "a.yaml", "filetree:\n  pane-width: 0.4\n")
    xdg = tmp_path / "xdg"
    xdg_file = write(xdg / "dive" / "b.yaml", "diff:\n  hide: [added, Unmodified]\n")
    own = write(xdg / "divepy" / "config.yaml", "layer:\n  show-aggregated-changes: true\n"
                "filetree:\n  collapse-dir: false\n")
    data = config_json(home, xdg=str(xdg))
    assert data["files"] == [dot, cfg, xdg_file, own]
    values = data["values"]
    assert values["filetree.pane-width"] == {"value": 0.4, "origin": cfg}
    assert values["filetree.collapse-dir"] == {"value": False, "origin": own}
    assert values["diff.hide"] == {"value": ["added", "unmodified"], "origin": xdg_file}
    assert values["layer.show-aggregated-changes"] == {"value": True, "origin": own}
    assert values["filetree.show-attributes"]["origin"] == "default"


def test_dives_readme_names_for_diff_types_are_understood(home):
    path = write(home / ".dive.yaml", "diff:\n  hide:\n    - changed\n    - unchanged\n    - added\n")
    assert config_json(home)["values"]["diff.hide"] == {"value": ["modified", "unmodified", "added"],
                                                        "origin": path}


def test_the_text_form_names_each_origin(home):
    path = write(home / ".dive.yaml", "keybinding:\n  quit: ctrl+q\n")
    proc = run_divepy("config", env={"HOME": str(home), "XDG_CONFIG_HOME": ""})
    assert proc.returncode == 0, proc.stderr
    assert f"  quit: ctrl+q  # {path}" in proc.stdout.splitlines()
    assert "  pane-width: 0.6  # default" in proc.stdout.splitlines()


def test_explicit_config_file_replaces_the_search(home, tmp_path):
    write(home / ".dive.yaml", "container-engine: podman\n")
    given = write(tmp_path / "given.yaml", "ignore-errors: true\n")
    values = config_json(home, "--config", given)["values"]
    assert values["container-engine"]["origin"] == "default"
    assert values["ignore-errors"] == {"value": True, "origin": given}


def test_unknown_keys_warn_once_and_dive_only_keys_are_quiet(home):
    write(home / ".dive.yaml", "colour: blue\nlog:\n  enabled: true\n")
    write(home / ".config" / "dive" / "x.yaml", "colour: red\n")
    proc = run_divepy("config", env={"HOME": str(home), "XDG_CONFIG_HOME": ""})
    assert proc.returncode == 0
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert warnings == [f"divepy: warning: config {home}/.dive.yaml: unknown key 'colour' ignored"
                        .removeprefix("divepy: ")]


@pytest.mark.parametrize("text, key, shown", [
    ("filetree:\n  pane-width: 1.5\n", "filetree.pane-width", "1.5"),
    ("filetree:\n  collapse-dir: maybe\n", "filetree.collapse-dir", "'maybe'"),
    ("diff:\n  hide: [added, sideways]\n", "diff.hide", "['added', 'sideways']"),
    ("container-engine: rkt\n", "container-engine", "'rkt'"),
    ("keybinding:\n  quit: ''\n", "keybinding.quit", "''"),
])
def test_a_bad_value_is_one_line_naming_file_key_and_value(home, text, key, shown):
    path = write(home / ".dive.yaml", text)
    for args in (["config"], [ARCHIVE, "--ci"]):
        proc = run_divepy(*args, env={"HOME": str(home), "XDG_CONFIG_HOME": ""})
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr
        assert lines[0].startswith(f"divepy: config {path}: {key}: bad value {shown}")


def test_unparsable_yaml_is_a_config_error(home):
    path = write(home / ".dive.yaml", "filetree: [unclosed\n")
    proc = run_divepy(ARCHIVE, "--ci", env={"HOME": str(home), "XDG_CONFIG_HOME": ""})
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"divepy: config {path} line 2: not valid YAML"


def test_a_bad_key_name_fails_before_the_explorer_starts(home):
    write(home / ".dive.yaml", "keybinding:\n  toggle-added-files: ctrl+nosuchkey\n")
    from dive_py.config import load_config
    from dive_py.errors import ConfigError
    from dive_py.ui.settings import keymap_from_config

    config = load_config(env={"HOME": str(home)})
    with pytest.raises(ConfigError, match=r"keybinding.toggle-added-files: unknown key 'ctrl\+nosuchkey'"):
        keymap_from_config(config.keybindings(), dict(config.origins))


def test_dive_key_names_become_textual_ones():
    from dive_py.ui.settings import textual_keys

    assert textual_keys("pgup, u", "x") == ["pageup", "u"]
    assert textual_keys("esc", "x") == ["escape"]
    assert textual_keys("ctrl+space", "x") == ["ctrl+space", "ctrl+@"]
    assert textual_keys("/, ?", "x") == ["slash", "question_mark"]
    assert textual_keys("ctrl+x,F5", "x") == ["ctrl+x", "f5"]
