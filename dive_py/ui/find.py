"""Find across all layers: matching paths with the layer that last changed each; enter jumps."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from dive_py.analysis.trace import Found, find
from dive_py.errors import printable
from dive_py.ui.viewstate import format_size

SHOWN = 1000


def option_text(found: Found) -> Text:
    text = Text(f"#{found.layer:<3} {format_size(found.size):>9}  {found.change.value:<20} ")
    text.append("/" + printable(found.path), style="bold" if found.present else "strike")
    return text


class FindScreen(ModalScreen[tuple[int, str] | None]):
    """Type a regex; the list shows matches, largest first. Returns (layer, '/path') or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Close find", id="find.close"),
        Binding("ctrl+o", "toggle_sort", "Sort by size/name", id="find.sort"),
    ]

    DEFAULT_CSS = """
    FindScreen { align: center middle; }
    FindScreen #find-box { width: 90%; height: 80%; border: round $accent; background: $surface; padding: 0 1; }
    FindScreen #find-results { height: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    FindScreen #find-status { height: 1; color: $text-muted; }
    """

    def __init__(self, analysis, initial: str = ""):
        super().__init__()
        self.analysis = analysis
        self.initial = initial
        self.sort = "size"
        self.results: list[Found] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="find-box") as box:
            box.border_title = "Find in all layers"
            box.border_subtitle = "enter: go there · ctrl+o: sort · esc: close"
            yield Input(value=self.initial, placeholder="regex searched in each path", id="find-input")
            yield Static(id="find-status")
            yield OptionList(id="find-results")

    def on_mount(self) -> None:
        self.query_one("#find-input", Input).focus()
        if self.initial:
            self._search(self.initial)

    @on(Input.Changed, "#find-input")
    def _changed(self, event: Input.Changed) -> None:
        self._search(event.value)

    @on(Input.Submitted, "#find-input")
    def _submitted(self) -> None:
        results = self.query_one("#find-results", OptionList)
        if results.option_count:
            results.highlighted = results.highlighted or 0
            results.focus()

    @work(thread=True, exclusive=True, group="find", exit_on_error=False)
    def _search(self, pattern: str) -> None:
        found = find(self.analysis, pattern, self.sort) if pattern else []
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, pattern, found)

    def _show(self, pattern: str, found: list[Found]) -> None:
        self.results = found[:SHOWN]
        results = self.query_one("#find-results", OptionList)
        results.clear_options()
        results.add_options([Option(option_text(f), id=str(i)) for i, f in enumerate(self.results)])
        more = f" (showing {SHOWN:,})" if len(found) > SHOWN else ""
        status = f"{len(found):,} paths match{more} · sorted by {self.sort}" if pattern else ""
        self.query_one("#find-status", Static).update(Text(status))

    @on(OptionList.OptionSelected, "#find-results")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        found = self.results[event.option_index]
        self.dismiss((found.layer, "/" + found.path))

    def action_toggle_sort(self) -> None:
        self.sort = "name" if self.sort == "size" else "size"
        self._search(self.query_one("#find-input", Input).value)

    def action_cancel(self) -> None:
        self.dismiss(None)
