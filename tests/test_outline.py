"""The layer list an engine gives before the export (inspect + history) matches the image read."""

from __future__ import annotations

import pytest

from dive_py.sources.resolve import Source

pytestmark = pytest.mark.engine


def test_daemon_outline_pairs_history_like_the_loaded_image(build_image):
    # ENV, LABEL and a RUN that changes nothing make no layer: the history rows of size 0
    image = build_image("FROM divepy-test/busybox:latest\nENV I6=outline\nRUN true\n"
                        "COPY a /i6/a\nRUN echo b > /i6/b\nLABEL i6=yes\n", {"a": b"a\n"}, tag="i6-outline")
    outlines = []
    loaded = Source("docker", image.id, cache=False).load(on_outline=outlines.append)
    assert len(outlines) == 1
    outline = outlines[0]
    assert [layer.digest for layer in outline.layers] == [layer.digest for layer in loaded.layers]
    assert [layer.command for layer in outline.layers] == [layer.command for layer in loaded.layers]
    assert all(not layer.entries for layer in outline.layers)
    assert [layer.size for layer in outline.layers] == [layer.size for layer in loaded.layers]


def test_the_outline_asked_for_ahead_is_the_engines(build_image, monkeypatch, tmp_path):
    """`with_early_outline` asks the engine in a child process (so the explorer's start and the
    engine's answer overlap); the loader hands that answer on, and it is the same outline."""
    import os

    from dive_py.sources import daemon

    image = build_image("FROM divepy-test/busybox:latest\nRUN echo early > /i6-early\n", {}, tag="i6-early")
    parent = os.getpid()
    asked_in = tmp_path / "asked-in"
    real = daemon.outline

    def recording(ref, engine="docker"):
        asked_in.write_text(str(os.getpid()))
        return real(ref, engine)

    monkeypatch.setattr(daemon, "outline", recording)  # the child inherits it: a fork, not a spawn
    source = Source("docker", image.id, cache=False).with_early_outline()
    outlines = []
    loaded = source.load(on_outline=outlines.append)
    assert int(asked_in.read_text()) != parent  # asked by the child
    direct = real(image.id)
    assert len(outlines) == 1
    assert [(layer.digest, layer.command, layer.size) for layer in outlines[0].layers] == \
        [(layer.digest, layer.command, layer.size) for layer in direct.layers]
    assert [layer.digest for layer in outlines[0].layers] == [layer.digest for layer in loaded.layers]
    assert os.getpid() == parent


def test_an_early_outline_that_fails_leaves_the_error_to_the_load():
    from dive_py.errors import SourceError

    source = Source("docker", "divepy-test/no-such-image:never", cache=False).with_early_outline()
    assert source.early is not None and source.early() is None
    with pytest.raises(SourceError, match="no-such-image"):
        source.load(on_outline=lambda image: None)
