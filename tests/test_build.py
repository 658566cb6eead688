"""`divepy build`: real builds on the real engines, then the usual analysis."""

from __future__ import annotations

import json
import os
import uuid

import docker
import pytest

from tests.helpers import run_divepy

pytestmark = pytest.mark.engine

DOCKERFILE = """\
FROM divepy-test/busybox:latest
ARG WHO=nobody
RUN echo "$WHO" > /who && dd if=/dev/zero of=/tmp/scratch bs=1k count=48 && rm /tmp/scratch
RUN mkdir /data && dd if=/dev/zero of=/data/blob bs=1k count=16
RUN dd if=/dev/zero of=/data/blob bs=1k count=24
"""


def context(tmp_path, name: str = "Dockerfile", text: str = DOCKERFILE) -> str:
    path = tmp_path / "ctx"
    path.mkdir()
    (path / name).write_text(text)
    return str(path)


def engine_env(**extra: str) -> dict:
    return {"CONTAINER_HOST": os.environ["DIVEPY_PODMAN_HOST"], **extra}


def test_build_with_docker_then_the_same_analysis_as_divepy_image(tmp_path, docker_client, busybox_image):
    tag = f"divepy-test/lead-build:{uuid.uuid4().hex[:8]}"
    out = tmp_path / "built.json"
    proc = run_divepy("build", "-t", tag, "--build-arg", "WHO=lead", "--network", "none",
                      "--json", str(out), context(tmp_path), env={"CI": "true"})
    assert proc.returncode == 1, proc.stderr  # the re-written blob breaks the user wasted rule
    assert "Step 1/5 : FROM divepy-test/busybox:latest" in proc.stderr  # the engine's own log
    assert "FAIL: highestUserWastedPercent" in proc.stdout
    try:
        who = docker_client.containers.run(tag, ["cat", "/who"], remove=True, network_mode="none")
        assert who == b"lead\n"
        again = tmp_path / "again.json"
        assert run_divepy(tag, "--json", str(again)).returncode == 0
        built, direct = json.loads(out.read_text()), json.loads(again.read_text())
        assert built == direct
        # dive counts every copy of /data/blob (16 KiB, then 24 KiB); /tmp/scratch never landed
        assert built["image"]["inefficientBytes"] == (16 + 24) * 1024
    finally:
        docker_client.images.remove(tag, force=True)


def test_build_with_podman_finds_a_containerfile_and_honours_the_config_engine(
        tmp_path, podman_client, podman_busybox):
    tag = f"divepy-test/lead-build-podman:{uuid.uuid4().hex[:8]}"
    ctx = context(tmp_path, "Containerfile", DOCKERFILE.replace("divepy-test/busybox:latest", podman_busybox))
    out = tmp_path / "built.json"
    proc = run_divepy("build", "--source", "podman", "-t", tag, "--network", "none",
                      "--json", str(out), ctx, env=engine_env())
    assert proc.returncode == 0, proc.stderr
    assert "STEP 1/5: FROM" in proc.stderr  # podman's log
    try:
        home = tmp_path / "home"
        home.mkdir()
        (home / ".dive.yaml").write_text("container-engine: podman\n")
        again = tmp_path / "again.json"
        plain = run_divepy(tag, "--json", str(again), env=engine_env(HOME=str(home), XDG_CONFIG_HOME=""))
        assert plain.returncode == 0, plain.stderr
        assert json.loads(out.read_text()) == json.loads(again.read_text())
        elsewhere = run_divepy(tag, "--json", str(again), env={"HOME": str(tmp_path)})  # docker default
        assert elsewhere.returncode == 3 and "not found in docker" in elsewhere.stderr
    finally:
        podman_client.images.remove(tag, force=True)


@pytest.mark.parametrize("source", ["docker", "podman"])
def test_a_failing_build_shows_the_engines_error_and_exits_3(tmp_path, source, docker_client, busybox_image,
                                                             podman_busybox):
    base = busybox_image.tags[0] if source == "docker" else podman_busybox
    ctx = context(tmp_path, text=f"FROM {base}\nRUN echo about to fail && exit 7\n")
    proc = run_divepy("build", "--source", source, "--network", "none", "--ci", ctx, env=engine_env())
    assert proc.returncode == 3, proc.stderr
    assert "about to fail" in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"divepy: build of {ctx} failed")
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_build_usage_errors(tmp_path, podman_busybox):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_divepy("build", "--ci", str(empty))
    assert proc.returncode == 2 and "no Dockerfile or Containerfile in" in proc.stderr
    proc = run_divepy("build", "--ci", str(tmp_path / "missing"))
    assert proc.returncode == 2 and "is not a directory" in proc.stderr
    ctx = context(tmp_path, text=f"FROM {podman_busybox}\n")
    proc = run_divepy("build", "--source", "podman", "--squash-all", "--ci", ctx, env=engine_env())
    assert proc.returncode == 2 and "--squash-all needs the docker CLI" in proc.stderr
    proc = run_divepy("build", "-f", str(tmp_path / "nope"), "--ci", ctx)
    assert proc.returncode == 2 and "no Dockerfile at" in proc.stderr


def test_the_docker_cli_path_passes_other_build_options_through(tmp_path, docker_client, busybox_image):
    tag = f"divepy-test/lead-build:{uuid.uuid4().hex[:8]}"
    ctx = context(tmp_path, text="FROM divepy-test/busybox:latest AS first\nRUN echo one > /one\n"
                                 "FROM first AS second\nRUN echo two > /two\n")
    proc = run_divepy("build", "--target", "first", "--quiet", "-t", tag, "--network", "none", "--ci", ctx)
    assert proc.returncode == 0, proc.stderr
    assert "Step 1/" not in proc.stderr  # --quiet reached docker build
    try:
        history = docker_client.images.get(tag).history()
        assert not any("echo two" in (h.get("CreatedBy") or "") for h in history)
    finally:
        docker_client.images.remove(tag, force=True)
