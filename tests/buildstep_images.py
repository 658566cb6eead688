"""Images built by the real engines from a Dockerfile that uses every instruction (issue 10)."""

from __future__ import annotations

import hashlib
import os
import subprocess

from dive_py.analysis.dockerfile import reconstruct
from dive_py.model.image import Image

DOCKERFILE = """\
FROM divepy-test/busybox:latest
ARG VERSION=1.2
ENV APP_HOME=/app DB_PASSWORD=hunter2 GREETING="hello world"
LABEL org.example.title="demo app" maintainer=me
EXPOSE 8080/tcp 53/udp
RUN mkdir -p /app && echo "$VERSION" > /app/version
WORKDIR /app
COPY --chown=1000:1000 hello.txt /app/hello.txt
ADD data.txt /data/
USER 1000:1000
VOLUME ["/data", "/cache"]
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD ["cat", "/app/version"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/hello.txt"]
"""
FILES = {"hello.txt": b"hello\n", "data.txt": b"data!\n"}

# The Dockerfile's instructions after FROM, in order; the base (a `docker import`) comes first.
KEYWORDS = [None, "ARG", "ENV", "LABEL", "EXPOSE", "RUN", "WORKDIR", "COPY", "ADD", "USER", "VOLUME",
            "HEALTHCHECK", "STOPSIGNAL", "ENTRYPOINT", "CMD"]
LAYER_KEYWORDS = {None, "RUN", "COPY", "ADD"}  # the ones that make a layer here


def podman_cli(podman_cmd: list[str], *args: str) -> subprocess.CompletedProcess:
    """The podman CLI on the service's storage (without CONTAINER_HOST, which makes it remote)."""
    env = {k: v for k, v in os.environ.items() if k != "CONTAINER_HOST"}
    return subprocess.run([*podman_cmd, *args], capture_output=True, text=True, timeout=300, env=env)


def podman_build(podman_cmd: list[str], tmp_path, tag: str) -> str:
    """`podman build --format docker` of DOCKERFILE (kept between runs by a content-hash tag)."""
    digest = hashlib.sha256(DOCKERFILE.encode() + repr(sorted(FILES.items())).encode()).hexdigest()[:16]
    ref = f"localhost/divepy-test/{tag}:{digest}"
    if podman_cli(podman_cmd, "image", "exists", ref).returncode == 0:
        return ref
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE)
    for name, data in FILES.items():
        (context / name).write_bytes(data)
        os.utime(context / name, (0, 0))
    proc = podman_cli(podman_cmd, "build", "--format", "docker", "--network", "none",
                      "--pull=never", "-q", "-t", ref, str(context))
    assert proc.returncode == 0, proc.stderr
    return ref


def check_build_steps(image: Image) -> None:
    """The instructions come back in order, tied to the layers whose files they made."""
    steps = reconstruct(image)
    assert [s.keyword for s in steps] == KEYWORDS
    made = {s.keyword: s.step.layer for s in steps if s.step.layer is not None}
    assert set(made) == LAYER_KEYWORDS
    assert [s.step.layer for s in steps if s.step.layer is not None] == list(range(len(image.layers)))
    for step in steps:
        assert (step.step.layer is None) == (step.keyword not in LAYER_KEYWORDS), step
    paths = {i: {e.path.strip("/") for e in layer.entries} for i, layer in enumerate(image.layers)}
    assert "app/version" in paths[made["RUN"]]
    hello = next(e for e in image.layers[made["COPY"]].entries if e.path.strip("/") == "app/hello.txt")
    assert (hello.uid, hello.gid) == (1000, 1000)
    assert "data/data.txt" in paths[made["ADD"]]
    assert steps[0].step.kind == "imported" and "Imported from" in steps[0].notes[-1]
