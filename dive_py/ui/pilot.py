"""Driving the explorer headless (tests, screenshots): wait until it has settled."""

from __future__ import annotations

import time

from dive_py.ui.widgets import FileTreeView


async def settle(pilot, timeout: float = 30.0) -> None:
    """Wait until the image is loaded (or failed) and no tree worker is pending.

    Raises TimeoutError when the app has not settled within `timeout` seconds.
    """
    app = pilot.app
    deadline = time.monotonic() + timeout
    while True:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        loaded = app.explorer is not None or app.load_error is not None
        if loaded and not app.query_one(FileTreeView).pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError("the explorer did not settle")
