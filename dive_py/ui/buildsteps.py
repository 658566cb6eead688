"""The layers pane's rows: the layers only (dive's view), or every build step in order.

Pure logic (no Textual): which rows are shown, which layer a row stands for, and how a step
is labelled, so the Pilot tests and the widget agree on one definition.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from dive_py.analysis.dockerfile import Instruction, describe
from dive_py.errors import printable
from dive_py.model.image import Image, Layer

KIND_LABELS = {
    "no layer": "no layer",
    "lost layer": "no layer (history says it made one)",
    "no history": "no history (squashed or hand-made)",
    "imported": "imported",
}


class StepRows:
    """The rows of the layers pane over an image's build steps (one Instruction each)."""

    def __init__(self, instructions: list[Instruction], show_all: bool = False):
        self.instructions = instructions
        self.show_all = show_all
        self.rows: list[Instruction] = []
        self.set_show_all(show_all)

    def set_show_all(self, show_all: bool) -> None:
        self.show_all = show_all
        if show_all:
            self.rows = list(self.instructions)
        else:
            self.rows = sorted((i for i in self.instructions if i.step.layer is not None),
                               key=lambda i: i.step.layer)

    def layer_at(self, row: int) -> int:
        """The layer whose tree a row shows: its own, or the last one made before it."""
        for i in range(min(row, len(self.rows) - 1), -1, -1):
            if self.rows[i].step.layer is not None:
                return self.rows[i].step.layer
        later = [r.step.layer for r in self.rows if r.step.layer is not None]
        return later[0] if later else 0

    def row_of_layer(self, layer: int) -> int:
        for i, instruction in enumerate(self.rows):
            if instruction.step.layer == layer:
                return i
        return 0


def row_text(instruction: Instruction, layer: Layer | None, show_all: bool) -> tuple[str, str]:
    """(label, text) of a row: dive's command for layers; in build-step view the instruction.

    The label is "" for an ordinary layer, else what KIND_LABELS says about the step.
    """
    kind = instruction.step.kind
    label = KIND_LABELS.get(kind, "")
    history = instruction.step.history
    if show_all and instruction.text is not None:
        return label, instruction.text
    if kind == "imported" and history is not None:
        return label, history.comment
    if kind == "no history":
        return label, ""
    if layer is not None:
        return label, layer.command
    return label, history.command if history is not None else ""


def step_details(instruction: Instruction) -> Table:
    """The details pane for a step that made no layer."""
    history = instruction.step.history
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold", ratio=1)
    grid.add_row(Text("Step:"), Text(printable(describe(instruction))))
    if instruction.text is not None:
        grid.add_row(Text("Instruction:"), Text(printable(instruction.text)))
    if history is not None and history.created:
        grid.add_row(Text("Created:"), Text(printable(history.created)))
    if history is not None and history.comment:
        grid.add_row(Text("Comment:"), Text(printable(history.comment)))
    why = ("this step changed only the image's config" if instruction.step.kind == "no layer"
           else "the history says this step made one, but the image has no layer left for it")
    grid.add_row(Text("Layer:"), Text(f"none: {why} (the file tree shows the layer made before it)"))
    return grid


def storage_rows(image: Image, layer: Layer) -> list[tuple[str, str]]:
    """Where the engine keeps the layer: its storage driver and, when reported, the directory."""
    storage = image.storage
    if storage is None:
        return []
    rows = [("Storage", printable(storage.driver))]
    dirs = storage.layer_dirs(len(image.layers))
    if dirs is not None:
        rows.append(("Directory", printable(dirs[layer.index])))
    elif layer.index == len(image.layers) - 1:
        rows.extend((printable(key), printable(value)) for key, value in storage.data)
    return rows
