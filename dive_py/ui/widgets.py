"""The explorer's own widgets: the layer list, the virtualised file tree, the detail panes.

Every text that comes from an image (names, commands, link targets, tags) goes through
`printable()` and into rich `Text`/`Segment` objects, never through markup.
"""

from __future__ import annotations

from functools import partial

from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import events, on
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import get_current_worker

from dive_py.analysis.analyze import Analysis
from dive_py.errors import printable
from dive_py.model.diff import DiffType
from dive_py.analysis.dockerfile import Instruction
from dive_py.model.image import BuildStep, Image, Layer
from dive_py.ui.buildsteps import StepRows, row_text, storage_rows
from dive_py.ui.pathtext import PathText
from dive_py.ui.viewstate import (
    Cancelled,
    CompareMode,
    Row,
    TreeState,
    flatten,
    locate,
    format_size,
    row_attributes,
    row_label,
)


def one_line(text: str) -> str:
    """A command on one display line: whitespace runs (newlines too) become one space."""
    return printable(" ".join(text.split()))


def multi_line(text: str) -> str:
    """A command for the details pane: its own lines kept, each escaped."""
    return "\n".join(printable(line.expandtabs(4)) for line in text.splitlines())


def cursor_bindings(prefix: str) -> list[Binding]:
    return [
        Binding("up,k", "cursor_up", "Up", show=False, id=f"{prefix}.up", tooltip="Up one row"),
        Binding("down,j", "cursor_down", "Down", show=False, id=f"{prefix}.down", tooltip="Down one row"),
        Binding("pageup,u", "cursor_page_up", "Page up", show=False, id=f"{prefix}.page-up",
                tooltip="Up one page"),
        Binding("pagedown,d", "cursor_page_down", "Page down", show=False, id=f"{prefix}.page-down",
                tooltip="Down one page"),
        Binding("home", "cursor_first", "First", show=False, id=f"{prefix}.first", tooltip="First row"),
        Binding("end", "cursor_last", "Last", show=False, id=f"{prefix}.last", tooltip="Last row"),
    ]


class CursorView(ScrollView, can_focus=True, inherit_bindings=False):
    """A list that renders only the lines in view, with a one-row cursor kept visible."""

    DEFAULT_CSS = """
    CursorView {
        overflow-x: hidden;
        overflow-y: auto;
    }
    """

    # --- for subclasses
    def row_count(self) -> int:
        raise NotImplementedError

    def get_cursor(self) -> int:
        raise NotImplementedError

    def store_cursor(self, index: int) -> None:
        raise NotImplementedError

    def render_row(self, index: int, width: int) -> Strip:
        raise NotImplementedError

    def cursor_moved(self) -> None:
        """Called after the cursor went to another row."""

    def row_clicked(self, index: int) -> None:
        """Called after a click put the cursor on a row."""

    # --- common behaviour
    @property
    def page_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def rows_changed(self) -> None:
        self.virtual_size = Size(0, self.row_count())
        self.scroll_to_cursor()
        self.refresh()

    def move_cursor(self, index: int) -> None:
        count = self.row_count()
        if count == 0:
            return
        index = max(0, min(index, count - 1))
        moved = index != self.get_cursor()
        if moved:
            self.store_cursor(index)
        self.scroll_to_cursor()
        self.refresh()
        if moved:
            self.cursor_moved()

    def scroll_to_cursor(self) -> None:
        height = self.scrollable_content_region.height
        if height <= 0:
            return
        cursor = self.get_cursor()
        top = round(self.scroll_y)
        if cursor < top:
            self.scroll_to(y=cursor, animate=False)
        elif cursor >= top + height:
            self.scroll_to(y=cursor - height + 1, animate=False)

    def on_resize(self) -> None:
        self.scroll_to_cursor()

    def render_line(self, y: int) -> Strip:
        index = round(self.scroll_y) + y
        width = self.scrollable_content_region.width
        if index >= self.row_count():
            return Strip.blank(width, self.rich_style)
        return self.render_row(index, width)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = round(self.scroll_y) + offset.y
        if 0 <= index < self.row_count():
            self.move_cursor(index)
            self.row_clicked(index)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.get_cursor() - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.get_cursor() + 1)

    def action_cursor_page_up(self) -> None:
        self.move_cursor(self.get_cursor() - self.page_height)

    def action_cursor_page_down(self) -> None:
        self.move_cursor(self.get_cursor() + self.page_height)

    def action_cursor_first(self) -> None:
        self.move_cursor(0)

    def action_cursor_last(self) -> None:
        self.move_cursor(self.row_count() - 1)

    def _cursor_style(self, name: str) -> Style:
        """The cursor's style: full when focused, only its background otherwise."""
        style = self.get_component_rich_style(name)
        if self.has_focus:
            return style
        return Style(bgcolor=style.bgcolor)


class LayerList(CursorView):
    """The image's layers, one row each; the cursor is the selected layer.

    With build steps shown (`b`), every history step is a row, in build order: the steps that
    made no layer are dimmed and marked "no layer", and selecting one shows the tree of the
    last layer made before it.
    """

    COMPONENT_CLASSES = {"layers--cursor", "layers--compared", "layers--index", "layers--size",
                         "layers--no-layer", "layers--label", "layers--error"}

    DEFAULT_CSS = """
    LayerList > .layers--no-layer {
        text-style: dim;
    }
    LayerList > .layers--label {
        color: $warning;
        text-style: italic;
    }
    """

    BINDINGS = cursor_bindings("layers") + [
        Binding("ctrl+a", "compare('aggregated')", "Aggregated", id="layers.compare-aggregated",
                tooltip="Compare mode aggregated: mark every change since the base layer"),
        Binding("ctrl+l", "compare('layer')", "Layer changes", id="layers.compare-layer",
                tooltip="Compare mode layer: mark what the selected layer changed"),
        Binding("b", "toggle_build_steps", "Build steps", show=False, id="layers.toggle-build-steps",
                tooltip="Show or hide the build steps that made no layer (ENV, LABEL, CMD ...), "
                        "so the list reads like the Dockerfile"),
    ]

    class LayerHighlighted(Message):
        """The cursor moved onto a layer (or onto a step after it)."""

        def __init__(self, index: int):
            super().__init__()
            self.index = index

    class CompareModeRequested(Message):
        """The user asked for another compare mode."""

        def __init__(self, mode: CompareMode):
            super().__init__()
            self.mode = mode

    def __init__(self, show_build_steps: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.image_layers: tuple[Layer, ...] = ()
        self.pending: set[int] = set()  # layers listed but not read yet: their size shows as …
        self.steps = StepRows([], show_build_steps)
        self.cursor_row = 0
        self.selected = 0
        self.mode = CompareMode.LAYER

    def set_layers(self, layers: tuple[Layer, ...], instructions: list[Instruction] | None = None) -> None:
        """The layers, and the build steps (`reconstruct(image)`) when known."""
        self.image_layers = layers
        if instructions is None:
            instructions = [Instruction(None, BuildStep(layer.history, layer.index), layer.size)
                            for layer in layers]
        self.steps = StepRows(instructions, self.steps.show_all)
        self.selected = 0
        self.cursor_row = self.steps.row_of_layer(0)
        self.rows_changed()

    @property
    def show_build_steps(self) -> bool:
        return self.steps.show_all

    def set_show_build_steps(self, show: bool) -> None:
        """Show or hide the steps without a layer; the cursor stays on the selected layer."""
        self.steps.set_show_all(show)
        self.cursor_row = self.steps.row_of_layer(self.selected)
        self.rows_changed()
        self.post_message(self.LayerHighlighted(self.selected))

    def current_step(self) -> Instruction | None:
        rows = self.steps.rows
        return rows[self.cursor_row] if 0 <= self.cursor_row < len(rows) else None

    def set_mode(self, mode: CompareMode) -> None:
        self.mode = mode
        self.refresh()

    def row_count(self) -> int:
        return len(self.steps.rows)

    def get_cursor(self) -> int:
        return self.cursor_row

    def store_cursor(self, index: int) -> None:
        self.cursor_row = index
        self.selected = self.steps.layer_at(index)

    def cursor_moved(self) -> None:
        self.post_message(self.LayerHighlighted(self.selected))

    def in_comparison(self, index: int) -> bool:
        """Whether the layer's changes are part of what the tree marks."""
        if self.mode is CompareMode.AGGREGATED:
            return 0 < index <= self.selected or index == self.selected
        return index == self.selected

    def render_row(self, index: int, width: int) -> Strip:
        instruction = self.steps.rows[index]
        layer_index = instruction.step.layer
        layer = self.image_layers[layer_index] if layer_index is not None else None
        base = self.rich_style
        text_style = base if layer is not None else self.get_component_rich_style("layers--no-layer")
        label, command = row_text(instruction, layer, self.steps.show_all)
        parts = [
            ("▌" if layer is not None and self.in_comparison(layer_index) else " ",
             self.get_component_rich_style("layers--compared")),
            (f"{layer_index if layer is not None else '-':>3} ", self.get_component_rich_style("layers--index")),
            (f"{self._size_text(layer_index, layer):>9}  ", self.get_component_rich_style("layers--size")),
        ]
        if label:
            parts.append((f"({label}) ", self.get_component_rich_style("layers--label") + text_style))
        parts.append((one_line(command), text_style))
        if layer is not None and layer.error:  # an unreadable layer: an error row, the others stay usable
            error_style = self.get_component_rich_style("layers--error")
            parts[2:] = [(f"{'error':>9}  ", error_style), (one_line(command), error_style)]
        post = self._cursor_style("layers--cursor") if index == self.cursor_row else None
        segments = [Segment(text, style + post if post else style) for text, style in parts]
        return Strip(segments).crop_extend(0, width, base + post if post else base)

    def _size_text(self, index: int | None, layer: Layer | None) -> str:
        if layer is None:
            return ""
        if index in self.pending and not layer.size:  # listed, not read yet
            return "…"
        return format_size(layer.size)

    def action_compare(self, mode: str) -> None:
        self.post_message(self.CompareModeRequested(CompareMode(mode)))

    def action_toggle_build_steps(self) -> None:
        self.set_show_build_steps(not self.show_build_steps)


ATTR_HEADER = f"{'Permission':<10} {'UID:GID':>11} {'Size':>9}  "


def tree_header(show_attributes: bool) -> str:
    return (ATTR_HEADER if show_attributes else "") + "   Filetree"


class FileTreeView(CursorView):
    """The merged file tree at the selected layer, drawn from a flat list of rows.

    Only the rows in the window are rendered; the rows are recomputed in a thread worker
    whenever the comparison or the options change, and edited in place for collapsing.
    """

    COMPONENT_CLASSES = {
        "filetree--added", "filetree--removed", "filetree--modified", "filetree--unmodified",
        "filetree--guide", "filetree--link", "filetree--attributes", "filetree--cursor",
        "filetree--context",
    }

    BINDINGS = cursor_bindings("tree") + [
        Binding("left,h", "collapse", "Collapse", show=False, id="tree.collapse",
                tooltip="Close the directory (or go to its parent)"),
        Binding("right,l", "expand", "Expand", show=False, id="tree.expand",
                tooltip="Open the directory (or go into it)"),
        Binding("space", "toggle_dir", "Open/close", id="tree.toggle-dir",
                tooltip="Open or close the directory"),
        Binding("ctrl+space,ctrl+@", "toggle_all", "All", key_display="^space", id="tree.toggle-all",
                tooltip="Close every directory (or open every one if all are closed)"),
        Binding("ctrl+a", "toggle_diff('added')", "Added", id="tree.toggle-added",
                tooltip="Show or hide added files"),
        Binding("ctrl+r", "toggle_diff('removed')", "Removed", id="tree.toggle-removed",
                tooltip="Show or hide removed files"),
        Binding("ctrl+n", "toggle_diff('modified')", "Modified", id="tree.toggle-modified",
                tooltip="Show or hide modified files"),
        Binding("ctrl+u", "toggle_diff('unmodified')", "Unmodified", id="tree.toggle-unmodified",
                tooltip="Show or hide unmodified files"),
        Binding("ctrl+b", "toggle_attributes", "Attrs", id="tree.toggle-attributes",
                tooltip="Show or hide the permission, owner and size columns"),
        Binding("ctrl+o", "cycle_sort", "Sort", id="tree.cycle-sort",
                tooltip="Sort by name, or by size (largest first)"),
    ]

    class RowsFlattened(Message):
        """A worker finished computing the rows for one generation of the options."""

        def __init__(self, generation: int, rows: list[Row], found: tuple[str, int | None] | None):
            super().__init__()
            self.generation = generation
            self.rows = rows
            self.found = found  # (cursor path at request time, its index in rows)

    class ViewChanged(Message):
        """The rows, the options or the columns changed (for titles and headers)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state = TreeState()
        self.show_attributes = True
        self.generation = 0
        self.pending = False

    # --- rows
    def set_state(self, state: TreeState) -> None:
        self.state = state
        self.recompute()

    def recompute(self) -> None:
        """Recompute every row from the state's comparison and options, in a thread."""
        self.generation += 1
        state = self.state
        if state.comparison is None:
            self.pending = False
            state.set_rows([])
            self.rows_changed()
            self.post_message(self.ViewChanged())
            return
        self.pending = True
        current = state.current
        self.run_worker(partial(self._flatten, state.comparison, state.options, self.generation,
                                current.path if current is not None else None, state.candidates()),
                        name="flatten", group="flatten", thread=True, exclusive=True)
        self.post_message(self.ViewChanged())

    def _flatten(self, comparison, options, generation: int, cursor_path: str | None,
                 candidates: list[str]) -> None:
        """In a thread: the rows, and where the cursor should go in them."""
        worker = get_current_worker()
        try:
            rows = flatten(comparison, options, cancelled=lambda: worker.is_cancelled)
        except Cancelled:
            return
        found = (cursor_path, locate(rows, candidates)) if cursor_path is not None else None
        if not worker.is_cancelled:
            self.post_message(self.RowsFlattened(generation, rows, found))

    @on(RowsFlattened)
    def _install_rows(self, message: RowsFlattened) -> None:
        if message.generation != self.generation:
            return  # stale: the options changed again meanwhile
        self.pending = False
        self.state.set_rows(message.rows, message.found)
        self.rows_changed()  # the scroll position stays; the cursor is kept in view
        self.post_message(self.ViewChanged())

    def row_count(self) -> int:
        return len(self.state.rows)

    def get_cursor(self) -> int:
        return self.state.cursor

    def store_cursor(self, index: int) -> None:
        self.state.move_to(index)

    # --- drawing
    def render_row(self, index: int, width: int) -> Strip:
        row = self.state.rows[index]
        base = self.rich_style
        diff_style = self.get_component_rich_style(f"filetree--{row.diff.name.lower()}")
        guide_style = self.get_component_rich_style("filetree--guide")
        parts: list[tuple[str, Style]] = []
        context = self.get_component_rich_style("filetree--context", partial=True) if row.context else None
        if context:  # only leads to what is shown: dimmed
            diff_style = diff_style + context
        if self.show_attributes:
            compared = self.state.comparison
            trees = (compared.upper, compared.lower) if compared is not None else ()
            perm, owner, size = row_attributes(row, trees)
            attr_style = (self.get_component_rich_style("filetree--attributes")
                          if row.diff is DiffType.UNMODIFIED else diff_style)
            if context:
                attr_style = attr_style + context
            parts.append((f"{perm:<10} {owner:>11} {size:>9}  ", attr_style))
        parts.append((f" {row.diff.letter} ", diff_style + Style(bold=True)))
        parts.append((row.guide(), guide_style))
        name, link = row_label(row)
        parts.append((name, diff_style + Style(bold=True) if row.is_dir else diff_style))
        if link:
            parts.append((link, self.get_component_rich_style("filetree--link")))
        post = self._cursor_style("filetree--cursor") if index == self.state.cursor else None
        segments = [Segment(text, style + post if post else style) for text, style in parts]
        return Strip(segments).crop_extend(0, width, base + post if post else base)

    # --- actions
    def _set_collapsed(self, index: int, collapsed: bool) -> None:
        state = self.state
        row = state.rows[index]
        if not row.is_dir or row.collapsed == collapsed:
            return
        if self.pending:
            state.options = state.options.with_collapsed(row.path, collapsed)
            self.recompute()
            return
        if not state.set_collapsed(index, collapsed):
            self.recompute()  # too big to expand in-line
            return
        self.generation += 1
        self.rows_changed()
        self.post_message(self.ViewChanged())

    def action_toggle_dir(self) -> None:
        row = self.state.current
        if row is not None and row.is_dir:
            self._set_collapsed(self.state.cursor, not row.collapsed)

    def action_collapse(self) -> None:
        state = self.state
        row = state.current
        if row is None:
            return
        if row.is_dir and not row.collapsed:
            self._set_collapsed(state.cursor, True)
            return
        parent = state.parent_index(state.cursor)
        if parent is not None:
            self.move_cursor(parent)

    def action_expand(self) -> None:
        state = self.state
        row = state.current
        if row is None or not row.is_dir:
            return
        if row.collapsed:
            self._set_collapsed(state.cursor, False)
        elif state.cursor + 1 < len(state.rows) and state.rows[state.cursor + 1].parent is row:
            self.move_cursor(state.cursor + 1)

    def action_toggle_all(self) -> None:
        self.state.toggle_all()
        self.recompute()

    def action_toggle_diff(self, name: str) -> None:
        self.state.toggle_hidden(DiffType[name.upper()])
        self.recompute()

    def action_cycle_sort(self) -> None:
        self.state.cycle_sort()
        self.recompute()

    def action_toggle_attributes(self) -> None:
        self.show_attributes = not self.show_attributes
        self.refresh()
        self.post_message(self.ViewChanged())

    def row_clicked(self, index: int) -> None:
        row = self.state.rows[index]
        if row.is_dir:
            self._set_collapsed(index, not row.collapsed)

    def set_filter(self, text: str) -> bool:
        """Apply a filter text; False (and nothing recomputed) if it is not a valid regex."""
        before = self.state.options
        ok = self.state.set_filter(text)
        if ok and self.state.options != before:
            self.recompute()
        else:
            self.post_message(self.ViewChanged())
        return ok


# ---------------------------------------------------------------- details panes

def _fields(rows: list[tuple[str, str]]) -> Table:
    """Label / value pairs; long values (digests, ids) wrap inside their column."""
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold", ratio=1)
    for label, value in rows:
        grid.add_row(Text(label + ":"), Text(value))
    return grid


def layer_details(image: Image, layer: Layer, shared: str | None = None) -> Table:
    """Tags, ids, digest and the full command of a layer; `shared`: which other local images
    use it (None: not known)."""
    is_top = layer.index == len(image.layers) - 1
    tags = ", ".join(printable(t) for t in image.tags) if is_top and image.tags else "(none)"
    rows = [("Error", printable(layer.error))] if layer.error else []
    rows += [
        ("Tags", tags),
        ("ID", printable(layer.blob_id) or "(unknown)"),
        ("Digest", printable(layer.digest) or "(unknown)"),
        ("Size", f"{format_size(layer.size)} ({layer.size:,} bytes)"),
    ]
    if shared is not None:
        rows.append(("Shared with", shared))
    if layer.history is not None and layer.history.created:
        rows.append(("Created", printable(layer.history.created)))
    if layer.history is not None and layer.history.comment:
        rows.append(("Comment", printable(layer.history.comment)))
    rows.extend(storage_rows(image, layer))
    outer = Table.grid(expand=True)
    outer.add_column(overflow="fold")
    outer.add_row(_fields(rows))
    outer.add_row(Text("Command:", style="bold"))
    outer.add_row(Text(multi_line(layer.command) or "(none)"))
    return outer


MAX_INEFFICIENCIES = 500


def image_name(image: Image) -> str:
    return printable(image.tags[0] if image.tags else image.name)


def image_details(analysis: Analysis) -> Table:
    """The image's numbers and the table of files stored more than once."""
    image = analysis.image
    score = analysis.score
    summary = _fields([
        ("Image name", image_name(image)),
        ("Total image size", format_size(analysis.size)),
        ("Potential wasted space", format_size(analysis.wasted_bytes)),
        ("Reclaimable space", format_size(analysis.reclaimable_bytes)),
        ("Image efficiency score", f"{score * 100:.0f} %" if score == score else "n/a"),
    ])
    table = Table(box=None, expand=True, padding=(0, 1), show_edge=False, pad_edge=False)
    table.add_column(Text("Count", style="bold"), justify="right", no_wrap=True)
    table.add_column(Text("Total Space", style="bold"), justify="right", no_wrap=True)
    table.add_column(Text("Path", style="bold"), ratio=1)
    broken = [layer.index for layer in image.layers if layer.error]
    if broken:
        summary.add_row(Text("Unreadable:", style="bold"), Text(
            f"layer{'s' if len(broken) > 1 else ''} {', '.join(f'#{i}' for i in broken)}: "
            "the figures leave them out", style="bold"))
    items = analysis.inefficiencies
    for item in items[:MAX_INEFFICIENCIES]:
        table.add_row(Text(str(item.count)), Text(format_size(item.cumulative_size)),
                      PathText(printable(item.path)))
    if len(items) > MAX_INEFFICIENCIES:
        table.add_row(Text(""), Text(""), Text(f"… and {len(items) - MAX_INEFFICIENCIES:,} more",
                                             style="italic"))
    if not items:
        table.add_row(Text(""), Text(""), Text("(no file is stored more than once)", style="italic"))
    outer = Table.grid(expand=True)
    outer.add_column()
    outer.add_row(summary)
    outer.add_row(Text(""))
    outer.add_row(table)
    from dive_py.ui.advice import hints_table

    outer.add_row(Text(""))
    outer.add_row(hints_table(analysis))
    return outer
