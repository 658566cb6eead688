"""dive's own test image reproduces dive's golden numbers (from dive's test suite)."""

from dive_py.analysis.analyze import analyze
from dive_py.sources.resolve import Source
from tests.helpers import DIVE_TEST_IMAGE


def test_dive_test_image_golden_numbers():
    analysis = analyze(Source("docker-archive", DIVE_TEST_IMAGE).load())
    assert analysis.score == 0.9844212134184309
    assert analysis.size == 1220598
    assert analysis.user_size == 66237
    assert analysis.wasted_bytes == 32025
    assert round(analysis.user_wasted_percent, 7) == 0.4834911
    listed = [(i.path, i.count) for i in analysis.inefficiencies]
    assert listed == [("/root/saved.txt", 2), ("/root/example/somefile1.txt", 2),
                      ("/root/example/somefile3.txt", 2)]


def test_dive_test_image_layers_and_commands():
    image = Source("docker-archive", DIVE_TEST_IMAGE).load()
    assert len(image.layers) == 14
    assert image.layers[2].command == "mkdir -p /root/example/really/nested"
    assert image.layers[9].command == "rm -rf /root/example/"
    assert image.layers[2].size == 0 and image.layers[3].size == 6405
