"""The blame screen: every layer that touched the selected path."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from dive_py.analysis.trace import Touch
from dive_py.errors import printable
from dive_py.ui.viewstate import format_size


def blame_table(touches: list[Touch]) -> Table:
    table = Table(box=None, expand=True, padding=(0, 1), show_edge=False, pad_edge=False)
    table.add_column(Text("Layer", style="bold"), justify="right", no_wrap=True)
    table.add_column(Text("Change", style="bold"), no_wrap=True)
    table.add_column(Text("Size", style="bold"), justify="right", no_wrap=True)
    table.add_column(Text("Command", style="bold"), overflow="fold", ratio=1)
    for t in touches:
        change = t.change.value + (f" (/{printable(t.via)})" if t.via else "")
        table.add_row(Text(str(t.layer)), Text(change), Text(format_size(t.size)),
                      Text(printable(" ".join(t.command.split()))))
    if not touches:
        table.add_row(Text(""), Text("(no layer touches this path)", style="italic"), Text(""), Text(""))
    return table


class BlameScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,b", "close", "Close", id="blame.close")]

    DEFAULT_CSS = """
    BlameScreen { align: center middle; }
    BlameScreen #blame-box { width: 90%; height: auto; max-height: 80%; border: round $accent;
                             background: $surface; padding: 0 1; }
    """

    def __init__(self, path: str, touches: list[Touch]):
        super().__init__()
        self.path = path
        self.touches = touches

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="blame-box") as box:
            box.border_title = f"Blame: {printable(self.path)}"
            box.border_subtitle = "esc closes"
            yield Static(blame_table(self.touches), id="blame-table")

    def action_close(self) -> None:
        self.dismiss(None)
