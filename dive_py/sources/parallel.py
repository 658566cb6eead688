"""Layers of an image on disk read side by side, by this process and by worker processes (one
per other core).

Layers are independent until they are stacked, and reading one (decompressing, hashing,
scanning headers) is CPU work that Python runs on one core. For an archive or layout on disk
each worker reads whole layers from the same file (positional reads, no shared offset) and
sends back the entry columns (marshal, as the layer cache stores them) with the digests it
computed; the parent checks them exactly as if it had read the layer itself.

Who reads what is decided as the work goes, through a shared table of claims (`Claims`):
- the parent claims the first layer before the workers start: it needs that one first, and it
  crosses no pipe;
- a worker claims the largest layer nobody has claimed yet (the longest jobs first keep the
  processes busy to the end);
- the parent, asking for a layer nobody has claimed, reads it itself; waiting for one a worker
  reads, it reads the next unclaimed layer it will need meanwhile, if that is no larger than
  what the worker has still to read of its layer (workers count the bytes they have read in
  the table): it is then done about when the worker is. A larger one it leaves to the worker,
  which takes it next, while the parent stacks the layer it was waiting for;
- a large uncompressed first layer is read in two parts (layer_tar.Split): the parent reads up
  to a member near its middle (further, when a large layer follows one dense with headers:
  archive.head_share), and its tail is the first task a worker takes.

Workers are forked, so only from a process with no other thread running (the explorer loads
in a thread worker: it reads layers one by one), and they are plain processes fed through
pipes. A worker hands its answers to a writer thread, so that it goes on to its next layer
while the parent is busy. A worker that dies leaves its layers to the parent. $DIVEPY_JOBS
caps the processes reading layers, the parent included (1: the parent alone).
"""

from __future__ import annotations

import marshal
import mmap
import os
import queue
import selectors
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import astuple

from dive_py.errors import ArchiveError
from dive_py.sources.layercache import LayerData, columns, from_columns
from dive_py.sources.streams import start_thread
from dive_py.sources.verify import Digests

Result = tuple[LayerData | BaseException, Digests | None]  # an ArchiveError; a tail's error as raised
_HEAD = struct.Struct("<iQ")  # an answer's layer index and length
_READ = struct.Struct("<Q")  # the bytes of a layer its reader has read
_PIPE_SIZE = 1 << 20
FREE, PARENT = 0, 255  # a claim: nobody, the parent, or worker number n + 1


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


class Claims:
    """Who reads each layer: one byte per layer in memory shared with the forked workers,
    changed only under a lock (a pipe holding one token byte: taking it is a read); and how
    many bytes of it its reader has read so far (written by that reader alone)."""

    def __init__(self, count: int):
        count = max(count, 1)
        # anonymous and shared: seen after fork. The byte counts first (aligned), then the owners.
        self._table = mmap.mmap(-1, (_READ.size + 1) * count)
        self._owner = memoryview(self._table)[_READ.size * count:]
        self._lock_r, self._lock_w = os.pipe()
        os.write(self._lock_w, b"\0")

    def claim(self, order: Sequence[int], who: int) -> int | None:
        """The first free layer in `order`, now claimed by `who`; None if none is free."""
        os.read(self._lock_r, 1)
        try:
            for index in order:
                if self._owner[index] == FREE:
                    self._owner[index] = who
                    return index
            return None
        finally:
            os.write(self._lock_w, b"\0")

    def owner(self, index: int) -> int:
        return self._owner[index]

    def count_read(self, index: int, size: int) -> None:
        """`size` more bytes of layer `index` read (by its reader)."""
        where = _READ.size * index
        _READ.pack_into(self._table, where, _READ.unpack_from(self._table, where)[0] + size)

    def bytes_read(self, index: int) -> int:
        return _READ.unpack_from(self._table, _READ.size * index)[0]

    def hand_over(self, who: int, to: int, keep: Callable[[int], bool]) -> None:
        """Give `to` every layer `who` claimed, except those `keep` names."""
        os.read(self._lock_r, 1)
        try:
            for index in range(len(self._owner)):
                if self._owner[index] == who and not keep(index):
                    self._owner[index] = to
        finally:
            os.write(self._lock_w, b"\0")

    def close(self) -> None:
        """Let go of the pipe and the memory (idempotent; the workers must have ended)."""
        if not self._table.closed:
            os.close(self._lock_r)
            os.close(self._lock_w)
            self._owner.release()
            self._table.close()


def _answer(blobs, path: str) -> bytes:
    """What a worker sends back for one layer: b"O" and the marshalled entry columns and
    digests, or b"E" and the error's text, or b"R" and the exception to raise (pickled)."""
    try:
        data = blobs.layer(path)
    except BaseException as exc:  # noqa: BLE001
        return _failure(exc)
    found = blobs.digests(path)
    return b"O" + marshal.dumps((columns(data), None if found is None else astuple(found)))


def _failure(exc: BaseException) -> bytes:
    """A failed layer's answer: b"E" and an ArchiveError's text, or b"R" and any other
    exception (MemoryError and the like: raised in the parent), pickled. (pickle is imported
    only for these.)"""
    import pickle

    if isinstance(exc, ArchiveError):
        return b"E" + pickle.dumps(str(exc))
    return b"R" + pickle.dumps(exc)


def _tail_answer(blobs, path: str, start: int) -> bytes:
    """What a worker sends back for the tail of a split layer: b"O" and the marshalled
    columns, or b"X" and whatever the scan raised (pickled), for the reader of the head to
    raise as its own."""
    try:
        data = blobs.tail(path, start)
    except Exception as exc:  # noqa: BLE001 (handed over as it is)
        import pickle

        return b"X" + pickle.dumps(exc)
    return b"O" + marshal.dumps((columns(data), None))


def _serve(blobs, paths: list[str], order: list[int], claims: Claims, me: int, results: int,
           tail_at: int | None) -> None:
    """A worker: claim a layer, read it, hand the answer to the writer; until none is left."""
    answers: queue.Queue = queue.Queue()

    def write(outbox) -> None:
        try:
            while (item := answers.get()) is not None:
                index, answer = item
                outbox.write(_HEAD.pack(index, len(answer)))
                outbox.write(answer)
                outbox.flush()
        except OSError:  # the parent stopped listening (it met an error): nothing to tell
            pass

    reading = 0  # the layer being read: the progress callback reads it as the loop sets it
    blobs.report_to(lambda _path, size: claims.count_read(reading, size))
    with os.fdopen(results, "wb") as outbox:
        writer = start_thread(write, outbox, name="divepy-answers")
        try:
            while (index := claims.claim(order, me)) is not None:
                reading = index
                answers.put((index, _answer(blobs, paths[index]) if index < len(paths)
                             else _tail_answer(blobs, paths[0], tail_at)))  # type: ignore[arg-type]
        finally:
            answers.put(None)
            writer.join()


def _widen(pipe: int) -> None:
    """Give a pipe a megabyte of buffer instead of 64 KB (Linux; the most an unprivileged
    process may ask for, and kept as is where refused). An answer is megabytes: through 64 KB
    it takes a hundred handovers between the processes, each a wake-up of the parent and a
    wait of the worker's writer for the GIL."""
    try:
        import fcntl

        fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    except (ImportError, AttributeError, OSError):
        pass


class _Worker:
    def __init__(self, number: int, start: Callable[[int, int], None], others: list[_Worker]):
        self.number = number
        self.result_r, result_w = os.pipe()
        _widen(result_w)
        self.pid = os.fork()
        if self.pid == 0:
            code = 1
            try:
                os.close(self.result_r)
                for other in others:  # another worker's pipe held open here would never see its end
                    os.close(other.result_r)
                start(number, result_w)
                code = 0
            finally:
                os._exit(code)
        os.close(result_w)
        os.set_blocking(self.result_r, False)
        self.buffer = bytearray()

    def answer(self) -> tuple[int, bytearray] | None:
        """A complete answer, if one has arrived (without copying it: answers are megabytes)."""
        if len(self.buffer) >= _HEAD.size:
            index, size = _HEAD.unpack_from(self.buffer)
            end = _HEAD.size + size
            if len(self.buffer) >= end:
                answer, self.buffer = self.buffer, self.buffer[end:]
                del answer[end:]
                del answer[:_HEAD.size]
                return index, answer
        return None

    def close(self) -> None:
        try:
            os.close(self.result_r)
        except OSError:
            pass

    def wait(self) -> None:
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


class Workers:
    """Worker processes reading the layers at `paths` (largest first, by `sizes`), started as
    soon as this is made, so that they work while the caller does something else. The parent
    claims layer 0 before they start.

    With `tail_at`, layer 0 is read in two parts (layer_tar.Split): its tail, from that offset
    on, is task number len(paths), the first a worker takes (the parent reads the head
    meanwhile, and needs the whole layer first)."""

    def __init__(self, blobs, paths: list[str], sizes: list[int], jobs: int, tail_at: int | None = None):
        self._paths = paths
        self._sizes = sizes
        self.tail_task = len(paths) if tail_at is not None else None
        tasks = len(paths) + (tail_at is not None)
        self._tasks = tasks
        self._claims = Claims(tasks)
        self._claims.claim([0], PARENT)
        order = ([len(paths)] if tail_at is not None else []) + sorted(range(len(paths)), key=lambda i: -sizes[i])
        self._pool: list[_Worker] = []
        self._selector = selectors.DefaultSelector()
        self.done: dict[int, Result] = {}

        def start(number: int, results: int) -> None:
            _serve(blobs, paths, order, self._claims, number + 1, results, tail_at)

        try:
            for number in range(jobs):
                worker = _Worker(number, start, self._pool[:])
                self._pool.append(worker)
                self._selector.register(worker.result_r, selectors.EVENT_READ, worker)
        except BaseException:
            self.close()
            raise

    def claim(self, index: int) -> bool:
        """Whether layer `index` is the parent's to read: it claimed it now, or before."""
        return self._claims.owner(index) == PARENT or self._claims.claim([index], PARENT) is not None

    def claim_next(self, after: int, most: int) -> int | None:
        """The first layer after `after` that nobody reads yet, now the parent's, if it is at most
        `most` bytes (not a tail)."""
        ahead = next((index for index in range(after + 1, len(self._paths))
                      if self._claims.owner(index) == FREE), None)
        if ahead is None or self._sizes[ahead] > most:
            return None
        return self._claims.claim([ahead], PARENT)

    def left(self, index: int) -> int:
        """The bytes of layer `index` its reader has not read yet."""
        return max(0, self._sizes[index] - self._claims.bytes_read(index))

    def wait(self, index: int, block: bool) -> None:
        """Take in the answers that have arrived; with `block`, wait until task `index` has
        arrived or is the parent's, or every worker has ended. What a worker claimed and did
        not send when it ended (it died) becomes the parent's."""
        while self._selector.get_map():
            events = self._selector.select(None if block else 0)
            if not events:
                return
            for key, _ in events:
                worker = key.data
                chunk = os.read(worker.result_r, 1 << 20)
                if not chunk:  # ended (or died): what it claimed and did not send is the parent's
                    self._selector.unregister(worker.result_r)
                    self._claims.hand_over(worker.number + 1, PARENT, self.done.__contains__)
                    continue
                worker.buffer += chunk
                del chunk
                while (found := worker.answer()) is not None:
                    done, answer = found
                    self.done[done] = _result(answer)
                    del answer, found  # megabytes, not to be held while the caller works on the result
            if block and (index in self.done or self._claims.owner(index) == PARENT):
                return

    def close(self) -> None:
        """Stop every worker and wait for it (idempotent)."""
        self._selector.close()
        if self._pool:  # let no worker start another task
            while self._claims.claim(range(self._tasks), PARENT) is not None:
                pass
        for worker in self._pool:
            worker.close()
        for worker in self._pool:
            worker.wait()
        self._pool = []
        self._claims.close()


def _result(answer: bytearray) -> Result:
    kind, payload = answer[:1], memoryview(answer)[1:]  # from our own child: trusted
    if kind == b"O":
        value, found = marshal.loads(payload)
        payload.release()
        return from_columns(value), None if found is None else Digests(*found)
    import pickle  # a failure's answer (see _failure)

    if kind == b"R":
        raise pickle.loads(payload)
    failure = pickle.loads(payload)
    return (ArchiveError(failure) if kind == b"E" else failure), None
