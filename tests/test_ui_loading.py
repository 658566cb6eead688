"""Never wait: the layer list is on screen while layers are still being read.

The last layer blob of an OCI layout is a named pipe: reading it blocks until the test writes
the layer into it, so the explorer is caught mid-load, for as long as the test needs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
import time

from dive_py.imagewriter import Entry, dir_entry, layer_tar
from dive_py.sources.resolve import Source
from dive_py.ui.app import DiveApp
from dive_py.ui.pilot import settle
from dive_py.ui.widgets import LayerList

COMMANDS = ["ADD base.tar /", "RUN make-things", "RUN slow-layer"]


def _blob(root: str, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(root, "blobs", "sha256", digest), "wb") as fh:
        fh.write(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _layout_with_a_piped_layer(root: str) -> tuple[str, bytes]:
    """An OCI layout of three layers whose last blob is a FIFO; returns its path and bytes."""
    os.makedirs(os.path.join(root, "blobs", "sha256"))
    tars = [layer_tar([dir_entry(f"d{i}"), Entry(f"d{i}/f", data=f"layer {i}".encode() * 100)])
            for i in range(3)]
    descriptors = [_blob(root, t) for t in tars[:2]]
    last = hashlib.sha256(tars[2]).hexdigest()
    fifo = os.path.join(root, "blobs", "sha256", last)
    os.mkfifo(fifo)
    descriptors.append({"digest": f"sha256:{last}", "size": len(tars[2])})
    for d in descriptors:
        d["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
    config = {"architecture": "amd64", "os": "linux",
              "history": [{"created_by": f"/bin/sh -c {c}"} for c in COMMANDS],
              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for t in tars]}}
    config_desc = _blob(root, json.dumps(config).encode())
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {**config_desc, "mediaType": "application/vnd.oci.image.config.v1+json"},
                "layers": descriptors}
    manifest_desc = _blob(root, json.dumps(manifest).encode())
    with open(os.path.join(root, "index.json"), "w") as fh:
        json.dump({"schemaVersion": 2, "manifests": [
            {**manifest_desc, "mediaType": "application/vnd.oci.image.manifest.v1+json"}]}, fh)
    with open(os.path.join(root, "oci-layout"), "w") as fh:
        json.dump({"imageLayoutVersion": "1.0.0"}, fh)
    return fifo, tars[2]


def _feed(fifo: str, data: bytes) -> threading.Thread:
    def write() -> None:
        with open(fifo, "wb") as fh:  # blocks until the loader opens the pipe
            fh.write(data)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


async def _until(pilot, condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the explorer"
        await pilot.pause(0.05)


def test_layer_list_shows_before_the_layers_are_read(tmp_path):
    fifo, last_layer = _layout_with_a_piped_layer(str(tmp_path / "layout"))
    app = DiveApp(Source("oci", str(tmp_path / "layout"), cache=False))

    async def main():
        fed = None
        async with app.run_test(size=(140, 40)) as pilot:
            try:
                layers = app.query_one(LayerList)
                await _until(pilot, lambda: layers.row_count() == 3 and layers.pending == {2})
                await pilot.pause(0.1)  # (settle() would wait for the blocked loader)
                # caught mid-load: the list and two read layers are shown, the third is pending
                assert app.analysis is None and app.explorer is None
                assert layers.pending == {2}
                rows = [layers.render_line(y).text for y in range(3)]
                for row, command in zip(rows, COMMANDS):
                    assert command in row
                assert "…" in rows[2] and "…" not in rows[0]
                message = app.screen.query_one("#message").content.plain
                assert "layer 3 of 3" in message, message
                await pilot.press("down")  # responsive meanwhile: the cursor moves
                await pilot.pause(0.1)
                assert layers.selected == 1
                fed = _feed(fifo, last_layer)
                await _until(pilot, lambda: app.analysis is not None)
                await settle(pilot)
                assert layers.pending == set() and layers.selected == 1
                assert app.explorer.layer == 1
                assert "…" not in layers.render_line(2).text
            finally:
                if fed is None:
                    _feed(fifo, last_layer)  # never leave the loader blocked on the pipe

    asyncio.run(main())
