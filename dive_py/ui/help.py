"""The help screen: every key binding of the explorer, by pane, as currently mapped."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

Section = tuple[str, list[Binding]]


def keys_of(app, binding: Binding) -> str:
    """The keys of a binding as the user sees them, after any keymap remapping."""
    keymap = getattr(app, "_keymap", None) or {}
    keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
    parts = [k.strip() for k in keys.split(",") if k.strip() and k.strip() != "ctrl+@"]
    shown = []
    for key in parts:
        if binding.key_display and len(parts) == 1:
            shown.append(binding.key_display)
        else:
            shown.append(app.get_key_display(Binding(key, binding.action)))
    return ", ".join(dict.fromkeys(shown))


def _describe(binding: Binding) -> str:
    return binding.tooltip or binding.description or binding.action


def shared_cursor_section(app, title: str, a: list[Binding], b: list[Binding]
                          ) -> tuple[Section, list[Binding], list[Binding]]:
    """Cursor keys common to two panes as one section; what differs stays with each pane."""
    by_action_b = {binding.action: binding for binding in b}
    shared, rest_a = [], []
    for binding in a:
        other = by_action_b.get(binding.action)
        if (binding.action.startswith("cursor_") and other is not None
                and keys_of(app, binding) == keys_of(app, other)):
            shared.append(binding)
        else:
            rest_a.append(binding)
    shared_actions = {binding.action for binding in shared}
    rest_b = [binding for binding in b if binding.action not in shared_actions]
    return (title, shared), rest_a, rest_b


def bindings_table(app, sections: list[Section]) -> Group:
    """One small table per section, all with the same key column width."""
    prepared: list[tuple[str, list[tuple[str, str]]]] = []
    for title, bindings in sections:
        rows: list[tuple[str, str]] = []
        for binding in bindings:
            keys, text = keys_of(app, binding), _describe(binding)
            if rows and rows[-1][1] == text:  # "q, ^c  Quit"
                rows[-1] = (f"{rows[-1][0]}, {keys}", text)
            else:
                rows.append((keys, text))
        if rows:
            prepared.append((title, rows))
    key_width = max((len(keys) for _, rows in prepared for keys, _ in rows), default=8)
    parts: list = []
    for title, rows in prepared:
        if parts:
            parts.append(Text(""))
        parts.append(Text(title, style="bold underline"))
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0), expand=True)
        table.add_column(no_wrap=True, style="bold", width=key_width)
        table.add_column(ratio=1)
        for keys, text in rows:
            table.add_row(Text(keys), Text(text))
        parts.append(table)
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    """Lists every key; esc or ? closes it (q still quits)."""

    BINDINGS = [
        Binding("escape,question_mark,f1", "close", "Close help", id="help.close"),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    """

    def __init__(self, sections: list[Section]):
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Keys"
            box.border_subtitle = "esc closes"
            yield Static(bindings_table(self.app, self.sections), id="help-table")

    def action_close(self) -> None:
        self.dismiss(None)
