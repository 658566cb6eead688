"""A path that wraps after a `/` rather than in the middle of a name (Rich wraps only at spaces,
and paths have none). A name wider than the column breaks after `_`, `-` or `.`, and is cut
only where it has none of those either."""

from __future__ import annotations

import re

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

_PIECE = re.compile(r"[^/]*/|[^/]+")
_NAME_PIECE = re.compile(r"[^_.-]*[_.-]|[^_.-]+")


def _pack(pieces: list[str], width: int, lines: list[str], line: str) -> str:
    """Greedily add pieces to `line`, moving full lines to `lines`; the unfinished line."""
    for piece in pieces:
        if len(line) + len(piece) <= width:
            line += piece
            continue
        if line:
            lines.append(line)
            line = ""
        if len(piece) <= width:
            line = piece
            continue
        smaller = _NAME_PIECE.findall(piece)
        if len(smaller) > 1:  # a long name: break it after _ - .
            line = _pack(smaller, width, lines, "")
            continue
        while len(piece) > width:  # nowhere to break: cut
            lines.append(piece[:width])
            piece = piece[width:]
        line = piece
    return line


def wrap_path(path: str, width: int) -> list[str]:
    """Lines of at most `width` cells, broken after a `/` where possible."""
    lines: list[str] = []
    last = _pack(_PIECE.findall(path), max(1, width), lines, "")
    if last or not lines:
        lines.append(last)
    return lines


class PathText:
    def __init__(self, path: str, style: Style | str = ""):
        self.path = path
        self.style = style

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        style = console.get_style(self.style) if isinstance(self.style, str) and self.style else self.style
        for line in wrap_path(self.path, options.max_width):
            yield Segment(line, style or None)
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        longest = max((len(p) for p in _PIECE.findall(self.path)), default=1)
        return Measurement(min(longest, len(self.path) or 1), len(self.path) or 1)
