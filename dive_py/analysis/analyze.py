"""Image -> Analysis: the one object every front end (CI, JSON, UI) reads."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from dive_py.analysis.efficiency import Efficiency, Inefficiency, Tally
from dive_py.gcpause import collector_paused, without_collector
from dive_py.heap import release_freed_memory
from dive_py.model.entries import Entries
from dive_py.model.fileinfo import FileInfo
from dive_py.model.filetree import Node, stack_all
from dive_py.model.flat import Change, FlatImage, LayerPaths
from dive_py.model.image import Image


class Figures:
    """The numbers every report shows, derived from the layer sizes, the efficiency, the
    final tree's size and the hints: shared by a fresh Analysis and a cached Summary."""

    image: Image
    efficiency: Efficiency

    @property
    def score(self) -> float:
        return self.efficiency.score

    @property
    def inefficiencies(self) -> tuple[Inefficiency, ...]:
        return self.efficiency.inefficiencies

    @cached_property
    def size(self) -> int:
        """dive's image size: the sum of the layer sizes."""
        return sum(layer.size for layer in self.image.layers)

    @cached_property
    def user_size(self) -> int:
        """Everything but the base layer."""
        return sum(layer.size for layer in self.image.layers[1:])

    @cached_property
    def wasted_bytes(self) -> int:
        return self.efficiency.wasted_bytes

    @cached_property
    def user_wasted_percent(self) -> float:
        """wasted / user size, with Go's float semantics when the user size is 0."""
        if self.user_size == 0:
            return math.nan if self.wasted_bytes == 0 else math.inf
        return self.wasted_bytes / self.user_size

    @cached_property
    def reclaimable_bytes(self) -> int:
        """What a rebuild could really save: every byte written to a layer that the final image
        does not show (copies overwritten later, files deleted later). Unlike dive's wasted
        bytes it does not count the copy that must stay.
        """
        return max(0, self.size - self.final_size)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Analysis(Figures):
    """An image's analysis: its figures, and on demand the merged tree of every layer (the
    explorer's)."""

    image: Image
    efficiency: Efficiency
    final_size: int  # bytes of the files the final image really contains
    hints: tuple  # Dockerfile fixes with the bytes each saves (dive_py.analysis.hints.Hint)
    given_trees: tuple[Node, ...] | None = field(default=None, repr=False)

    @cached_property
    def trees(self) -> tuple[Node, ...]:
        """trees[i]: the merged tree as of layer i (built when first asked for)."""
        if self.given_trees is not None:
            return self.given_trees
        with collector_paused():
            return tuple(stack_all(layer.entries for layer in self.image.layers))


@without_collector
def analyze(image: Image) -> Analysis:
    analyzer = Analyzer()
    for layer in image.layers:
        analyzer.add(layer.entries)
    return analyzer.result(image)


class Analyzer:
    """An analysis built layer by layer, bottom first, as layers are read (a loader's
    `on_layer`): each layer is applied and counted while the next ones are still being read."""

    def __init__(self) -> None:
        self._entries: list[Entries] = []
        self._flat = FlatImage()
        self._changes: list[list[Change]] = []
        self._tally = Tally()

    def add(self, entries: Sequence[FileInfo]) -> None:
        release_freed_memory()  # what reading the layer left, before this layer's tables
        with collector_paused():
            entries = Entries.of(entries)
            layer = LayerPaths(entries, self._flat.extend(entries))
            self._tally.add(layer, self._flat)
            self._changes.append(self._flat.add(layer))
            self._entries.append(entries)
        del layer  # its tables: given back before the next layer builds its own
        release_freed_memory()

    def fits(self, image: Image) -> bool:
        """Whether exactly this image's layers were added, in order."""
        return len(self._entries) == len(image.layers) and all(
            added is layer.entries for added, layer in zip(self._entries, image.layers))

    def result(self, image: Image) -> Analysis:
        """The analysis. The flat image and the changes, which only the hints read, are not
        kept in it (the explorer keeps the trees instead)."""
        from dive_py.analysis.hints import hints

        if not self.fits(image):
            raise ValueError("the layers added are not this image's")
        with collector_paused():
            efficiency = self._tally.result()  # which lets go of its tables first
            release_freed_memory()
            found = tuple(hints(image, self._flat, self._changes))
        return Analysis(image, efficiency, self._flat.total_size(), found)
