"""The explorer's keys for the selected file: view, extract, blame; and find across layers.

A mixin for DiveApp, so app.py only lists the bindings and inherits the actions.
"""

from __future__ import annotations

import os

from textual import work
from textual.binding import Binding

from dive_py.errors import DivePyError, printable
from dive_py.model.diff import DiffType
from dive_py.ui.viewstate import ancestors, find_row, flatten
from dive_py.ui.widgets import FileTreeView, LayerList

FILE_BINDINGS = [
    Binding("enter,v", "view_file", "View", id="tree.view",
            tooltip="View the file as of this layer (text highlighted, binary as hex; n/p page)"),
    Binding("x", "extract_node", "Extract", id="tree.extract",
            tooltip="Extract the selected file or directory (as of this layer) into a directory you name"),
    Binding("b", "blame_node", "Blame", id="tree.blame",
            tooltip="Every layer that added, changed or removed the selected path"),
]
FIND_BINDING = Binding("f", "find", "Find", id="app.find",
                       tooltip="Find paths in all layers; enter jumps to the layer that last changed one")


class FileActions:
    """Actions on the tree's selected row. Expects DiveApp's attributes (analysis, explorer, source)."""

    def file_side(self, layer: int):
        """(source, analysis, layer) holding the files the tree shows at `layer`."""
        return self.source, self.analysis, layer  # type: ignore[attr-defined]

    def _selected(self):
        if self.explorer is None or len(self.screen_stack) > 1:  # type: ignore[attr-defined]
            return None
        tree = self.query_one(FileTreeView)  # type: ignore[attr-defined]
        if self.focused is not tree:  # type: ignore[attr-defined]
            return None
        return tree.state.current

    def action_view_file(self) -> None:
        row = self._selected()
        if row is None:
            return
        if row.is_dir:
            self.query_one(FileTreeView).action_toggle_dir()  # type: ignore[attr-defined]
            return
        if row.diff is DiffType.REMOVED:
            self.notify(f"{printable(row.path)} was removed in this layer", severity="warning")  # type: ignore[attr-defined]
            return
        from dive_py.sources.content import keep_engine_blobs
        from dive_py.ui.viewer import FileViewer

        keep_engine_blobs()  # an engine image is streamed again once, not on every file
        source, analysis, layer = self.file_side(self.explorer.layer)  # type: ignore[attr-defined]
        self.push_screen(FileViewer(source, analysis.image, analysis.trees, layer, row.path))  # type: ignore[attr-defined]

    def action_blame_node(self) -> None:
        row = self._selected()
        if row is None:
            return
        from dive_py.analysis.trace import blame
        from dive_py.ui.blame import BlameScreen

        _source, analysis, _layer = self.file_side(self.explorer.layer)  # type: ignore[attr-defined]
        self.push_screen(BlameScreen(row.path, blame(analysis, row.path)))  # type: ignore[attr-defined]

    def action_extract_node(self) -> None:
        row = self._selected()
        if row is None:
            return
        from dive_py.ui.extract import ExtractScreen

        layer, path = self.explorer.layer, row.path  # type: ignore[attr-defined]
        default = os.path.join(os.getcwd(), "divepy-extract")

        def chosen(target: str | None) -> None:
            if target:
                self._extract(path, layer, os.path.expanduser(target))

        self.push_screen(ExtractScreen(path, layer, default), chosen)  # type: ignore[attr-defined]

    @work(thread=True, group="extract", exit_on_error=False)
    def _extract(self, path: str, layer: int, target: str) -> None:
        from dive_py.extract import extract
        from dive_py.sources.content import keep_engine_blobs

        keep_engine_blobs()
        source, analysis, layer = self.file_side(layer)
        try:
            report = extract(source, analysis.image, analysis.trees, layer, path, target)
        except DivePyError as exc:
            self.call_from_thread(self.notify, printable(str(exc)), title="extract failed",  # type: ignore[attr-defined]
                                  severity="error", markup=False)
            return
        text = (f"{report.files:,} files, {report.dirs:,} directories, {report.links:,} symlinks "
                f"into {printable(target)}")
        if report.skipped:
            text += f"; skipped {len(report.skipped)}: " + "; ".join(
                f"{printable(p)} ({printable(why)})" for p, why in report.skipped[:3])
        self.last_extract = report
        self.call_from_thread(self.notify, text, title=f"extracted {printable(path)}",  # type: ignore[attr-defined]
                              severity="warning" if report.skipped else "information", markup=False,
                              timeout=10)

    def action_find(self) -> None:
        if self.analysis is None or self.explorer is None or len(self.screen_stack) > 1:  # type: ignore[attr-defined]
            return
        from dive_py.ui.find import FindScreen

        def chosen(result: tuple[int, str] | None) -> None:
            if result is not None:
                self.jump_to(*result)

        self.push_screen(FindScreen(self.analysis), chosen)  # type: ignore[attr-defined]

    def jump_to(self, layer: int, path: str) -> None:
        """Select `layer` and put the tree's cursor on `path` (its ancestors opened)."""
        explorer = self.explorer  # type: ignore[attr-defined]
        tree = self.query_one(FileTreeView)  # type: ignore[attr-defined]
        explorer.select_layer(layer)
        layers = self.query_one(LayerList)  # type: ignore[attr-defined]
        layers.move_cursor(layers.steps.row_of_layer(layer))
        state = tree.state
        for parent in ancestors(path):
            state.options = state.options.with_collapsed(parent, False)
        tree.generation += 1  # any rows a worker is computing are now stale
        tree.pending = False
        state.rows = flatten(state.comparison, state.options)
        index = find_row(state.rows, path)
        state.move_to(index if index is not None else 0)
        tree.rows_changed()
        tree.post_message(FileTreeView.ViewChanged())
        tree.focus()
