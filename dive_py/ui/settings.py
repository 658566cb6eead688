"""The config -> the explorer: dive's keybindings as a keymap (binding id -> Textual keys), and
the start options.

dive names keys the way its terminal library does (`pgup`, `esc`, `ctrl+slash`, `/`);
Textual has its own names (`pageup`, `escape`, `ctrl+underscore`, `slash`).
"""

from __future__ import annotations

import re
import unicodedata

from textual.keys import KEY_NAME_REPLACEMENTS, Keys

from dive_py.errors import ConfigError
from dive_py.model.diff import DiffType
from dive_py.ui.viewstate import CompareMode, StartOptions

# dive binding name -> the explorer's binding ids it sets
BINDING_IDS: dict[str, tuple[str, ...]] = {
    "quit": ("app.quit-ctrl-c",),
    "toggle-view": ("app.switch-pane",),
    "filter-files": ("app.filter",),
    "close-filter-files": ("filter.close",),
    "up": ("layers.up", "tree.up"),
    "down": ("layers.down", "tree.down"),
    "left": ("tree.collapse",),
    "right": ("tree.expand",),
    "page-up": ("layers.page-up", "tree.page-up"),
    "page-down": ("layers.page-down", "tree.page-down"),
    "compare-all": ("layers.compare-aggregated",),
    "compare-layer": ("layers.compare-layer",),
    "toggle-collapse-dir": ("tree.toggle-dir",),
    "toggle-collapse-all-dir": ("tree.toggle-all",),
    "toggle-added-files": ("tree.toggle-added",),
    "toggle-removed-files": ("tree.toggle-removed",),
    "toggle-modified-files": ("tree.toggle-modified",),
    "toggle-unmodified-files": ("tree.toggle-unmodified",),
    "toggle-filetree-attributes": ("tree.toggle-attributes",),
    "toggle-sort-order": ("tree.cycle-sort",),
    "toggle-build-steps": ("layers.toggle-build-steps",),
    "image-config": ("app.image-config",),
}

# dive's names that differ from Textual's; some keys arrive under two names
RENAMED: dict[str, tuple[str, ...]] = {
    "pgup": ("pageup",),
    "pgdn": ("pagedown",),
    "esc": ("escape",),
    "ctrl+slash": ("ctrl+underscore", "ctrl+slash"),
    "ctrl+space": ("ctrl+space", "ctrl+@"),
    "ctrl+2": ("ctrl+@",),
    "backspace2": ("backspace",),
}

_TEXTUAL_KEYS = {key.value for key in Keys}
_MODIFIERS = ("ctrl", "alt", "shift", "meta", "super")


def textual_keys(dive_keys: str, where: str) -> list[str]:
    """One config value ('pgup, u') -> Textual key names; ConfigError for a key it can't read."""
    keys: list[str] = []
    for raw in (k.strip() for k in dive_keys.split(",")):
        name = raw.lower() if len(raw) > 1 else raw
        if name in RENAMED:
            keys.extend(RENAMED[name])
            continue
        *mods, base = name.split("+") if len(name) > 1 else [name]
        if not base or any(m not in _MODIFIERS for m in mods):
            raise ConfigError(f"{where}: unknown key {raw!r}")
        if len(base) == 1 and not base.isalnum():
            base = unicodedata.name(base).lower().replace("-", "_").replace(" ", "_")
            base = KEY_NAME_REPLACEMENTS.get(base, base)  # Textual says "slash", not "solidus"
        elif not (len(base) == 1 or base in _TEXTUAL_KEYS or re.fullmatch(r"f\d{1,2}", base)):
            raise ConfigError(f"{where}: unknown key {raw!r}")
        keys.append("+".join([*mods, base]))
    return list(dict.fromkeys(keys))


def keymap_from_config(keybindings: dict[str, str], origins: dict[str, str]) -> dict[str, str]:
    """The keymap for the bindings the user set (defaults stay the explorer's own, which
    include extra keys such as `/` for the filter)."""
    keymap: dict[str, str] = {}
    for name, keys in keybindings.items():
        origin = origins.get(f"keybinding.{name}", "default")
        if origin == "default" or name not in BINDING_IDS:
            continue
        textual = ",".join(textual_keys(keys, f"config {origin}: keybinding.{name}"))
        for binding_id in BINDING_IDS[name]:
            keymap[binding_id] = textual
    return keymap


def start_options(config) -> StartOptions:
    """The explorer's start state from a resolved dive_py.config.Config."""
    aggregated = config["layer.show-aggregated-changes"]
    return StartOptions(
        mode=CompareMode.AGGREGATED if aggregated else CompareMode.LAYER,
        hidden=frozenset(DiffType[name.upper()] for name in config["diff.hide"]),
        collapse_all=config["filetree.collapse-dir"],
        show_attributes=config["filetree.show-attributes"],
        pane_width=config["filetree.pane-width"],
        show_build_steps=config["layer.show-build-steps"],
    )
