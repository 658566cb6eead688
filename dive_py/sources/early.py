"""An engine image's layer list, fetched in a forked child while the explorer starts.

Importing the Docker SDK and asking the engine (inspect, history) takes about as long as
starting the explorer. On two cores they can run side by side: the child sends the outline
(pickled) through a pipe and exits. If anything goes wrong it sends nothing, and the loader
asks the engine itself, as it would anyway. Call before any thread is started.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from dive_py.model.image import Image

EarlyOutline = Callable[[], "Image | None"]


def outline_early(ref: str, engine: str) -> EarlyOutline | None:
    """Start the child; the function returned waits for its answer (None: none came)."""
    if not hasattr(os, "fork"):
        return None
    import pickle  # only an engine's outline crosses this pipe

    try:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
    except OSError:
        return None
    if pid == 0:  # the child: answer, then leave without running the parent's exit handlers
        code = 1
        try:
            os.close(read_fd)
            from dive_py.sources.daemon import outline

            data = pickle.dumps(outline(ref, engine))
            with os.fdopen(write_fd, "wb") as out:
                out.write(data)
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    answer: list[Image | None] = []

    def wait() -> Image | None:
        if not answer:
            with os.fdopen(read_fd, "rb") as pipe:
                data = pipe.read()
            _, status = os.waitpid(pid, 0)
            try:
                image = pickle.loads(data) if data and os.waitstatus_to_exitcode(status) == 0 else None
            except Exception:  # noqa: BLE001 (a torn answer is no answer)
                image = None
            answer.append(image if isinstance(image, Image) else None)
        return answer[0]

    return wait
