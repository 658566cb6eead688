"""The explorer's hints table (image details pane): Dockerfile fixes with what each saves."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from dive_py.errors import printable
from dive_py.ui.viewstate import format_size


def hints_table(analysis) -> Table:
    table = Table(box=None, expand=True, padding=(0, 1), show_edge=False, pad_edge=False,
                  title=Text("Hints", style="bold"), title_justify="left")
    table.add_column(Text("Saves", style="bold"), justify="right", no_wrap=True)
    table.add_column(Text("Layers", style="bold"), no_wrap=True)
    table.add_column(Text("Hint", style="bold"), overflow="fold", ratio=1)
    for hint in analysis.hints:
        table.add_row(Text(format_size(hint.bytes_saved)), Text(",".join(map(str, hint.layers))),
                      Text(printable(hint.message)))
    if not analysis.hints:
        table.add_row(Text(""), Text(""), Text("(nothing to suggest)", style="italic"))
    return table
