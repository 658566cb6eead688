"""An analysis's report figures, kept so that a second look at the same image skips the analysis.

The CI report and its JUnit and Markdown forms show only figures: layer sizes, the efficiency
and its inefficient files, the final image's size and the hints. Those depend on nothing but
the layers' contents and the config (history commands name the layers in hints), so they are
stored under a sha256 of the digests the layers' bytes are checked by (Layer.content_digest: a
blob's name or the diff ID) and the config. Not of the diff IDs alone: a compressed blob named
by its digest is checked by that name, and its diff ID is only the config's word. A run that
finds them needs the image's outline (manifest and config) and no layer at all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

from dive_py.analysis.analyze import Analysis, Figures
from dive_py.analysis.efficiency import Efficiency, Inefficiency
from dive_py.analysis.hints import Hint
from dive_py.model.image import Image

FORMAT = 1


@dataclass(frozen=True)
class Summary(Figures):
    """What an Analysis reports, without the trees; `image` has every layer's size, no entries."""

    image: Image
    efficiency: Efficiency
    final_size: int
    hints: tuple[Hint, ...]


def key(image: Image) -> str:
    """The cache key: the layers' content digests and the config, canonically."""
    text = json.dumps([FORMAT, [layer.content_digest for layer in image.layers], image.config],
                      sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def cacheable(image: Image) -> bool:
    """Only a complete image with a content digest for every layer is worth keeping."""
    return bool(image.layers) and all(layer.content_digest and not layer.error for layer in image.layers)


def encode(analysis: Analysis) -> tuple:
    """Plain values (marshal-able) for the cache."""
    return (FORMAT, [layer.size for layer in analysis.image.layers], analysis.score,
            [tuple(i) for i in analysis.inefficiencies],
            analysis.final_size,
            [(h.kind, h.message, h.bytes_saved, list(h.layers), list(h.paths), h.fix) for h in analysis.hints])


def decode(outline: Image, value: object) -> Summary | None:
    """The summary for `outline` (its layers listed, not read), or None if `value` does not fit."""
    try:
        fmt, sizes, score, inefficiencies, final_size, hints = value  # type: ignore[misc]
        if fmt != FORMAT or len(sizes) != len(outline.layers):
            return None
        layers = tuple(replace(layer, size=int(size), entries=()) for layer, size in zip(outline.layers, sizes))
        if not all(type(i) is tuple and len(i) == 4 for i in inefficiencies):
            return None
        efficiency = Efficiency(float(score), tuple(map(Inefficiency._make, inefficiencies)))
        return Summary(replace(outline, layers=layers), efficiency, int(final_size),
                       tuple(Hint(str(k), str(msg), int(b), tuple(ls), tuple(ps), str(fix))
                             for k, msg, b, ls, ps, fix in hints))
    except (TypeError, ValueError):
        return None
