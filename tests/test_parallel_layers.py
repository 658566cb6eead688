"""Layers read by worker processes: the same image, the same errors, only where it is safe."""

from __future__ import annotations

import fcntl
import io
import os
import tarfile
import threading
import time
import zlib

import pytest

from dive_py.errors import ArchiveError
from dive_py.sources import archive, parallel
from dive_py.sources.resolve import Source
from tests import hostile
from tests.helpers import run_divepy


def _layers(image) -> list:
    return [(layer.digest, layer.size, layer.entries, layer.error) for layer in image.layers]


def _three_layers() -> list[bytes]:
    extra = hostile.files_named([f"srv/f{i:04d}" for i in range(300)], b"x" * 700)
    return hostile.small_layers() + [extra]


@pytest.fixture
def recorded_pids(tmp_path, monkeypatch):
    """The pids that parsed layers of an archive on disk (worker processes inherit the patch)."""
    log = tmp_path / "pids"
    real = archive.StreamedTar._parse

    def parse(self, name, stream, progress, split=None):
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()} {name}\n")
        return real(self, name, stream, progress, split)

    monkeypatch.setattr(archive.StreamedTar, "_parse", parse)
    return lambda: [(int(pid), name) for pid, name in map(str.split, log.read_text().splitlines())] \
        if log.exists() else []


def _slow_in_parent(monkeypatch, seconds: float, when, died=None) -> None:
    """The parent takes `seconds` longer over each layer named by `when(name)`; a worker (a
    forked child, inheriting the patch) dies at once at a layer `when` names with "die",
    leaving the file `died`."""
    parent = os.getpid()
    real = archive.StreamedTar._parse

    def parse(self, name, stream, progress, split=None):
        action = when(name)
        if action and os.getpid() == parent:
            time.sleep(seconds)
        elif action == "die" and os.getpid() != parent:
            died.write_text(name)
            os._exit(9)
        return real(self, name, stream, progress, split)

    monkeypatch.setattr(archive.StreamedTar, "_parse", parse)


@pytest.mark.parametrize("form", ["legacy", "oci-archive", "oci-dir"])
def test_workers_read_the_same_image(tmp_path, monkeypatch, recorded_pids, form):
    layers = _three_layers()
    if form == "legacy":
        ref = hostile.write_tar(tmp_path / "a.tar", hostile.legacy(layers))
        kind = "docker-archive"
    elif form == "oci-archive":
        ref, kind = hostile.write_tar(tmp_path / "a.tar", hostile.oci(layers)), "oci-archive"
    else:
        ref, kind = hostile.write_dir(tmp_path / "layout", hostile.oci(layers)), "oci"
    monkeypatch.setenv("DIVEPY_JOBS", "2")
    together = Source(kind, ref, cache=False).load()
    parsed = recorded_pids()
    if form != "oci-dir":  # a layout's blobs are files of their own, not parsed through _parse
        # each layer read once, the first here; the others by whoever claimed them first (the
        # first line of the log may be a worker's: it can begin before this process does)
        assert len(parsed) == 3 and len({name for _, name in parsed}) == 3
        assert dict((name, pid) for pid, name in parsed)[_first_layer_path(ref)] == os.getpid()
        assert len({pid for pid, _ in parsed}) <= 2
    monkeypatch.setenv("DIVEPY_JOBS", "1")
    alone = Source(kind, ref, cache=False).load()
    assert _layers(together) == _layers(alone)
    assert len(together.layers) == 3 and together.layers[2].entries


@pytest.mark.skipif(not hasattr(fcntl, "F_GETPIPE_SZ"), reason="pipe sizes are Linux's")
def test_workers_answer_through_a_megabyte_of_pipe(tmp_path, monkeypatch):
    sizes = []
    real = parallel._Worker.__init__

    def init(self, *args):
        real(self, *args)  # a forked worker never returns here: it ends in os._exit
        sizes.append(fcntl.fcntl(self.result_r, fcntl.F_GETPIPE_SZ))

    monkeypatch.setattr(parallel._Worker, "__init__", init)
    ref = hostile.write_tar(tmp_path / "a.tar", hostile.legacy(_three_layers()))
    monkeypatch.setenv("DIVEPY_JOBS", "2")
    image = Source("docker-archive", ref, cache=False).load()
    assert len(image.layers) == 3
    with open("/proc/sys/fs/pipe-max-size") as fh:
        allowed = int(fh.read())
    assert sizes == [1 << 20 if allowed >= 1 << 20 or os.geteuid() == 0 else 64 << 10]


def test_a_worker_takes_the_largest_layer_while_the_parent_reads_the_first(tmp_path, monkeypatch,
                                                                          recorded_pids):
    layers = _three_layers()  # the third is the largest
    assert len(layers[2]) > max(len(layers[0]), len(layers[1]))
    ref = hostile.write_tar(tmp_path / "a.tar", hostile.legacy(layers))
    _slow_in_parent(monkeypatch, 1.0, lambda name: name.startswith("layer0/"))
    monkeypatch.setenv("DIVEPY_JOBS", "2")
    image = Source("docker-archive", ref, cache=False).load()
    by = {name.partition("/")[0]: pid for pid, name in recorded_pids()}
    # while the parent spent a second on layer 0, the worker read the largest, then the other
    assert by["layer0"] == os.getpid() and by["layer2"] != os.getpid() and by["layer1"] != os.getpid()
    monkeypatch.setenv("DIVEPY_JOBS", "1")
    assert _layers(image) == _layers(Source("docker-archive", ref, cache=False).load())


def test_layers_a_dead_worker_claimed_are_read_here(tmp_path, monkeypatch, recorded_pids):
    layers = _three_layers()
    ref = hostile.write_tar(tmp_path / "a.tar", hostile.legacy(layers))
    died = tmp_path / "died"
    _slow_in_parent(monkeypatch, 0.5, lambda name: "die" if name.startswith("layer2/") else
                    name.startswith("layer0/"), died)
    monkeypatch.setenv("DIVEPY_JOBS", "2")
    image = Source("docker-archive", ref, cache=False).load()
    assert died.read_text() == "layer2/layer.tar"  # the worker claimed the largest, and died there
    assert {pid for pid, _ in recorded_pids()} == {os.getpid()}  # so this process read them all
    monkeypatch.setenv("DIVEPY_JOBS", "1")
    assert _layers(image) == _layers(Source("docker-archive", ref, cache=False).load())


def test_a_broken_layer_fails_alike_with_and_without_workers(tmp_path, monkeypatch):
    layers = _three_layers()
    layers[1] = layers[1][:1500]  # cut inside a header: a broken layer, not a shorter one
    members = hostile.legacy(layers)
    ref = hostile.write_tar(tmp_path / "broken.tar", members)
    messages = []
    for jobs in ("2", "1"):
        monkeypatch.setenv("DIVEPY_JOBS", jobs)
        with pytest.raises(ArchiveError) as caught:
            Source("docker-archive", ref, cache=False).load()
        messages.append(str(caught.value))
        kept = Source("docker-archive", ref, cache=False).load(keep_broken=True)
        assert kept.layers[1].error and not kept.layers[1].entries
        assert kept.layers[0].entries and kept.layers[2].entries
    assert messages[0] == messages[1] and "layer1/layer.tar" in messages[0]
    proc = run_divepy(ref, "--ci", env={"DIVEPY_JOBS": "2"})
    assert proc.returncode == 3 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_corrupt_compressed_layer_is_the_same_one_line_error(tmp_path, monkeypatch):
    layers = _three_layers()
    members = hostile.oci(layers, compress=lambda data: zlib.compress(data)[:-8])  # not gzip at all
    ref = hostile.write_tar(tmp_path / "bad.tar", members)
    outputs = []
    for jobs in ("2", "1"):
        proc = run_divepy(f"oci-archive://{ref}", "--ci", env={"DIVEPY_JOBS": jobs})
        assert proc.returncode == 3
        outputs.append(proc.stderr)
    assert outputs[0] == outputs[1] and len(outputs[0].strip().splitlines()) == 1


def test_no_workers_while_another_thread_runs(monkeypatch):
    monkeypatch.setenv("DIVEPY_JOBS", "3")
    assert parallel.workers(3) == 3  # alone, this process would fork workers
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert parallel.workers(3) == 0  # forking next to a running thread is not safe
    finally:
        stop.set()
        thread.join()


def test_workers_follow_divepy_jobs(monkeypatch):
    monkeypatch.setenv("DIVEPY_JOBS", "1")
    assert parallel.workers(5) == 0
    monkeypatch.setenv("DIVEPY_JOBS", "3")
    assert parallel.workers(5) == 3 and parallel.workers(2) == 2 and parallel.workers(1) == 0


# ---------------------------------------------------------------- a first layer read in two parts


@pytest.fixture
def split_any(monkeypatch, tmp_path):
    """Any uncompressed first layer is split (not only large ones); returns the tails read,
    as (pid, start), worker processes included."""
    monkeypatch.setattr(archive, "SPLIT_MIN", 1)
    log = tmp_path / "tails"
    real = archive.read_tail

    def read_tail(raw, start):
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()} {start}\n")
        return real(raw, start)

    monkeypatch.setattr(archive, "read_tail", read_tail)
    return lambda: [tuple(map(int, line.split())) for line in log.read_text().splitlines()] if log.exists() else []


def _both_ways(monkeypatch, kind: str, ref: str):
    """The image read with a worker (split) and alone; or the error each gives."""
    out = []
    for jobs in ("2", "1"):
        monkeypatch.setenv("DIVEPY_JOBS", jobs)
        try:
            out.append(_layers(Source(kind, ref, cache=False).load()))
        except ArchiveError as exc:
            out.append(str(exc))
    return out


def _small_files(prefix: str, count: int, size: int = 300) -> list:
    return [hostile.Entry(f"{prefix}/f{i:05d}", data=bytes([i % 251]) * size) for i in range(count)]


def _first_layer_path(ref: str) -> str:
    with archive.open_blobs(ref) as blobs:
        return archive.image_plan(blobs, ref).layer_paths[0]


def _first_layer_split_point(kind: str, ref: str) -> int | None:
    with archive.open_blobs(ref) as blobs:
        found = blobs.split_point(_first_layer_path(ref))
    return None if found is None else found[0]


@pytest.mark.parametrize("form", ["legacy", "oci-dir"])
def test_a_first_layer_read_in_two_parts_is_the_same_layer(tmp_path, monkeypatch, split_any, form):
    first = hostile.layer_tar([hostile.dir_entry("a"), *_small_files("a", 1500), hostile.dir_entry("b"),
                               *_small_files("b", 1500, 700)])
    layers = [first] + _three_layers()[1:]
    if form == "legacy":
        kind, ref = "docker-archive", hostile.write_tar(tmp_path / "a.tar", hostile.legacy(layers))
    else:
        kind, ref = "oci", hostile.write_dir(tmp_path / "layout", hostile.oci(layers, compress=lambda d: d))
    together, alone = _both_ways(monkeypatch, kind, ref)
    assert together == alone and len(together[0][2]) == 3002
    tails = split_any()
    assert [start for _, start in tails] == [_first_layer_split_point(kind, ref)]  # read once, by someone


def test_a_dense_first_layer_before_a_large_one_is_cut_past_its_middle(tmp_path, monkeypatch, split_any):
    """divepy stacks the first layer while the worker reads the next one: with a large one to
    come, the worker's part of the first is the shorter (head_share), and the layer the same."""
    first = hostile.layer_tar([hostile.dir_entry("a"), *_small_files("a", 3000)])
    second = hostile.layer_tar([hostile.dir_entry("b"), *_small_files("b", 3000)])
    ref = hostile.write_tar(tmp_path / "a.tar", hostile.legacy([first, second]))
    together, alone = _both_ways(monkeypatch, "docker-archive", ref)
    assert together == alone and len(together[0][2]) == 3001
    (_, start), = split_any()
    assert archive.head_share(len(first), len(second)) == archive.HEAD_SHARE_MOST
    assert 0 <= start - archive.HEAD_SHARE_MOST * len(first) < 1024  # the next member from there
    assert _first_layer_split_point("docker-archive", ref) < start  # not the middle's


def test_where_the_later_cut_falls_in_a_large_file_the_middle_serves(tmp_path, monkeypatch, split_any):
    """A first layer dense with headers at its middle, then one large file where head_share
    would cut: no header there to start the tail at, so the cut is the middle's, as before."""
    big = bytes(range(256)) * 13_300  # 3.4 MB: the last 42% of the layer
    first = hostile.layer_tar([hostile.dir_entry("a"), *_small_files("a", 4500), hostile.Entry("a/big", data=big)])
    second = hostile.layer_tar([hostile.Entry("b", data=big + big)])
    share = archive.head_share(len(first), len(second))
    data = first.index(b"a/big") + 512
    assert share == archive.HEAD_SHARE_MOST and data < share * len(first) < data + len(big) - archive.SPLIT_WINDOW
    ref = hostile.write_tar(tmp_path / "a.tar", hostile.legacy([first, second]))
    middle = _first_layer_split_point("docker-archive", ref)
    assert middle is not None and middle < data
    together, alone = _both_ways(monkeypatch, "docker-archive", ref)
    assert together == alone and len(together[0][2]) == 4502
    assert [start for _, start in split_any()] == [middle]


def test_a_header_look_alike_in_the_middle_is_not_a_split(tmp_path, monkeypatch, split_any):
    """A tar stored in the layer puts real-looking headers in the middle: the scan from the
    start does not meet a member there, and reads on by itself."""
    inner = hostile.layer_tar(_small_files("inner", 600))
    first = hostile.layer_tar([*_small_files("a", 50), hostile.Entry("pkg/inner.tar", data=inner),
                               *_small_files("b", 50)])
    ref = hostile.write_tar(tmp_path / "a.tar", hostile.legacy([first] + _three_layers()[1:]))
    at = _first_layer_split_point("docker-archive", ref)
    start = first.index(inner)
    assert at is not None and start < at < start + len(inner)  # the guess falls inside inner.tar
    together, alone = _both_ways(monkeypatch, "docker-archive", ref)
    assert together == alone and "pkg/inner.tar" in together[0][2].paths


def test_a_global_pax_header_before_the_middle_is_not_split_over(tmp_path, monkeypatch, split_any):
    """A global PAX header changes every member after it: a second part read apart would not
    know it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"uid": "4242"}) as tar:
        for i in range(2000):
            info = tarfile.TarInfo(f"g/f{i:05d}")
            info.size = 300
            tar.addfile(info, io.BytesIO(b"x" * 300))
    ref = hostile.write_tar(tmp_path / "a.tar", hostile.legacy([buf.getvalue()] + _three_layers()[1:]))
    together, alone = _both_ways(monkeypatch, "docker-archive", ref)
    assert together == alone and len(together[0][2]) == 2000 and set(together[0][2].uids) == {4242}


def test_a_broken_second_half_is_the_same_error(tmp_path, monkeypatch, split_any):
    first = bytearray(hostile.layer_tar(_small_files("a", 3000)))
    at = first.index(b"a/f02500")  # a header well after the middle
    first[at + 100] ^= 0x04  # a mode digit: the checksum no longer adds up
    ref = hostile.write_tar(tmp_path / "a.tar", hostile.legacy([bytes(first)] + _three_layers()[1:]))
    together, alone = _both_ways(monkeypatch, "docker-archive", ref)
    assert together == alone and "checksum" in together and "layer0/layer.tar" in together
    assert split_any()  # the second half was read apart, and its error reported as the layer's


def _slow_in_worker(monkeypatch, seconds: float, name_start: str, before: bool) -> None:
    """A worker (a forked child, inheriting the patch) takes `seconds` longer over the layer
    named `name_start...`: before reading a byte of it, or after reading all of it."""
    parent = os.getpid()
    real = archive.StreamedTar._parse

    def parse(self, name, stream, progress, split=None):
        slow = os.getpid() != parent and name.startswith(name_start)
        if slow and before:
            time.sleep(seconds)
        found = real(self, name, stream, progress, split)
        if slow and not before:
            time.sleep(seconds)
        return found

    monkeypatch.setattr(archive.StreamedTar, "_parse", parse)


@pytest.mark.parametrize("worker_has_read", [False, True])
def test_waiting_for_a_worker_the_parent_reads_ahead_only_what_fits_in_the_wait(
        tmp_path, monkeypatch, recorded_pids, worker_has_read):
    """The parent, waiting for the layer a worker reads, reads the next layer itself only if it is
    no larger than what the worker has left of its own: while the worker has read nothing of it,
    yes; once the worker has read all of it (and is slow to send it), no: the worker reads the
    next one after it, while the parent stacks what it waited for."""
    first, last = hostile.small_layers()
    big = hostile.files_named([f"srv/f{i:04d}" for i in range(300)], b"x" * 700)
    assert len(big) > max(len(first), len(last))
    ref = hostile.write_tar(tmp_path / "a.tar", hostile.legacy([first, big, last]))
    _slow_in_worker(monkeypatch, 1.5, "layer1/", before=not worker_has_read)
    # the worker's half second on its own: it has read layer 1, or not begun, when the parent asks
    _slow_in_parent(monkeypatch, 0.5, lambda name: name.startswith("layer0/"))
    monkeypatch.setenv("DIVEPY_JOBS", "2")
    image = Source("docker-archive", ref, cache=False).load()
    by = {name.partition("/")[0]: pid for pid, name in recorded_pids()}
    assert by["layer0"] == os.getpid() and by["layer1"] != os.getpid()
    assert (by["layer2"] == os.getpid()) is not worker_has_read
    monkeypatch.setenv("DIVEPY_JOBS", "1")
    assert _layers(image) == _layers(Source("docker-archive", ref, cache=False).load())
