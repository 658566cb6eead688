"""An image as divepy models it: ordered layers, their entries, the config and its history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dive_py.model.fileinfo import FileInfo

MISSING_COMMAND = "(missing)"


@dataclass(frozen=True, slots=True)
class HistoryStep:
    """One entry of the config's history: a Dockerfile step, with or without a layer."""

    created_by: str
    created: str = ""
    comment: str = ""
    empty_layer: bool = False

    @property
    def command(self) -> str:
        return clean_command(self.created_by)


def clean_command(created_by: str) -> str:
    """dive shows `created_by` without the leading `/bin/sh -c `."""
    prefix = "/bin/sh -c "
    return created_by[len(prefix):] if created_by.startswith(prefix) else created_by


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer: its tar entries in tar order, and where it came from.

    `size` is dive's layer size: the sum of the tar headers' sizes of every entry.
    """

    index: int
    digest: str  # the diff ID, sha256 of the uncompressed tar
    blob_id: str  # the layer's name in its source (legacy folder name or blob hex)
    history: HistoryStep | None
    entries: tuple[FileInfo, ...]
    size: int
    error: str = ""  # why the layer could not be read (then it has no entries); "" if it was

    @property
    def command(self) -> str:
        return self.history.command if self.history is not None else MISSING_COMMAND


@dataclass(frozen=True)
class Image:
    name: str
    source: str
    layers: tuple[Layer, ...]
    config: dict[str, Any] = field(default_factory=dict)
    history: tuple[HistoryStep, ...] = ()
    tags: tuple[str, ...] = ()
    image_id: str = ""
    warnings: tuple[str, ...] = ()


def parse_history(config: dict[str, Any]) -> tuple[HistoryStep, ...]:
    steps = []
    history = config.get("history")
    for item in history if isinstance(history, list) else []:
        if not isinstance(item, dict):
            continue
        steps.append(HistoryStep(
            created_by=str(item.get("created_by", "")),
            created=str(item.get("created", "")),
            comment=str(item.get("comment", "")),
            empty_layer=bool(item.get("empty_layer", False)),
        ))
    return tuple(steps)


def pair_history(history: tuple[HistoryStep, ...], layer_count: int) -> list[HistoryStep | None]:
    """The history step of each layer, paired exactly as dive pairs them.

    Steps marked `empty_layer` made no layer and are skipped; a layer left without a step
    gets None (shown as "(missing)").
    """
    paired: list[HistoryStep | None] = []
    hist_idx = 0
    for _ in range(layer_count):
        while hist_idx < len(history) and history[hist_idx].empty_layer:
            hist_idx += 1
        if hist_idx < len(history):
            paired.append(history[hist_idx])
            hist_idx += 1
        else:
            paired.append(None)
    return paired
