"""The divepy explorer: layers on the left, the file tree of the selected layer on the right.

The app starts at once; the image is read and analysed in a thread worker, which reports
with messages (`OutlineReady`, `BytesRead`, `LayerRead`, `ImageLoaded`, `AnalysisReady`,
`LoadFailed`). The layer list shows from the outline on, before any layer is read.
"""

from __future__ import annotations

import gc
import time
from dataclasses import replace

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from dive_py.analysis.analyze import Analysis, analyze
from dive_py.analysis.dockerfile import reconstruct
from dive_py.analysis.imageconfig import summarize
from dive_py.errors import DivePyError, printable
from dive_py.model.image import Image
from dive_py.ui.fileactions import FILE_BINDINGS, FIND_BINDING, FileActions
from dive_py.ui.across import engine_of, other_users, platform_label, shared_text
from dive_py.ui.buildsteps import step_details
from dive_py.ui.configpanel import ConfigScreen
from dive_py.ui.help import HelpScreen, shared_cursor_section
from dive_py.ui.viewstate import (
    DIFF_TYPES,
    CompareMode,
    ExplorerState,
    SortMode,
    StartOptions,
    format_size,
)
from dive_py.ui.widgets import (
    FileTreeView,
    LayerList,
    image_details,
    image_name,
    layer_details,
    tree_header,
)

LAYER_HEADER = f" {'#':>3} {'Size':>9}  Command"


class BytesRead(Message):
    """The loader has read `total` bytes of the image so far (`blob` is being read)."""

    def __init__(self, total: int, blob: str):
        super().__init__()
        self.total = total
        self.blob = blob


class OutlineReady(Message):
    """The layers are known (commands, sizes where the source says them); none is read yet."""

    def __init__(self, image: Image):
        super().__init__()
        self.image = image


class LayerRead(Message):
    """Layer `index` has been read: `entries` and `size` are its own."""

    def __init__(self, index: int, size: int):
        super().__init__()
        self.index = index
        self.size = size


class ImageLoaded(Message):
    """The image is read; the analysis is running."""

    def __init__(self, total: int, layers: int):
        super().__init__()
        self.total = total
        self.layers = layers


class AnalysisReady(Message):
    """The image is read and analysed."""

    def __init__(self, analysis: Analysis):
        super().__init__()
        self.analysis = analysis


class LoadFailed(Message):
    """The image could not be read or analysed; `error` is one line for the user."""

    def __init__(self, error: str):
        super().__init__()
        self.error = error

    @classmethod
    def of(cls, exc: Exception) -> LoadFailed:
        """A DivePyError says what and where; anything else is a bug, shown all the same so the
        user can read it and quit normally."""
        if isinstance(exc, DivePyError):
            return cls(str(exc))
        return cls(f"internal error: {type(exc).__name__}: {exc}")


class SharingFound(Message):
    """Which local images use which layers (diff ID -> [(image ID, name)])."""

    def __init__(self, users: dict[str, list[tuple[str, str]]]):
        super().__init__()
        self.users = users


class _LoadCancelled(Exception):
    pass


class FilterInput(Input):
    """The filter line: a regex matched (searched) against each full path, applied live."""

    BINDINGS = [
        Binding("escape", "close_filter", "Clear and close filter", id="filter.close"),
    ]

    class Closed(Message):
        """The user closed the filter (escape)."""

    def action_close_filter(self) -> None:
        self.post_message(self.Closed())


class DiveApp(FileActions, App[int]):
    """dive's two-column explorer."""

    CSS_PATH = "app.tcss"
    TITLE = "divepy"
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    BINDINGS = [
        Binding("tab,shift+tab", "switch_pane", "Switch pane", priority=True, id="app.switch-pane",
                tooltip="Switch between the layers and the file tree"),
        Binding("ctrl+f,slash", "open_filter", "Filter", key_display="^f /", id="app.filter",
                tooltip="Filter the file tree: a regex searched in each full path, applied as you type"),
        FIND_BINDING,
        *FILE_BINDINGS,
        Binding("c", "image_config", "Config", show=False, id="app.image-config",
                tooltip="The image config: entrypoint, cmd, env, ports, labels, tags, digests"),
        Binding("question_mark,f1", "help", "Help", key_display="?", id="app.help",
                tooltip="This help"),
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="app.quit-ctrl-c",
                tooltip="Quit"),
    ]

    FILTER_BINDINGS = [
        Binding("enter", "", "Keep the filter and go back to the tree", key_display="enter"),
        Binding("escape", "", "Clear the filter and close it", key_display="esc"),
    ]

    def __init__(self, source, *, keymap: dict[str, str] | None = None,
                 start: StartOptions = StartOptions(), progress_interval: float = 0.1,
                 show_secrets: bool = False):
        """`source` has `describe()` and `load(progress, keep_broken)` (a Source); `keymap`
        maps binding ids (e.g. "tree.toggle-added") to comma-separated keys; `start` is how
        the explorer starts (compare mode, hidden diff types, collapsed dirs, pane width,
        build steps shown); `show_secrets` unmasks Env values named like secrets."""
        super().__init__()
        self.show_secrets = show_secrets
        self.source = source
        self.initial_keymap = dict(keymap or {})
        self.start = start
        self.progress_interval = progress_interval
        self.analysis: Analysis | None = None
        self.explorer: ExplorerState | None = None
        self.load_error: str | None = None
        self.layer_users: dict[str, list[tuple[str, str]]] | None = None
        self._status = "starting"
        self.outline: Image | None = None  # the layer list before the analysis is ready
        self._layers_read = 0
        self._bytes_read = 0

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Static(id="title")
        with Container(id="main"):
            with Vertical(id="left"):
                with Vertical(id="layers-pane", classes="pane"):
                    yield Static(Text(LAYER_HEADER), id="layers-head", classes="colhead")
                    yield LayerList(id="layers", show_build_steps=self.start.show_build_steps)
                with VerticalScroll(id="layer-details-pane", classes="pane", can_focus=False):
                    yield Static(id="layer-details")
                with VerticalScroll(id="image-details-pane", classes="pane", can_focus=False):
                    yield Static(id="image-details")
            with Vertical(id="tree-pane", classes="pane"):
                yield Static(Text(tree_header(True)), id="tree-head", classes="colhead")
                yield Static(id="message")
                yield FileTreeView(id="tree")
                with Horizontal(id="filter-bar"):
                    yield Static(Text("Filter "), id="filter-label")
                    yield FilterInput(placeholder="regex, searched in each full path", compact=True,
                                      id="filter", select_on_focus=False)
                yield Static(id="filter-error")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        if self.initial_keymap:
            self.set_keymap(self.initial_keymap)
        self.query_one("#layers-pane").border_title = "Layers"
        self.query_one("#layer-details-pane").border_title = "Layer details"
        self.query_one("#image-details-pane").border_title = "Image details"
        self.query_one("#filter-bar").display = False
        self.query_one("#filter-error").display = False
        self.query_one(FileTreeView).show_attributes = self.start.show_attributes
        self._apply_pane_width()
        self.query_one(LayerList).focus()
        self._update_title()
        self._update_tree_titles()
        self._show_message(Text(f"Loading {printable(self.source.describe())} …"))
        self._load()

    def on_resize(self, event: events.Resize) -> None:
        self._apply_pane_width(event.size.width)
        self._update_title(event.size.width)

    def _apply_pane_width(self, width: int | None = None) -> None:
        """filetree.pane-width in the two-column layout; stacked panes take the full width."""
        left, tree = self.query_one("#left"), self.query_one("#tree-pane")
        if (width or self.size.width) < self.HORIZONTAL_BREAKPOINTS[-1][0]:
            left.styles.width = tree.styles.width = None
        else:
            share = round(self.start.pane_width * 1000)
            left.styles.width, tree.styles.width = f"{1000 - share}fr", f"{share}fr"

    # ------------------------------------------------------------------ loading
    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load(self) -> None:
        worker = get_current_worker()
        total = 0
        last = 0.0

        def progress(blob: str, nbytes: int) -> None:
            nonlocal total, last
            if worker.is_cancelled:
                raise _LoadCancelled
            total += nbytes
            now = time.monotonic()
            if now - last >= self.progress_interval:
                last = now
                self.post_message(BytesRead(total, blob))

        def outline(image: Image) -> None:
            self.post_message(OutlineReady(image))

        def layer_read(index: int, data) -> None:
            if worker.is_cancelled:
                raise _LoadCancelled
            self.post_message(LayerRead(index, data[1]))

        try:
            image = self.source.load(progress, keep_broken=True,  # broken layers: error rows
                                     on_outline=outline, on_layer=layer_read)
            if worker.is_cancelled:
                return
            self.post_message(ImageLoaded(total, len(image.layers)))
            analysis = analyze(image)
            analysis.trees  # built here, off the UI thread
        except _LoadCancelled:
            return
        except Exception as exc:  # noqa: BLE001 (shown in the UI, see LoadFailed.of)
            self.post_message(LoadFailed.of(exc))
            return
        if not worker.is_cancelled:
            self.post_message(AnalysisReady(analysis))

    @on(OutlineReady)
    def _outline_ready(self, message: OutlineReady) -> None:
        if self.analysis is not None or self.load_error is not None:
            return
        self.outline = message.image
        layers = self.query_one(LayerList)
        layers.pending = set(range(len(message.image.layers)))
        layers.set_layers(message.image.layers)
        self._update_layer_details()
        self._show_progress()

    @on(LayerRead)
    def _layer_read(self, message: LayerRead) -> None:
        layers = self.query_one(LayerList)
        if self.outline is not None and message.index < len(self.outline.layers):
            outline_layers = list(self.outline.layers)
            outline_layers[message.index] = replace(outline_layers[message.index], size=message.size)
            self.outline = replace(self.outline, layers=tuple(outline_layers))
            layers.image_layers = self.outline.layers
        layers.pending.discard(message.index)
        layers.refresh()
        if message.index == layers.selected:
            self._update_layer_details()
        self._layers_read = max(self._layers_read, message.index + 1)
        self._show_progress()

    @on(BytesRead)
    def _bytes_read(self, message: BytesRead) -> None:
        self._bytes_read = message.total
        self._show_progress(message.blob)

    def _show_progress(self, blob: str = "") -> None:
        """'Reading … [bar] layer i of n · bytes read' while layers are read."""
        if self.analysis is not None or self.load_error is not None:
            return
        text = Text(f"Reading {printable(self.source.describe())} ")
        if self.outline is not None and self.outline.layers:
            count = len(self.outline.layers)
            done = min(self._layers_read, count)
            width = 20
            filled = round(width * done / count)
            text.append("█" * filled, style="bold")
            text.append("░" * (width - filled), style="dim")
            text.append(f" layer {min(done + 1, count)} of {count}")
        text.append(f" · {format_size(self._bytes_read)} read")
        if blob:
            blob = printable(blob)
            text.append(f"  {'…' + blob[-27:] if len(blob) > 28 else blob}", style="dim")
        self._show_message(text)

    @on(ImageLoaded)
    def _image_loaded(self, message: ImageLoaded) -> None:
        if self.load_error is None:
            self._show_message(Text(
                f"Read {format_size(message.total)} in {message.layers} layers; analysing …"))

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        self.load_error = message.error
        text = Text("Error: ", style="bold")
        text.append(printable(message.error).replace("\n", " "))
        self._show_message(text, error=True)
        self._update_title()

    @on(AnalysisReady)
    def _analysis_ready(self, message: AnalysisReady) -> None:
        analysis = message.analysis
        # The trees are large and long-lived: keep them out of every later GC pass.
        gc.freeze()
        self.analysis = analysis
        image = analysis.image
        for warning in image.warnings:
            self.notify(printable(warning), title="warning", severity="warning", timeout=10,
                        markup=False)
        self.query_one("#image-details", Static).update(image_details(analysis))
        if not image.layers:
            self._show_message(Text("This image has no layers."), error=True)
            self._update_title()
            return
        self._hide_message()
        self.explorer = ExplorerState(analysis.trees, self.start)
        self.explorer.start()
        layers = self.query_one(LayerList)
        selected = layers.selected if self.outline is not None else 0
        layers.pending = set()
        layers.set_layers(image.layers, reconstruct(image, self.show_secrets))
        if 0 < selected < len(image.layers):  # where the user went while the layers were read
            layers.move_cursor(layers.steps.row_of_layer(selected))
        layers.set_mode(self.explorer.mode)
        self._update_layer_details()
        self._update_title()
        self.query_one(FileTreeView).set_state(self.explorer.tree)
        self._show_layer_error()
        engine = engine_of(image)
        if engine is not None:
            self._find_sharing(engine)

    @work(thread=True, exclusive=True, group="sharing", exit_on_error=False)
    def _find_sharing(self, engine: str) -> None:
        from dive_py.sources.local_images import layer_users

        try:
            self.post_message(SharingFound(layer_users(engine)))
        except DivePyError:
            pass  # the image is loaded; the engine going away only loses this extra line

    @on(SharingFound)
    def _sharing_found(self, message: SharingFound) -> None:
        self.layer_users = message.users
        self._update_layer_details()

    # ------------------------------------------------------------------ reacting
    @on(LayerList.LayerHighlighted)
    def _layer_highlighted(self, message: LayerList.LayerHighlighted) -> None:
        if self.explorer is None:
            self._update_layer_details()
            return
        if self.explorer.select_layer(message.index):
            self.query_one(FileTreeView).recompute()
        self._show_layer_error()
        self._update_layer_details()
        self._update_title()

    @on(LayerList.CompareModeRequested)
    def _compare_mode_requested(self, message: LayerList.CompareModeRequested) -> None:
        if self.explorer is None:
            return
        if self.explorer.set_mode(message.mode):
            self.query_one(LayerList).set_mode(message.mode)
            self.query_one(FileTreeView).recompute()
        self._update_title()

    @on(FileTreeView.ViewChanged)
    def _tree_changed(self) -> None:
        self._update_tree_titles()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        tree = self.query_one(FileTreeView)
        ok = tree.set_filter(event.value)
        field = self.query_one("#filter", FilterInput)
        error = self.query_one("#filter-error", Static)
        field.set_class(not ok, "-invalid")
        if ok:
            error.display = False
        else:
            error.update(Text(tree.state.filter_error or "invalid regex"))
            error.display = True

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        self.query_one(FileTreeView).focus()

    @on(FilterInput.Closed)
    def _filter_closed(self) -> None:
        field = self.query_one("#filter", FilterInput)
        field.value = ""
        self.query_one(FileTreeView).set_filter("")
        field.remove_class("-invalid")
        self.query_one("#filter-bar").display = False
        self.query_one("#filter-error").display = False
        self.query_one(FileTreeView).focus()

    # ------------------------------------------------------------------ actions
    def action_switch_pane(self) -> None:
        if len(self.screen_stack) > 1:
            return
        layers = self.query_one(LayerList)
        if self.focused is layers:
            self.query_one(FileTreeView).focus()
        else:
            layers.focus()

    def action_open_filter(self) -> None:
        if len(self.screen_stack) > 1 or self.explorer is None:
            return
        self.query_one("#filter-bar").display = True
        self.query_one("#filter", FilterInput).focus()

    def action_image_config(self) -> None:
        if len(self.screen_stack) > 1 or self.analysis is None:
            return
        self.push_screen(ConfigScreen(summarize(self.analysis.image, self.show_secrets)))

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        moving, layer_keys, tree_keys = shared_cursor_section(
            self, "Moving (layers and file tree)", LayerList.BINDINGS, FileTreeView.BINDINGS)
        self.push_screen(HelpScreen([
            ("Everywhere", [b for b in self.BINDINGS if b not in FILE_BINDINGS]),
            moving,
            ("Layers pane", layer_keys),
            ("File tree pane", tree_keys + FILE_BINDINGS),
            ("Filter line", self.FILTER_BINDINGS),
            ("Mouse", [Binding("click", "", "Select a layer; select a row, open or close a directory",
                               key_display="click"),
                       Binding("wheel", "", "Scroll", key_display="wheel")]),
        ]))

    # ------------------------------------------------------------------ drawing
    def _show_message(self, text: Text, error: bool = False) -> None:
        message = self.query_one("#message", Static)
        text.no_wrap = not error
        text.overflow = "ellipsis"
        message.update(text)
        message.set_class(error, "-error")
        message.display = True

    def _show_layer_error(self) -> None:
        """Above the tree: why the selected layer could not be read (its changes are missing)."""
        if self.analysis is None or self.explorer is None:
            return
        layer = self.analysis.image.layers[self.explorer.layer]
        if not layer.error:
            self._hide_message()
            return
        text = Text(f"Layer #{layer.index} could not be read: ", style="bold")
        text.append(printable(layer.error).replace("\n", " "))
        text.append(". The tree shows the layers below it without this one's changes.")
        self._show_message(text, error=True)

    def _hide_message(self) -> None:
        self.query_one("#message", Static).display = False

    def _update_title(self, width: int | None = None) -> None:
        title = Text(" divepy ", style="bold")
        if self.analysis is not None:
            title.append(" " + image_name(self.analysis.image) + " ", style="bold")
            platform = platform_label(self.analysis.image)
            if platform:
                title.append(f" {platform} ", style="dim")
        else:
            title.append(" " + printable(self.source.describe()) + " ")
        explorer = self.explorer
        if explorer is not None:
            i = explorer.layer
            title.append(f"  layer #{i}  ", style="bold")
            if i == 0:
                forms = ("the base layer: all of it is new", "base layer")
            elif explorer.mode is CompareMode.LAYER:
                forms = (f"layer compare: what layer #{i} changed", "layer compare")
            else:
                forms = (f"aggregated compare: every change of layers #1–#{i}", "aggregated")
            room = (width or self.size.width) - title.cell_len
            fitting = [form for form in forms if len(form) <= room]
            title.append(fitting[0] if fitting else "", style="italic")
        elif self.load_error is not None:
            title.append("  could not be loaded", style="italic")
        title.no_wrap = True
        title.overflow = "ellipsis"
        self.query_one("#title", Static).update(title)
        layers_pane = self.query_one("#layers-pane")
        if explorer is not None:
            steps = " · build steps" if self.query_one(LayerList).show_build_steps else ""
            layers_pane.border_subtitle = Text(
                f"{explorer.mode.value} compare · {len(explorer.trees)} layers{steps}")

    def _update_layer_details(self) -> None:
        if self.explorer is None and self.outline is not None:  # still reading the layers
            layers = self.query_one(LayerList)
            if layers.selected < len(self.outline.layers):
                layer = self.outline.layers[layers.selected]
                details = (Text(f"Layer #{layer.index}: not read yet") if layers.selected in layers.pending
                           else layer_details(self.outline, layer))
                self.query_one("#layer-details", Static).update(details)
            return
        if self.analysis is None or self.explorer is None:
            return
        image = self.analysis.image
        layer = image.layers[self.explorer.layer]
        step = self.query_one(LayerList).current_step()
        if step is not None and step.step.layer is None:
            self.query_one("#layer-details", Static).update(step_details(step))
            return
        users = self.layer_users
        shared = shared_text(other_users(users, image, layer) if users is not None else None)
        self.query_one("#layer-details", Static).update(layer_details(image, layer, shared))

    def _update_tree_titles(self) -> None:
        tree = self.query_one(FileTreeView)
        pane = self.query_one("#tree-pane")
        mode = self.explorer.mode if self.explorer is not None else CompareMode.LAYER
        pane.border_title = ("Current layer contents" if mode is CompareMode.LAYER
                             else "Aggregated layer contents")
        self.query_one("#tree-head", Static).update(Text(tree_header(tree.show_attributes)))
        if self.explorer is None:
            pane.border_subtitle = ""
            return
        state = tree.state
        parts = [f"{len(state.rows):,} rows"]
        hidden = [d.name.lower() for d in DIFF_TYPES if d in state.options.hidden]
        if hidden:
            parts.append("hiding " + ", ".join(hidden))
        if state.options.sort is not SortMode.NAME:
            parts.append(f"sort: {state.options.sort.value}")
        if state.options.filter is not None:
            parts.append("filter: " + printable(state.options.filter.pattern))
        if tree.pending:
            parts.append("computing…")
        pane.border_subtitle = Text(" · ".join(parts))


def app_options(config=None) -> dict:
    """The keymap and start options a dive_py.config.Config gives the explorer."""
    from dive_py.ui.settings import keymap_from_config, start_options

    if config is None:
        return {"keymap": {}, "start": StartOptions()}
    return {"keymap": keymap_from_config(config.keybindings(), dict(config.origins)),
            "start": start_options(config)}


def run(source, config=None, show_secrets: bool = False) -> int:
    """Run the explorer on a Source until the user quits; `config` is a dive_py.config.Config."""
    app = DiveApp(source, **app_options(config), show_secrets=show_secrets)
    app.run()
    return app.return_code or 0

