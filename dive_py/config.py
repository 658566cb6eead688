"""dive's configuration files, read the way dive reads them, plus divepy's own.

Files, lowest precedence first (a later file overrides the keys it sets):
``~/.dive.yaml``, ``~/.config/dive/*.yaml``, ``$XDG_CONFIG_HOME/dive.yaml``,
``$XDG_CONFIG_HOME/dive/*.yaml``, then divepy's own ``$XDG_CONFIG_HOME/divepy/config.yaml``
(``~/.config/divepy/config.yaml``), which wins. ``--config FILE`` replaces the search.

Values are flattened to dotted keys (``filetree.pane-width``). Each resolved value remembers
where it came from, which ``divepy config`` prints. Bad values raise ConfigError (one line
naming the file, key and value); unknown keys are collected as warnings.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dive_py.errors import ConfigError

DIFF_TYPES = ("added", "removed", "modified", "unmodified")
DIFF_ALIASES = {"changed": "modified", "unchanged": "unmodified"}  # the names dive's README example uses
ENGINES = ("docker", "podman")

# dive's key names -> divepy's default keys: dive 0.13.1's, with ctrl+n for ctrl+m (which is
# Enter in terminals) and / beside ctrl+f for the filter
KEYBINDINGS: dict[str, str] = {
    "quit": "ctrl+c",
    "toggle-view": "tab",
    "filter-files": "ctrl+f, /",
    "close-filter-files": "esc",
    "up": "up,k",
    "down": "down,j",
    "left": "left,h",
    "right": "right,l",
    "page-up": "pgup,u",
    "page-down": "pgdn,d",
    "compare-all": "ctrl+a",
    "compare-layer": "ctrl+l",
    "toggle-collapse-dir": "space",
    "toggle-collapse-all-dir": "ctrl+space",
    "toggle-added-files": "ctrl+a",
    "toggle-removed-files": "ctrl+r",
    "toggle-modified-files": "ctrl+n",
    "toggle-unmodified-files": "ctrl+u",
    "toggle-filetree-attributes": "ctrl+b",
    "toggle-sort-order": "ctrl+o",
    # divepy's own
    "toggle-build-steps": "b",
    "image-config": "c",
}
# dive keys divepy accepts without effect (dive features divepy does differently).
IGNORED_KEYS = ("keybinding.toggle-wrap-tree", "keybinding.extract-file", "log.enabled",
                "log.path", "log.level", "log.quiet", "log.verbosity", "check-for-app-update")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError("expected true or false")


def _pane_width(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError("expected a number between 0 and 1 (exclusive)")
    return float(value)


def _hide(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError(f"expected a list of {', '.join(DIFF_TYPES)}")
    names = [DIFF_ALIASES.get(i.strip().lower(), i.strip().lower()) for i in items]
    bad = [item for item, name in zip(items, names) if name not in DIFF_TYPES]
    if bad:
        raise ValueError(f"{bad[0]!r} is not one of {', '.join(DIFF_TYPES)}")
    return tuple(dict.fromkeys(names))


def _engine(value: Any) -> str:
    if value not in ENGINES:
        raise ValueError(f"expected one of {', '.join(ENGINES)}")
    return value


def _keys(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected keys like 'ctrl+a' or 'pgup,u'")
    keys = [k.strip() for k in value.split(",")]
    if any(not k for k in keys):
        raise ValueError("empty key in the list")
    return ", ".join(keys)


@dataclass(frozen=True)
class Option:
    default: Any
    parse: Callable[[Any], Any]
    help: str


OPTIONS: dict[str, Option] = {
    "diff.hide": Option((), _hide, "diff types hidden in the file tree at start"),
    "filetree.collapse-dir": Option(False, _bool, "start with every directory collapsed"),
    "filetree.pane-width": Option(0.6, _pane_width, "share of the width for the file tree pane"),
    "filetree.show-attributes": Option(True, _bool, "show permissions, uid:gid and size columns"),
    "layer.show-aggregated-changes": Option(False, _bool, "start comparing against the base layer"),
    "layer.show-build-steps": Option(False, _bool, "start with the build steps that made no layer listed"),
    "ignore-errors": Option(False, _bool, "analyse what can be read when a layer is broken"),
    "container-engine": Option("docker", _engine, "engine for plain image names (docker, podman)"),
    **{f"keybinding.{name}": Option(keys, _keys, f"keys for {name}") for name, keys in KEYBINDINGS.items()},
}


@dataclass(frozen=True)
class Config:
    values: Mapping[str, Any]
    origins: Mapping[str, str]  # key -> file it came from, or "default"
    files: tuple[str, ...] = ()  # files read, lowest precedence first
    warnings: tuple[str, ...] = field(default=())

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def keybindings(self) -> dict[str, str]:
        """dive's binding name -> keys, for every binding."""
        prefix = "keybinding."
        return {k[len(prefix):]: v for k, v in self.values.items() if k.startswith(prefix)}


def search_paths(env: Mapping[str, str] | None = None) -> list[str]:
    """The config files that exist, lowest precedence first."""
    env = os.environ if env is None else env
    home = env.get("HOME") or os.path.expanduser("~")
    xdg = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    candidates = [os.path.join(home, ".dive.yaml")]
    candidates += sorted(glob.glob(os.path.join(glob.escape(home), ".config", "dive", "*.yaml")))
    candidates.append(os.path.join(xdg, "dive.yaml"))
    candidates += sorted(glob.glob(os.path.join(glob.escape(xdg), "dive", "*.yaml")))
    candidates.append(os.path.join(xdg, "divepy", "config.yaml"))
    seen: dict[str, None] = {}
    for path in candidates:
        real = os.path.realpath(path)
        if os.path.isfile(path) and real not in seen:
            seen[real] = None
    return list(seen)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and name != "diff.hide":
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def read_yaml(path: str, what: str = "config") -> Any:
    """A YAML file's document; ConfigError naming `what`, the path (and line) if unreadable."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{what} {path}{where}: not valid YAML") from None


def _read(path: str) -> dict[str, Any]:
    data = read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"config {path}: expected a mapping of keys, got {type(data).__name__}")
    return _flatten(data)


def load_config(files: list[str] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Resolve the configuration from `files` (default: the search paths)."""
    files = search_paths(env) if files is None else files
    values = {key: option.default for key, option in OPTIONS.items()}
    origins = dict.fromkeys(OPTIONS, "default")
    warnings: dict[str, str] = {}  # unknown key -> its warning: one per key however many files
    for path in files:
        for key, raw in _read(path).items():
            # dive's keybinding section is `keybinding`; accept the plural too.
            if key.startswith("keybindings."):
                key = "keybinding." + key[len("keybindings."):]
            option = OPTIONS.get(key)
            if option is None:
                if key not in IGNORED_KEYS:
                    warnings.setdefault(key, f"config {path}: unknown key {key!r} ignored")
                continue
            try:
                values[key] = option.parse(raw)
            except ValueError as exc:
                raise ConfigError(f"config {path}: {key}: bad value {raw!r}: {exc}") from None
            origins[key] = path
    return Config(values, origins, tuple(files), tuple(warnings.values()))
