"""The layers pane's build-step view and the image config panel, on engine-built images (Pilot)."""

from __future__ import annotations

import os
import re

import pytest

from dive_py.analysis.imageconfig import MASK
from dive_py.config import load_config
from dive_py.imagewriter import Entry, write_docker_archive
from dive_py.sources.resolve import Source
from dive_py.ui.app import DiveApp
from dive_py.ui.configpanel import ConfigScreen
from dive_py.ui.help import HelpScreen
from dive_py.ui.settings import keymap_from_config, start_options
from dive_py.ui.viewstate import StartOptions
from dive_py.ui.widgets import FileTreeView, LayerList
from tests.buildstep_images import DOCKERFILE, FILES, KEYWORDS, LAYER_KEYWORDS, podman_build
from tests.test_ui import press, run, text_of


@pytest.fixture(scope="module")
def docker_ref(build_image) -> str:
    return build_image(DOCKERFILE, FILES, tag="i10-full").id


def row_keywords(layers: LayerList) -> list[str | None]:
    return [row.keyword for row in layers.steps.rows]


def rendered(layers: LayerList, index: int) -> tuple[str, bool]:
    """A row's text as drawn, and whether its command is dimmed."""
    strip = layers.render_row(index, 120)
    segments = [s for s in strip if s.text.strip()]
    return "".join(s.text for s in strip), bool(segments[-1].style and segments[-1].style.dim)


def test_build_steps_toggle_lists_metadata_steps_between_layers(docker_ref):
    async def scenario(pilot):
        app = pilot.app
        layers = app.query_one(LayerList)
        layer_count = len(app.analysis.image.layers)
        assert layers.row_count() == layer_count == 4
        assert row_keywords(layers) == [k for k in KEYWORDS if k in LAYER_KEYWORDS]
        assert "(imported) Imported from -" in rendered(layers, 0)[0]

        await press(pilot, "b")
        assert layers.show_build_steps and row_keywords(layers) == KEYWORDS
        assert layers.cursor_row == 0 and app.explorer.layer == 0
        text, dim = rendered(layers, KEYWORDS.index("ENV"))
        assert "(no layer) ENV APP_HOME=/app" in text and MASK in text and "hunter2" not in text and dim
        assert not rendered(layers, KEYWORDS.index("RUN"))[1]
        assert "build steps" in str(app.query_one("#layers-pane").border_subtitle)

        await press(pilot, "down")  # ARG: no layer, the tree stays on the base layer
        assert app.explorer.layer == 0
        assert "none: this step changed only the image's config" in text_of(app, "#layer-details")
        assert "ARG VERSION=1.2" in text_of(app, "#layer-details")
        for _ in range(KEYWORDS.index("RUN") - 1):
            await press(pilot, "down")
        assert app.explorer.layer == 1 and layers.current_step().keyword == "RUN"
        tree_paths = {row.path for row in app.query_one(FileTreeView).state.rows}
        assert any(path.endswith("app/version") for path in tree_paths)
        await press(pilot, "down")  # WORKDIR: still layer 1's tree
        assert app.explorer.layer == 1 and layers.current_step().keyword == "WORKDIR"

        await press(pilot, "b")  # hidden again: the cursor is on the layer it showed
        assert row_keywords(layers) == [k for k in KEYWORDS if k in LAYER_KEYWORDS]
        assert layers.cursor_row == 1 and app.explorer.layer == 1
        assert "Storage:" in text_of(app, "#layer-details")

    run(DiveApp(Source("docker", docker_ref)), scenario)


def test_build_steps_from_podman_sit_where_docker_puts_them(podman_cmd, tmp_path, monkeypatch):
    ref = podman_build(podman_cmd, tmp_path, "i10-full-podman")
    monkeypatch.setenv("CONTAINER_HOST", os.environ["DIVEPY_PODMAN_HOST"])

    async def scenario(pilot):
        layers = pilot.app.query_one(LayerList)
        assert row_keywords(layers) == KEYWORDS
        made = [(row.keyword, row.step.layer) for row in layers.steps.rows if row.step.layer is not None]
        assert made == [(None, 0), ("RUN", 1), ("COPY", 2), ("ADD", 3)]

    run(DiveApp(Source("podman", ref), start=StartOptions(show_build_steps=True)), scenario)


@pytest.mark.parametrize("show_secrets", [False, True])
def test_config_panel_shows_the_run_config(docker_ref, show_secrets):
    async def scenario(pilot):
        await press(pilot, "c")
        assert isinstance(pilot.app.screen, ConfigScreen)
        text = text_of(pilot.app, "#config-table")
        assert re.search(r'Entrypoint +\["/bin/sh", "-c"\]', text)
        assert "8080/tcp" in text and "org.example.title=demo app" in text and "SIGTERM" in text
        assert '["CMD", "cat", "/app/version"]  (interval=30s timeout=3s retries=2)' in text
        assert ("DB_PASSWORD=hunter2" in text) == show_secrets
        assert (f"DB_PASSWORD={MASK}" in text) != show_secrets
        subtitle = str(pilot.app.screen.query_one("#config-box").border_subtitle)
        assert ("--show-secrets" in subtitle) != show_secrets
        await press(pilot, "escape")
        assert not isinstance(pilot.app.screen, ConfigScreen)

    run(DiveApp(Source("docker", docker_ref), show_secrets=show_secrets), scenario)


def test_help_lists_the_new_keys(docker_ref):
    async def scenario(pilot):
        await press(pilot, "question_mark")
        assert isinstance(pilot.app.screen, HelpScreen)
        text = text_of(pilot.app, "#help-table")
        assert "Show or hide the build steps that made no layer" in text
        assert "The image config" in text

    run(DiveApp(Source("docker", docker_ref)), scenario)


def test_config_starts_with_build_steps_and_remaps_their_keys(docker_ref, tmp_path):
    path = tmp_path / "dive.yaml"
    path.write_text("layer:\n  show-build-steps: true\nkeybinding:\n  toggle-build-steps: s\n  image-config: ctrl+g\n")
    config = load_config([str(path)])
    app = DiveApp(Source("docker", docker_ref), start=start_options(config),
                  keymap=keymap_from_config(config.keybindings(), dict(config.origins)))

    async def scenario(pilot):
        layers = pilot.app.query_one(LayerList)
        assert layers.show_build_steps and row_keywords(layers) == KEYWORDS
        await press(pilot, "b", "c")
        assert layers.show_build_steps and not isinstance(pilot.app.screen, ConfigScreen)
        await press(pilot, "s")
        assert not layers.show_build_steps
        await press(pilot, "ctrl+g")
        assert isinstance(pilot.app.screen, ConfigScreen)

    run(app, scenario)


def test_layers_without_history_and_history_without_layers_are_labelled(tmp_path):
    """Hand-made archives: one with no history at all, one whose history claims more layers."""
    layers = [[Entry("a.txt", data=b"a")], [Entry("b.txt", data=b"bb")]]
    bare = write_docker_archive(str(tmp_path / "bare.tar"), layers, history=[])
    claims = write_docker_archive(str(tmp_path / "claims.tar"), layers[:1], history=[
        {"created_by": "/bin/sh -c echo a > /a.txt"},
        {"created_by": "/bin/sh -c #(nop)  ENV A=1", "empty_layer": True},
        {"created_by": "/bin/sh -c echo b > /b.txt"}])

    async def bare_scenario(pilot):
        layers_pane = pilot.app.query_one(LayerList)
        for _ in range(2):  # without, then with the build steps
            texts = [rendered(layers_pane, i)[0] for i in range(layers_pane.row_count())]
            assert len(texts) == 2 and all("(no history (squashed or hand-made))" in t for t in texts)
            await press(pilot, "b")

    async def claims_scenario(pilot):
        layers_pane = pilot.app.query_one(LayerList)
        assert layers_pane.row_count() == 1
        await press(pilot, "b")
        texts = [rendered(layers_pane, i)[0] for i in range(layers_pane.row_count())]
        assert "RUN echo a > /a.txt" in texts[0] and "(no layer) ENV A=1" in texts[1]
        assert "(no layer (history says it made one)) RUN echo b > /b.txt" in texts[2]
        await press(pilot, "end")
        assert pilot.app.explorer.layer == 0
        assert "the image has no layer left for it" in text_of(pilot.app, "#layer-details")

    run(DiveApp(Source("docker-archive", bare)), bare_scenario)
    run(DiveApp(Source("docker-archive", claims)), claims_scenario)
