"""Asking where to extract the selected node; the extraction itself is dive_py.extract."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from dive_py.errors import printable


class ExtractScreen(ModalScreen[str | None]):
    """Returns the target directory typed (enter), or None (esc)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="extract.cancel")]

    DEFAULT_CSS = """
    ExtractScreen { align: center middle; }
    ExtractScreen #extract-box { width: 80%; height: auto; border: round $accent; background: $surface;
                                 padding: 0 1; }
    """

    def __init__(self, path: str, layer: int, default: str):
        super().__init__()
        self.path = path
        self.layer_index = layer
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="extract-box") as box:
            box.border_title = "Extract"
            box.border_subtitle = "enter extracts · esc cancels"
            yield Static(f"Write {printable(self.path)} as of layer {self.layer_index} into the directory:",
                         markup=False)
            yield Input(value=self.default, id="extract-dir", select_on_focus=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        self.dismiss(value or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
