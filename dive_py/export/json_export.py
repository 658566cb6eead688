"""dive's JSON export, value for value, so tools that parse dive's JSON work unchanged.

Extra keys may be added (never renamed or removed): `reclaimableBytes`, `userSizeBytes`,
`userWastedPercent` on the image; `config` and `hints` at the top (the image's run configuration, see
dive_py.analysis.imageconfig; secret-looking Env values masked unless `show_secrets`;
`hints`: Dockerfile fixes, see dive_py.analysis.hints).
"""

from __future__ import annotations

import json
import math
from typing import Any

from dive_py.analysis.analyze import Analysis
from dive_py.analysis.imageconfig import summarize
from dive_py.analysis.layertree import child_first, dive_layer_nodes
from dive_py.model.fileinfo import FileInfo


def _file_record(info: FileInfo | None) -> dict[str, Any]:
    if info is None:  # a parent dive made up without attributes
        return {"path": "", "typeFlag": 0, "linkName": "", "size": 0, "fileMode": 0,
                "uid": 0, "gid": 0, "isDir": False}
    return {
        "path": info.path,
        "typeFlag": ord(info.type[0]) if info.type else 0,
        "linkName": info.link,
        "size": info.size,
        "fileMode": info.go_file_mode(),
        "uid": info.uid,
        "gid": info.gid,
        "isDir": info.is_dir,
    }


def _number(value: float) -> float | int | None:
    """Go writes 1.0 as 1; JSON has no NaN or infinity."""
    if math.isnan(value) or math.isinf(value):
        return None
    return int(value) if value.is_integer() else value


def export(analysis: Analysis, show_secrets: bool = False) -> dict[str, Any]:
    layers = []
    for layer in analysis.image.layers:
        nodes = dive_layer_nodes(layer.entries)
        layers.append({
            "index": layer.index,
            "id": layer.blob_id,
            "digestId": layer.digest,
            "sizeBytes": layer.size,
            "command": layer.command,
            "fileList": [_file_record(nodes[path]) for path in child_first(nodes)],
        })
    image = {
        "sizeBytes": analysis.size,
        "inefficientBytes": analysis.wasted_bytes,
        "efficiencyScore": _number(analysis.score),
        "fileReference": [
            {"count": item.count, "sizeBytes": item.cumulative_size, "file": item.path}
            for item in analysis.inefficiencies
        ],
        "userSizeBytes": analysis.user_size,
        "userWastedPercent": _number(analysis.user_wasted_percent),
        "reclaimableBytes": analysis.reclaimable_bytes,
    }
    return {"layer": layers, "image": image, "config": summarize(analysis.image, show_secrets),
            "hints": [hint.to_json() for hint in analysis.hints]}


def dumps(analysis: Analysis, show_secrets: bool = False) -> str:
    """The JSON text. Names that are not UTF-8 get U+FFFD for each bad byte, as Go's encoder
    writes them, so the file is always valid UTF-8 JSON."""
    text = json.dumps(export(analysis, show_secrets), indent=2, ensure_ascii=False) + "\n"
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
