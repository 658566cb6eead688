"""Layers of an image on disk read side by side: the parent reads the first, worker processes
(one per other core) the rest.

Layers are independent until they are stacked, and reading one (decompressing, hashing,
scanning headers) is CPU work that Python runs on one core. For an archive or layout on disk
each worker reads whole layers from the same file (positional reads, no shared offset) and
sends back the entry columns (marshal, as the layer cache stores them) with the digests it
computed; the parent checks them exactly as if it had read the layer itself. The parent reads
the first layer meanwhile: it needs that one first, and it crosses no pipe.

Workers are forked, so only from a process with no other thread running (the explorer loads
in a thread worker: it reads layers one by one), and they are plain processes fed through
pipes: no helper threads, whose reserved arenas would count against an address-space limit.
A worker that dies leaves its layer to the parent. $DIVEPY_JOBS caps the processes reading
layers, the parent included (1: the parent alone).
"""

from __future__ import annotations

import marshal
import os
import pickle
import selectors
import struct
import threading
from collections.abc import Iterator
from dataclasses import astuple

from dive_py.errors import ArchiveError
from dive_py.sources.layercache import LayerData, columns, from_columns
from dive_py.sources.verify import Digests

Result = tuple[LayerData | ArchiveError, Digests | None]
_TASK = struct.Struct("<i")
_LENGTH = struct.Struct("<Q")


def workers(layers: int) -> int:
    """How many processes, the parent included, to read `layers` layers with (0: the parent
    alone, without workers)."""
    if layers < 2 or not hasattr(os, "fork") or threading.active_count() > 1:
        return 0
    try:
        cap = int(os.environ.get("DIVEPY_JOBS", "0")) or len(os.sched_getaffinity(0))
    except (ValueError, AttributeError):
        cap = os.cpu_count() or 1
    jobs = min(cap, layers)
    return jobs if jobs > 1 else 0


def _answer(blobs, path: str) -> bytes:
    """What a worker sends back for one layer: b"O" and the marshalled entry columns and
    digests, or b"E" and the error's text, or b"R" and the exception to raise (pickled)."""
    try:
        data = blobs.layer(path)
    except ArchiveError as exc:
        return b"E" + pickle.dumps(str(exc))
    except BaseException as exc:  # noqa: BLE001 (MemoryError and the like: raised in the parent)
        return b"R" + pickle.dumps(exc)
    found = blobs.digests(path)
    return b"O" + marshal.dumps((columns(data), None if found is None else astuple(found)))


def _serve(blobs, paths: list[str], tasks: int, results: int) -> None:
    """A worker: take a layer index, send its answer, until told to stop (index -1)."""
    with os.fdopen(tasks, "rb", buffering=0) as inbox, os.fdopen(results, "wb") as outbox:
        while len(raw := inbox.read(_TASK.size)) == _TASK.size:
            (index,) = _TASK.unpack(raw)
            if index < 0:
                return
            answer = _answer(blobs, paths[index])
            outbox.write(_LENGTH.pack(len(answer)) + answer)
            outbox.flush()


class _Worker:
    def __init__(self, blobs, paths: list[str], others: list[_Worker]):
        task_r, self.task_w = os.pipe()
        self.result_r, result_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            code = 1
            try:
                for fd in [self.task_w, self.result_r] + [fd for w in others for fd in (w.task_w, w.result_r)]:
                    os.close(fd)  # another worker's pipe held open here would never see its end
                _serve(blobs, paths, task_r, result_w)
                code = 0
            finally:
                os._exit(code)
        os.close(task_r)
        os.close(result_w)
        os.set_blocking(self.result_r, False)
        self.buffer = bytearray()
        self.index = -1  # the layer it works on

    def give(self, index: int) -> None:
        self.index = index
        os.write(self.task_w, _TASK.pack(index))

    def answer(self) -> bytearray | None:
        """A complete answer, if one has arrived (without copying it: answers are megabytes)."""
        if len(self.buffer) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self.buffer)
            end = _LENGTH.size + size
            if len(self.buffer) >= end:
                answer, self.buffer = self.buffer, self.buffer[end:]
                del answer[end:]
                del answer[:_LENGTH.size]
                return answer
        return None

    def close(self) -> None:
        """Close the pipes: a worker waiting for a task sees their end and leaves."""
        for fd in (self.task_w, self.result_r):
            try:
                os.close(fd)
            except OSError:
                pass

    def wait(self) -> None:
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


class Workers:
    """Worker processes reading the layers at `paths`, started (forked, first layers handed
    out) as soon as this is made, so that they work while the caller does something else."""

    def __init__(self, blobs, paths: list[str], jobs: int):
        self._paths = paths
        self._pool: list[_Worker] = []
        self._selector = selectors.DefaultSelector()
        self._queue = iter(range(len(paths)))
        try:
            for _ in range(jobs):
                self._pool.append(_Worker(blobs, paths, self._pool[:]))
            for worker in self._pool:
                if (index := next(self._queue, None)) is not None:
                    worker.give(index)
                    self._selector.register(worker.result_r, selectors.EVENT_READ, worker)
        except BaseException:
            self.close()
            raise

    def results(self) -> Iterator[tuple[str, Result]]:
        """(path, (entries or error, digests)) as the workers finish them. A layer whose worker
        died is left out: the caller reads it itself."""
        while self._selector.get_map():
            for key, _ in self._selector.select():
                worker = key.data
                chunk = os.read(worker.result_r, 1 << 20)
                if not chunk:  # died: its layer is the caller's to read
                    self._selector.unregister(worker.result_r)
                    continue
                worker.buffer += chunk
                answer = worker.answer()
                if answer is None:
                    continue
                path = self._paths[worker.index]
                if (index := next(self._queue, None)) is not None:
                    worker.give(index)
                else:
                    self._selector.unregister(worker.result_r)
                    os.write(worker.task_w, _TASK.pack(-1))
                result = _result(answer)
                del answer, chunk  # megabytes, not to be held while the caller works on the result
                yield path, result

    def close(self) -> None:
        """Stop every worker and wait for it (idempotent)."""
        self._selector.close()
        for worker in self._pool:
            worker.close()
        for worker in self._pool:
            worker.wait()
        self._pool = []


def _result(answer: bytearray) -> Result:
    kind, payload = answer[:1], memoryview(answer)[1:]  # from our own child: trusted
    if kind == b"R":
        raise pickle.loads(payload)
    if kind == b"E":
        return ArchiveError(pickle.loads(payload)), None
    value, found = marshal.loads(payload)
    payload.release()
    return from_columns(value), None if found is None else Digests(*found)
