"""Stream plumbing for the layer readers.

PassThrough: a raw stream that reads through to another one and shows every chunk to a hook, the
base of the readers that count (progress), hash (digests) or check (zstd frames) bytes in passing.
It hands on the very bytes objects it reads, so a chain of them copies nothing.

ReadAhead: reads a stream in a thread, a few chunks ahead of its reader, so that decompressing
(zstd and ISA-L release the GIL while they work) runs on one core while the tar is hashed and
scanned on another.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from dive_py.heap import release_freed_memory, tune_heap

CHUNK = 512 << 10  # what a ReadAhead thread reads at a time (zstd: layer_tar.ZSTD_CHUNK)
DEPTH = 3  # chunks read ahead: enough to keep both threads busy, few enough to stay lean


def read_some(stream: BinaryIO, size: int = -1) -> bytes:
    """Up to `size` bytes as `stream` hands them over: its `read1` if it has one (a buffered or
    read-ahead stream's whole chunk, not copied to make up `size`), else its `read`."""
    return getattr(stream, "read1", stream.read)(size)


def start_thread(target: Callable[..., None], *args: Any, name: str) -> threading.Thread:
    """Start a daemon helper thread, with glibc's heap set up for it first (see
    dive_py.heap.tune_heap)."""
    tune_heap()
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread


class Readable(io.RawIOBase):
    """A raw stream defined by its `read`; `readinto` (what io's buffered readers call) copies."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n


class PassThrough(Readable):
    def __init__(self, raw: BinaryIO):
        self._raw = raw

    def read(self, size: int | None = -1) -> bytes:
        data = self._raw.read(-1 if size is None else size)
        self.seen(data)
        return data

    def read1(self, size: int = -1) -> bytes:
        """Up to `size` bytes as the stream below hands them over (read_some)."""
        data = read_some(self._raw, size)
        self.seen(data)
        return data

    def seen(self, data: bytes) -> None:
        """Called with each chunk read (b"" at the end of the stream)."""


def read_exactly(stream: BinaryIO, size: int) -> bytes:
    """`size` bytes, or fewer only at the end of the stream (raw streams may return less)."""
    data = stream.read(size)
    while 0 < len(data) < size:
        more = stream.read(size - len(data))
        if not more:
            break
        data += more
    return data


class ReadAhead:
    """Reads `raw` in a thread, `chunk` bytes at a time and at most DEPTH chunks ahead.

    `read(n)` returns n bytes (fewer only at the end), like a buffered reader. An error the
    stream raises in the thread is raised here, after the bytes read before it, so it is met
    exactly where a direct read would meet it. The thread ends at the end of the stream, at an
    error, or at `close()`, which waits for it: always close (a `with` block does).
    """

    def __init__(self, raw: BinaryIO, chunk: int = CHUNK, depth: int = DEPTH):
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._chunk = b""
        self._pos = 0
        self._end: BaseException | bool = False  # True at the end; the error that ended it
        self._thread = start_thread(self._run, raw, chunk, name="divepy-read-ahead")

    def _run(self, raw: BinaryIO, chunk: int) -> None:
        put = self._queue.put
        try:
            while not self._stop.is_set():
                data = raw.read(chunk)
                put(data)
                if not data:
                    return
        except BaseException as exc:  # noqa: BLE001 (handed to the reader, raised there)
            put(exc)

    def _next(self) -> bool:
        """Move to the next chunk; False at the end."""
        if self._end is True:
            return False
        if self._end:
            raise self._end
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._end = item
            raise item
        if not item:
            self._end = True
            return False
        self._chunk, self._pos = item, 0
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(CHUNK), b""))
        chunk, pos = self._chunk, self._pos
        if pos + size <= len(chunk):  # the common case: within the current chunk
            self._pos = pos + size
            if pos == 0 and size == len(chunk):
                return chunk
            return chunk[pos:pos + size]
        parts = [chunk[pos:]]
        left = size - (len(chunk) - pos)
        self._chunk, self._pos = b"", 0
        while left > 0 and self._next():
            chunk = self._chunk
            if len(chunk) <= left:
                parts.append(chunk)
                left -= len(chunk)
                self._chunk = b""
            else:
                parts.append(chunk[:left])
                self._pos = left
                left = 0
        return b"".join(parts)

    def read1(self, size: int = -1) -> bytes:
        """What is left of the current chunk, or the next chunk (at most `size` bytes, b""
        only at the end): the decompressor's own bytes object when a whole chunk is taken."""
        if self._pos >= len(self._chunk) and not self._next():
            self._chunk, self._pos = b"", 0
            return b""
        chunk, pos = self._chunk, self._pos
        end = len(chunk) if size is None or size < 0 else min(len(chunk), pos + size)
        self._pos = end
        return chunk if pos == 0 and end == len(chunk) else chunk[pos:end]

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Stop the thread and wait for it (it stops after the read it is in)."""
        self._stop.set()
        while self._thread.is_alive():
            try:  # make room, so a thread waiting to hand over a chunk sees the stop
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()
        release_freed_memory()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
