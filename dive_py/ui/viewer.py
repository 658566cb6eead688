"""The file viewer: a file of the image as of the selected layer, a page at a time.

Text is highlighted by the file's name (Rich's Syntax); anything else is shown as hex. The
file is read once into a spool (memory up to a few MB, an anonymous temp file beyond) and
only the page on screen is ever decoded, so large files never sit whole in memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from dive_py.errors import DivePyError, printable
from dive_py.ui.viewstate import format_size

TEXT_PAGE = 64 << 10
HEX_PAGE = 4 << 10
HEX_WIDTH = 16


def looks_like_text(data: bytes) -> bool:
    """No NUL byte and valid UTF-8 (a character cut at the page end is allowed)."""
    if b"\0" in data:
        return False
    for cut in range(4):
        try:
            data[: len(data) - cut].decode("utf-8")
            return True
        except UnicodeDecodeError:
            continue
    return False


def hex_lines(data: bytes, offset: int) -> Text:
    out = Text()
    for start in range(0, len(data), HEX_WIDTH):
        chunk = data[start:start + HEX_WIDTH]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        ascii_ = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        out.append(f"{offset + start:08x}  ", style="dim")
        out.append(f"{hexes:<{HEX_WIDTH * 3 - 1}}  ")
        out.append(ascii_ + "\n", style="cyan")
    return out


@dataclass
class Page:
    offset: int
    line: int  # first line number (text)
    data: bytes


class Pager:
    """Pages of a seekable file: text pages end at a line break, hex pages at a fixed size."""

    def __init__(self, fh: BinaryIO, size: int):
        self.fh = fh
        self.size = size
        head = self._read(0, TEXT_PAGE)
        self.text = looks_like_text(head)
        self.pages: list[Page] = [self._page(0, 1)]
        self.index = 0

    def _read(self, offset: int, n: int) -> bytes:
        self.fh.seek(offset)
        return self.fh.read(n)

    def _page(self, offset: int, line: int) -> Page:
        data = self._read(offset, TEXT_PAGE if self.text else HEX_PAGE)
        if self.text and offset + len(data) < self.size:
            cut = data.rfind(b"\n")
            if cut >= 0:
                data = data[:cut + 1]
        return Page(offset, line, data)

    @property
    def current(self) -> Page:
        return self.pages[self.index]

    def next(self) -> bool:
        page = self.current
        end = page.offset + len(page.data)
        if end >= self.size or not page.data:
            return False
        if self.index + 1 == len(self.pages):
            self.pages.append(self._page(end, page.line + page.data.count(b"\n")))
        self.index += 1
        return True

    def previous(self) -> bool:
        if self.index == 0:
            return False
        self.index -= 1
        return True

    def render(self, path: str):
        page = self.current
        if self.text:
            code = page.data.decode("utf-8", errors="replace")
            lexer = Syntax.guess_lexer(path, code=code)
            return Syntax(code, lexer, line_numbers=True, start_line=page.line, word_wrap=False,
                          theme="ansi_dark", indent_guides=False)
        return hex_lines(page.data, page.offset)


class FileViewer(ModalScreen[None]):
    """Shows one file; n/p (or ]/[) page, esc or q closes."""

    BINDINGS = [
        Binding("escape,q", "close", "Close", id="viewer.close"),
        Binding("n,right_square_bracket", "page(1)", "Next page", id="viewer.next-page"),
        Binding("p,left_square_bracket", "page(-1)", "Previous page", id="viewer.previous-page"),
    ]

    DEFAULT_CSS = """
    FileViewer { align: center middle; }
    FileViewer #viewer-box { width: 95%; height: 90%; border: round $accent; background: $surface; }
    FileViewer #viewer-body { width: auto; min-width: 100%; }
    """

    def __init__(self, source, image, trees, layer: int, path: str):
        super().__init__()
        self.source, self.image, self.trees = source, image, trees
        self.layer_index = layer
        self.path = path
        self.pager: Pager | None = None
        self.error: str | None = None
        self._fh: BinaryIO | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="viewer-box") as box:
            box.border_title = f"{printable(self.path)} · layer {self.layer_index}"
            box.border_subtitle = "reading …"
            yield Static(Text("Reading the layer …"), id="viewer-body")

    def on_mount(self) -> None:
        self.query_one("#viewer-box").focus()
        self._read()

    @work(thread=True, exclusive=True, group="viewer", exit_on_error=False)
    def _read(self) -> None:
        from dive_py.sources.content import open_file

        try:
            _real, fh = open_file(self.source, self.image, self.trees, self.layer_index, self.path)
            size = fh.seek(0, os.SEEK_END)
            pager = Pager(fh, size)
        except DivePyError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        except OSError as exc:
            self.app.call_from_thread(self._failed, f"cannot read: {exc}")
            return
        self.app.call_from_thread(self._ready, fh, pager)

    def _failed(self, error: str) -> None:
        self.error = error
        self.query_one("#viewer-body", Static).update(Text(printable(error), style="bold red"))
        self.query_one("#viewer-box").border_subtitle = "esc closes"

    def _ready(self, fh: BinaryIO, pager: Pager) -> None:
        self._fh = fh
        self.pager = pager
        self._show()

    def _show(self) -> None:
        pager = self.pager
        assert pager is not None
        body = self.query_one("#viewer-body", Static)
        body.update(pager.render(self.path))
        box = self.query_one("#viewer-box", VerticalScroll)
        box.scroll_home(animate=False)
        page = pager.current
        kind = "text" if pager.text else "binary, hex"
        end = page.offset + len(page.data)
        box.border_subtitle = (f"{format_size(pager.size)} · {kind} · bytes {page.offset:,}–{end:,} "
                               f"of {pager.size:,} · n/p page · esc closes")

    def action_page(self, delta: int) -> None:
        if self.pager is None:
            return
        moved = self.pager.next() if delta > 0 else self.pager.previous()
        if moved:
            self._show()

    def action_close(self) -> None:
        self.dismiss(None)

    def on_unmount(self) -> None:
        if self._fh is not None:
            self._fh.close()
