"""`divepy diff A B --explore`: the explorer on two images' final trees.

The layers pane holds two rows, A's final tree and B's. On B (where it starts) the tree is the
combined tree of both, marked as B relative to A (added, removed, modified); on A it is A
alone. Everything else (keys, filter, sort, hiding) is the normal explorer's.
"""

from __future__ import annotations

import math
import time

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.worker import get_current_worker

from dive_py.analysis.analyze import Analysis, analyze
from dive_py.analysis.efficiency import Efficiency
from dive_py.analysis.imagediff import ADDED, CHANGED, REMOVED, ImageDiff, diff_images
from dive_py.model.image import HistoryStep, Image, Layer
from dive_py.ui.across import platform_label
from dive_py.ui.app import AnalysisReady, BytesRead, DiveApp, LoadFailed, app_options
from dive_py.ui.viewstate import format_size
from dive_py.ui.widgets import LayerList, _fields, image_name


class _Pair:
    """The two sources, shown as one while loading."""

    def __init__(self, a, b):
        self.a, self.b = a, b

    def describe(self) -> str:
        return f"{self.a.describe()} vs {self.b.describe()}"


def _final_layer(index: int, side: str, analysis: Analysis) -> Layer:
    name = image_name(analysis.image)
    platform = platform_label(analysis.image)
    step = HistoryStep(created_by=f"{side}: {name} (final tree of {len(analysis.image.layers)} layers"
                                  + (f", {platform})" if platform else ")"))
    return Layer(index=index, digest="", blob_id=side, history=step, entries=(), size=analysis.final_size)


def pair_analysis(diff: ImageDiff) -> Analysis:
    """What the explorer shows: two 'layers', A's final tree and B's."""
    a, b = diff.a, diff.b
    image = Image(name=f"{image_name(a.image)} vs {image_name(b.image)}", source="diff",
                  layers=(_final_layer(0, "A", a), _final_layer(1, "B", b)))
    return Analysis(image, Efficiency(math.nan, ()), b.final_size, (), given_trees=(a.trees[-1], b.trees[-1]))


def diff_details(diff: ImageDiff) -> Table:
    rows = [
        ("A", f"{image_name(diff.a.image)}  {platform_label(diff.a.image)}"),
        ("B", f"{image_name(diff.b.image)}  {platform_label(diff.b.image)}"),
        ("Common base", f"{diff.common_layers} layers, {format_size(diff.common_bytes)}"),
        ("Final size A", format_size(diff.a.final_size)),
        ("Final size B", format_size(diff.b.final_size)),
        ("Added in B", f"{diff.count(ADDED):,} paths, {format_size(diff.bytes_of(ADDED, 'b'))}"),
        ("Removed in B", f"{diff.count(REMOVED):,} paths, {format_size(diff.bytes_of(REMOVED, 'a'))}"),
        ("Changed", f"{diff.count(CHANGED):,} paths, {format_size(diff.bytes_of(CHANGED, 'a'))} → "
                    f"{format_size(diff.bytes_of(CHANGED, 'b'))}"),
    ]
    return _fields(rows)


class DiffReady(AnalysisReady):
    def __init__(self, analysis: Analysis, diff: ImageDiff):
        super().__init__(analysis)
        self.diff = diff


class DiffApp(DiveApp):
    def __init__(self, source_a, source_b, **kwargs):
        super().__init__(_Pair(source_a, source_b), **kwargs)
        self.diff: ImageDiff | None = None

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load(self) -> None:
        worker = get_current_worker()
        total, last = 0, 0.0

        def progress(blob: str, nbytes: int) -> None:
            nonlocal total, last
            total += nbytes
            if time.monotonic() - last >= self.progress_interval:
                last = time.monotonic()
                self.post_message(BytesRead(total, blob))

        try:
            a = analyze(self.source.a.load(progress))
            b = analyze(self.source.b.load(progress))
            diff = diff_images(a, b)
        except Exception as exc:  # noqa: BLE001 (shown in the UI, see LoadFailed.of)
            self.post_message(LoadFailed.of(exc))
            return
        if not worker.is_cancelled:
            self.post_message(DiffReady(pair_analysis(diff), diff))

    @on(DiffReady)
    def _diff_ready(self, message: DiffReady) -> None:
        message.prevent_default()
        self.diff = message.diff
        self._analysis_ready(message)
        self.query_one("#image-details-pane").border_title = "Image diff"
        self.query_one("#image-details").update(diff_details(message.diff))
        self.query_one(LayerList).move_cursor(1)

    def _update_tree_titles(self) -> None:
        super()._update_tree_titles()
        if self.diff is not None and self.explorer is not None:
            self.query_one("#tree-pane").border_title = (
                "Combined tree: B relative to A" if self.explorer.layer == 1 else "A's final tree")

    def _update_title(self, width: int | None = None) -> None:
        if self.diff is None or self.explorer is None:
            super()._update_title(width)
            return
        title = Text(" divepy diff ", style="bold")
        title.append(f" A: {image_name(self.diff.a.image)}  B: {image_name(self.diff.b.image)} ", style="bold")
        if self.explorer.layer == 1:
            title.append("  B relative to A: what B adds, removes and changes", style="italic")
        else:
            title.append("  A alone", style="italic")
        title.no_wrap = True
        title.overflow = "ellipsis"
        self.query_one("#title").update(title)

    def file_side(self, layer: int):
        """View, extract and blame read A's or B's own image, as of its last layer."""
        assert self.diff is not None
        side = self.diff.b if layer == 1 else self.diff.a
        return (self.source.b if layer == 1 else self.source.a), side, len(side.image.layers) - 1

    def action_find(self) -> None:
        self.notify("find searches the layers of one image: open it with divepy IMAGE", severity="warning")


def run(source_a, source_b, config=None) -> int:
    app = DiffApp(source_a, source_b, **app_options(config))
    app.run()
    return app.return_code or 0

