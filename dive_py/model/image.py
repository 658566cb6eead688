"""An image as divepy models it: ordered layers, their entries, the config and its history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dive_py.model.entries import Entries

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
    digest: str  # the config's diff ID (checked, unless a compressed blob is checked by its name)
    blob_id: str  # the layer's name in its source (legacy folder name or blob hex)
    history: HistoryStep | None
    entries: Entries  # any sequence of FileInfo given is stored as Entries
    size: int
    error: str = ""  # why the layer could not be read (then it has no entries); "" if it was
    # the digest its bytes are checked by and cached under: its blob's name where that is a
    # digest (OCI, Docker 25+), else the diff ID where the config's can be held to it
    # (sources.archive.layer_key, ImagePlan.claims); "" if none
    content_digest: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.entries, Entries):
            object.__setattr__(self, "entries", Entries.of(self.entries))

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
    repo_digests: tuple[str, ...] = ()  # the engine's RepoDigests (daemon images only)
    storage: Storage | None = None  # where the engine keeps the layers (daemon images only)


@dataclass(frozen=True, slots=True)
class Storage:
    """The engine's GraphDriver: its name and data as reported (overlay2: UpperDir, LowerDir...)."""

    driver: str
    data: tuple[tuple[str, str], ...] = ()

    def layer_dirs(self, layer_count: int) -> tuple[str, ...] | None:
        """Each layer's directory, bottom first, when the data names one per layer.

        overlay2 reports the top layer as UpperDir and the ones below as LowerDir, top first,
        colon-separated; other drivers (vfs) report no directories, and then this is None.
        """
        data = dict(self.data)
        upper = data.get("UpperDir")
        if not upper:
            return None
        lower = [d for d in data.get("LowerDir", "").split(":") if d]
        dirs = (*reversed(lower), upper)
        return dirs if len(dirs) == layer_count else None


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


@dataclass(frozen=True, slots=True)
class BuildStep:
    """One build step in build order: a history entry, a layer, or both.

    `layer` is the index of the layer the step made (None: it made none); `history` is None
    for a layer the history does not account for (squashed or hand-made images).
    """

    history: HistoryStep | None
    layer: int | None

    @property
    def kind(self) -> str:
        """"layer", "no layer" (metadata only), "lost layer" (history says it made a layer
        the image does not have), "no history" (a layer no history entry accounts for) or
        "imported" (`docker import`: a layer whose history has no command, only a comment)."""
        if self.history is None:
            return "no history"
        if self.layer is None:
            return "no layer" if self.history.empty_layer else "lost layer"
        if not self.history.created_by and self.history.comment:
            return "imported"
        return "layer"


def build_steps(history: tuple[HistoryStep, ...], layer_count: int) -> list[BuildStep]:
    """Every history entry in order, each tied to its layer, then any layers left over.

    Layers are paired exactly as dive pairs them: each step not marked `empty_layer` takes
    the next layer; layers left when the history runs out have no history.
    """
    steps: list[BuildStep] = []
    next_layer = 0
    for step in history:
        if step.empty_layer or next_layer >= layer_count:
            steps.append(BuildStep(step, None))
        else:
            steps.append(BuildStep(step, next_layer))
            next_layer += 1
    steps.extend(BuildStep(None, i) for i in range(next_layer, layer_count))
    return steps


def pair_history(history: tuple[HistoryStep, ...], layer_count: int) -> list[HistoryStep | None]:
    """The history step of each layer, paired exactly as dive pairs them.

    Steps marked `empty_layer` made no layer and are skipped; a layer left without a step
    gets None (shown as "(missing)").
    """
    paired: list[HistoryStep | None] = [None] * layer_count
    for step in build_steps(history, layer_count):
        if step.layer is not None:
            paired[step.layer] = step.history
    return paired
