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
