"""Build steps, the image config and the reconstructed Dockerfile on images the engines built."""

from __future__ import annotations

import json
import os
import re

import pytest

from dive_py.analysis.imageconfig import MASK, summarize
from dive_py.sources.resolve import Source
from tests.buildstep_images import DOCKERFILE, FILES, KEYWORDS, check_build_steps, podman_build, podman_cli
from tests.helpers import run_divepy


@pytest.fixture(scope="module")
def docker_full(build_image):
    return build_image(DOCKERFILE, FILES, tag="i10-full")


@pytest.fixture(scope="module")
def podman_full(podman_cmd, tmp_path_factory) -> str:
    return podman_build(podman_cmd, tmp_path_factory.mktemp("i10"), "i10-full-podman")


@pytest.fixture
def podman_env(monkeypatch) -> dict:
    monkeypatch.setenv("CONTAINER_HOST", os.environ["DIVEPY_PODMAN_HOST"])
    return {"CONTAINER_HOST": os.environ["DIVEPY_PODMAN_HOST"]}


def instructions(dockerfile_text: str) -> list[str]:
    return [line for line in dockerfile_text.splitlines() if line and not line.startswith("#")]


def test_docker_build_steps_sit_between_the_right_layers(docker_full):
    check_build_steps(Source("docker", docker_full.id).load())


def test_podman_build_steps_sit_between_the_right_layers(podman_full, podman_env):
    check_build_steps(Source("podman", podman_full).load())


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_dockerfile_command_names_each_instruction_in_order(engine, request):
    ref = request.getfixturevalue("docker_full").id if engine == "docker" else request.getfixturevalue("podman_full")
    env = request.getfixturevalue("podman_env") if engine == "podman" else {}
    proc = run_divepy("dockerfile", "--source", engine, ref, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = instructions(proc.stdout)
    assert [line.split(" ", 1)[0] for line in lines] == KEYWORDS[1:]
    by_keyword = {line.split(" ", 1)[0]: line for line in lines}
    assert by_keyword["ENV"] == f'ENV APP_HOME=/app DB_PASSWORD={MASK} GREETING="hello world"'
    assert by_keyword["LABEL"] == 'LABEL org.example.title="demo app" maintainer=me'
    assert by_keyword["RUN"] == 'RUN mkdir -p /app && echo "$VERSION" > /app/version'
    assert re.fullmatch(r"COPY (--chown=1000:1000 )?file:[0-9a-f]{64} /app/hello.txt", by_keyword["COPY"])
    assert re.fullmatch(r"ADD file:[0-9a-f]{64} /data/", by_keyword["ADD"])
    assert by_keyword["VOLUME"] == 'VOLUME ["/data", "/cache"]'
    assert by_keyword["HEALTHCHECK"] == 'HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD ["cat", "/app/version"]'
    assert by_keyword["ENTRYPOINT"] == 'ENTRYPOINT ["/bin/sh", "-c"]'
    assert by_keyword["CMD"] == 'CMD ["cat /app/hello.txt"]'
    assert by_keyword["USER"] == "USER 1000:1000" and by_keyword["WORKDIR"] == "WORKDIR /app"
    assert "hunter2" not in proc.stdout
    comments = [line for line in proc.stdout.splitlines() if line.startswith("# ")]
    assert comments[2].startswith("# layer 0 · ") and "imported" in comments[2]
    run_comment = proc.stdout.splitlines()[proc.stdout.splitlines().index(by_keyword["RUN"]) - 1]
    assert re.fullmatch(r"# layer 1 · 4 Bytes · build args: VERSION=1\.2", run_comment)
    env_comment = proc.stdout.splitlines()[proc.stdout.splitlines().index(by_keyword["ENV"]) - 1]
    assert env_comment == "# no layer"


def test_docker_classic_copy_keeps_its_chown(docker_full):
    proc = run_divepy("dockerfile", docker_full.id)
    assert re.search(r"^COPY --chown=1000:1000 file:[0-9a-f]{64} /app/hello.txt$", proc.stdout, re.M)


def test_show_secrets_prints_the_values(docker_full, tmp_path):
    out = tmp_path / "Dockerfile"
    proc = run_divepy("dockerfile", docker_full.id, "--show-secrets", "-o", str(out))
    assert proc.returncode == 0 and proc.stdout == ""
    assert "ENV APP_HOME=/app DB_PASSWORD=hunter2 " in out.read_text()


def test_json_config_section_masks_secrets(docker_full, tmp_path):
    out = tmp_path / "out.json"
    proc = run_divepy(docker_full.id, "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert {"layer", "image", "config"} <= set(data)  # other top-level keys (hints) may follow
    config = data["config"]
    assert config["env"][1:] == ["APP_HOME=/app", f"DB_PASSWORD={MASK}", "GREETING=hello world"]
    assert config["entrypoint"] == ["/bin/sh", "-c"] and config["cmd"] == ["cat /app/hello.txt"]
    assert config["exposedPorts"] == ["53/udp", "8080/tcp"]
    assert config["volumes"] == ["/cache", "/data"]
    assert config["user"] == "1000:1000" and config["workingDir"] == "/app"
    assert config["labels"] == {"maintainer": "me", "org.example.title": "demo app"}
    assert config["healthcheck"] == {"test": ["CMD", "cat", "/app/version"], "interval": "30s",
                                     "timeout": "3s", "retries": 2}
    assert config["stopSignal"] == "SIGTERM"
    assert (config["architecture"], config["os"]) == (docker_full.attrs["Architecture"], docker_full.attrs["Os"])
    assert config["imageId"] == docker_full.id and config["tags"] == docker_full.tags
    assert config["storage"]["driver"] == docker_full.attrs["GraphDriver"]["Name"]
    assert "hunter2" not in out.read_text()
    shown = tmp_path / "shown.json"
    assert run_divepy(docker_full.id, "--json", str(shown), "--show-secrets").returncode == 0
    assert "DB_PASSWORD=hunter2" in json.loads(shown.read_text())["config"]["env"]


def test_archive_images_have_a_config_but_no_engine_facts(docker_full, tmp_path):
    archive = tmp_path / "full.tar"
    with open(archive, "wb") as fh:
        for chunk in docker_full.save(named=True):
            fh.write(chunk)
    summary = summarize(Source("docker-archive", str(archive)).load())
    assert summary["stopSignal"] == "SIGTERM" and summary["storage"] is None
    assert summary["repoDigests"] == [] and summary["imageId"] is None


def test_repo_digests_and_storage_driver_come_from_the_engine(docker_full, docker_client, registry_address):
    ref = f"{registry_address}/divepy-test/i10-digest:{docker_full.id[7:19]}"
    docker_full.tag(ref)
    for line in docker_client.images.push(ref, stream=True, decode=True):
        assert "error" not in line, line
    image = Source("docker", ref).load()
    inspected = docker_client.images.get(ref)
    assert image.repo_digests and list(image.repo_digests) == inspected.attrs["RepoDigests"]
    assert image.storage.driver == inspected.attrs["GraphDriver"]["Name"]
    assert dict(image.storage.data) == (inspected.attrs["GraphDriver"]["Data"] or {})


def test_podman_reports_digests_and_storage(podman_full, podman_env, podman_cmd):
    image = Source("podman", podman_full).load()
    proc = podman_cli(podman_cmd, "image", "inspect", podman_full)
    assert proc.returncode == 0, proc.stderr
    inspected = json.loads(proc.stdout)[0]
    assert list(image.repo_digests) == inspected["RepoDigests"]
    assert image.storage.driver == inspected["GraphDriver"]["Name"]
    summary = summarize(image)
    assert summary["healthcheck"]["test"] == ["CMD", "cat", "/app/version"]  # --format docker keeps it
    assert f"DB_PASSWORD={MASK}" in summary["env"]
