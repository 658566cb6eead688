"""The collector pause: off inside, back on after the last of nested or concurrent pauses."""

import gc
import threading

from dive_py.analysis.analyze import analyze
from dive_py.demo import demo_archive
from dive_py.gcpause import collector_paused
from dive_py.sources.resolve import Source


def test_nested_and_concurrent_pauses_resume_once_all_end():
    assert gc.isenabled()
    inside = threading.Event()
    release = threading.Event()

    def other() -> None:
        with collector_paused():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    with collector_paused():
        assert not gc.isenabled()
        thread.start()
        assert inside.wait(10)
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread's pause still runs
    release.set()
    thread.join(10)
    assert gc.isenabled()


def test_a_collector_off_before_stays_off():
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_loading_and_analysing_leave_the_collector_as_found():
    source = Source("docker-archive", demo_archive(), cache=False)
    analysis = analyze(source.load())
    assert analysis.hints is not None
    assert gc.isenabled()


def test_reading_layers_leaves_no_cycles(tmp_path):
    """With the collector paused, garbage in cycles would pile up (each layer's read buffers,
    a megabyte or more): reading plain, gzip and zstd layers must leave none."""
    import zstandard

    from tests import hostile

    layers = hostile.small_layers()
    refs = [("docker-archive", hostile.write_tar(tmp_path / "legacy.tar", hostile.legacy(layers))),
            ("oci-archive", hostile.write_tar(tmp_path / "gzip.tar", hostile.oci(layers))),
            ("oci-archive", hostile.write_tar(tmp_path / "zstd.tar", hostile.oci(
                layers, compress=zstandard.ZstdCompressor().compress)))]
    for kind, ref in refs:
        gc.collect()
        gc.disable()
        try:
            image = Source(kind, ref, cache=False).load()
            assert len(image.layers) == 2
            del image
            assert gc.collect() == 0, kind
        finally:
            gc.enable()
