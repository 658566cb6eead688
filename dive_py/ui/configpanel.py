"""The image config panel: how the image runs (Entrypoint, Cmd, Env ...) and what the engine
knows about it (tags, digests, storage), from the same summary as `--json`'s `config`."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from dive_py.analysis.imageconfig import MASK
from dive_py.errors import printable

FIELDS = (
    ("Entrypoint", "entrypoint"), ("Cmd", "cmd"), ("Env", "env"), ("Exposed ports", "exposedPorts"),
    ("Volumes", "volumes"), ("User", "user"), ("Working dir", "workingDir"), ("Labels", "labels"),
    ("Healthcheck", "healthcheck"), ("Stop signal", "stopSignal"), ("Shell", "shell"),
    ("On build", "onBuild"), ("Architecture", "architecture"), ("OS", "os"), ("Variant", "variant"),
    ("Created", "created"), ("Image ID", "imageId"), ("Tags", "tags"), ("Repo digests", "repoDigests"),
    ("Storage", "storage"),
)


def _lines(key: str, value: Any) -> list[str]:
    if value is None or value == [] or value == {}:
        return []
    if key in ("entrypoint", "cmd", "shell"):
        return [json.dumps(value, ensure_ascii=False)]
    if key == "healthcheck":
        options = " ".join(f"{k}={v}" for k, v in value.items() if k != "test")
        return [json.dumps(value["test"], ensure_ascii=False) + (f"  ({options})" if options else "")]
    if key == "storage":
        return [value["driver"], *(f"{k}: {v}" for k, v in value["data"].items())]
    if key == "labels":
        return [f"{k}={v}" for k, v in value.items()]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def config_table(summary: dict[str, Any]) -> Table:
    """One row per setting the image has; values from the image escaped, one per line."""
    grid = Table.grid(padding=(0, 2), expand=True)
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold", ratio=1)
    for label, key in FIELDS:
        lines = _lines(key, summary.get(key))
        if lines:
            grid.add_row(Text(label), Text("\n".join(printable(line) for line in lines)))
        else:
            grid.add_row(Text(label), Text("(not set)", style="dim italic"))
    return grid


class ConfigScreen(ModalScreen[None]):
    """The image config over the explorer; esc (or c) closes it."""

    BINDINGS = [Binding("escape,c", "close", "Close", id="config.close")]

    DEFAULT_CSS = """
    ConfigScreen {
        align: center middle;
    }
    #config-box {
        width: 110;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        border: round $accent;
        border-title-color: $accent;
        background: $surface;
        padding: 0 1;
    }
    """

    def __init__(self, summary: dict[str, Any]):
        super().__init__()
        self.summary = summary

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="config-box") as box:
            box.border_title = "Image config"
            masked = any(item.endswith("=" + MASK) for item in self.summary.get("env") or [])
            box.border_subtitle = ("secret-looking values masked (--show-secrets) · esc closes" if masked
                                   else "esc closes")
            yield Static(config_table(self.summary), id="config-table")

    def action_close(self) -> None:
        self.dismiss(None)
