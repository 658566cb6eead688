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
