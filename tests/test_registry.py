"""The registry source against real registries: the shared test registry (plain, loopback) and
private docker-registry processes with basic (htpasswd) and token auth, filled with skopeo."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from dive_py.sources.archive import host_platform
from tests.helpers import run_divepy
from tests.registry_servers import (
    PASSWORD,
    USER,
    Registry,
    docker_config,
    htpasswd_registry,
    outside_address,
    token_registry,
)
from tests.test_archive_forms import _blob, _demo_blobs

pytestmark = pytest.mark.engine

DOCKERFILE = """FROM divepy-test/busybox:latest
COPY big.bin /data/big.bin
RUN echo changed > /data/note && rm /data/big.bin && mkdir -p /etc/i8 && echo hi > /etc/i8/x
"""


def skopeo_push(source: str, address: str, repo: str, *extra: str) -> None:
    proc = subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", *extra, source,
                           f"docker://{address}/{repo}"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def built(build_image, docker_client, tmp_path_factory):
    """A built image and its docker-save archive."""
    image = build_image(DOCKERFILE, {"big.bin": bytes(range(256)) * 256}, tag="i8-registry")
    path = tmp_path_factory.mktemp("i8-registry") / "image.tar"
    with open(path, "wb") as fh:
        for chunk in image.save(named=False):
            fh.write(chunk)
    return image, str(path)


def _json(*args: str, env: dict | None = None) -> dict:
    proc = run_divepy(*args, "--json", "-", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _content(report: dict) -> tuple:
    """What must not depend on where the image came from (layer ids are names in the source)."""
    layers = [(layer["digestId"], layer["sizeBytes"], layer["command"],
               json.dumps(layer["fileList"], sort_keys=True)) for layer in report["layer"]]
    return layers, json.dumps(report["image"], sort_keys=True)


def test_registry_image_reads_like_the_daemon_image(built, registry_address):
    image, archive = built
    skopeo_push(f"docker-archive:{archive}", registry_address, "i8/reg:v1")
    from_daemon = _json(image.id)
    from_registry = _json(f"registry://{registry_address}/i8/reg:v1")
    assert _content(from_registry) == _content(from_daemon)
    assert len(from_registry["layer"]) == 3
    by_option = _json(f"{registry_address}/i8/reg:v1", "--source", "registry")
    assert _content(by_option) == _content(from_daemon)


def test_registry_by_digest_and_missing_tag(built, registry_address):
    _, archive = built
    skopeo_push(f"docker-archive:{archive}", registry_address, "i8/reg:v1")
    proc = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                           f"docker://{registry_address}/i8/reg:v1"], capture_output=True, text=True)
    digest = proc.stdout.strip()
    assert digest.startswith("sha256:")
    assert _content(_json(f"registry://{registry_address}/i8/reg@{digest}")) == \
        _content(_json(f"registry://{registry_address}/i8/reg:v1"))
    missing = run_divepy(f"registry://{registry_address}/i8/reg:nope", "--json", "-")
    assert missing.returncode == 3
    assert missing.stderr.strip() == f"divepy: registry://{registry_address}/i8/reg:nope: manifest nope not found"


def _multi_platform_layout(root) -> None:
    """index.json -> an index tagged v1 -> linux/amd64 (the demo image) and linux/arm64/v8."""
    tars, config = _demo_blobs()
    oci = "application/vnd.oci.image.manifest.v1+json"
    amd = {"schemaVersion": 2, "mediaType": oci,
           "config": {**_blob(root, config), "mediaType": "application/vnd.oci.image.config.v1+json"},
           "layers": [{**_blob(root, t), "mediaType": "application/vnd.oci.image.layer.v1.tar"} for t in tars]}
    first = "sha256:" + hashlib.sha256(tars[0]).hexdigest()
    arm_config = json.dumps({"architecture": "arm64", "variant": "v8", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": [first]}}).encode()
    arm = {"schemaVersion": 2, "mediaType": oci,
           "config": {**_blob(root, arm_config), "mediaType": "application/vnd.oci.image.config.v1+json"},
           "layers": [{**_blob(root, tars[0]), "mediaType": "application/vnd.oci.image.layer.v1.tar"}]}
    nested = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {**_blob(root, json.dumps(amd).encode()), "mediaType": oci,
         "platform": {"os": "linux", "architecture": "amd64"}},
        {**_blob(root, json.dumps(arm).encode()), "mediaType": oci,
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
    ]}
    index = {"schemaVersion": 2, "manifests": [
        {**_blob(root, json.dumps(nested).encode()), "mediaType": "application/vnd.oci.image.index.v1+json",
         "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}
    (root / "index.json").write_text(json.dumps(index))
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')


def test_multi_platform_index_in_the_registry(registry_address, tmp_path):
    _multi_platform_layout(tmp_path)
    skopeo_push(f"oci:{tmp_path}:v1", registry_address, "i8/multi:v1", "--all")
    ref = f"registry://{registry_address}/i8/multi:v1"
    amd = _json(ref, "--platform", "linux/amd64")
    arm = _json(ref, "--platform", "linux/arm64/v8")
    assert len(amd["layer"]) == len(_demo_blobs()[0]) > 1
    assert len(arm["layer"]) == 1
    assert arm["layer"][0]["digestId"] == amd["layer"][0]["digestId"]
    if host_platform() in (("linux", "amd64"), ("linux", "arm64")):
        native = amd if host_platform()[1] == "amd64" else arm
        assert _content(_json(ref)) == _content(native)
    missing = run_divepy(ref, "--platform", "linux/s390x", "--json", "-")
    assert missing.returncode == 3
    assert missing.stderr.strip() == (f"divepy: {ref}: no image for platform linux/s390x "
                                      "(available: linux/amd64, linux/arm64/v8)")


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory, built):
    directory = tmp_path_factory.mktemp("i8-basic")
    registry = htpasswd_registry(str(directory))
    try:
        skopeo_push(f"docker-archive:{built[1]}", registry.address, "i8/basic:v1",
                    "--dest-creds", f"{USER}:{PASSWORD}")
        yield registry
    finally:
        registry.close()


def test_basic_auth_with_docker_config_credentials(basic_registry, built, tmp_path):
    ref = f"registry://{basic_registry.address}/i8/basic:v1"
    anonymous = run_divepy(ref, "--json", "-", env={"DOCKER_CONFIG": str(tmp_path / "none")})
    assert anonymous.returncode == 3
    assert "unauthorized" in anonymous.stderr and anonymous.stderr.count("\n") == 1
    wrong = docker_config(str(tmp_path / "wrong"), basic_registry.address, password="not-it")
    assert run_divepy(ref, "--json", "-", env={"DOCKER_CONFIG": wrong}).returncode == 3
    right = docker_config(str(tmp_path / "right"), basic_registry.address)
    assert _content(_json(ref, env={"DOCKER_CONFIG": right})) == _content(_json(built[0].id))


def test_credentials_from_a_credential_helper(basic_registry, built, tmp_path):
    """`credHelpers` names a program speaking Docker's credential-helper protocol on stdin/stdout."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-i8test"
    helper.write_text("#!/bin/sh\nread server\n"
                      f"[ \"$1\" = get ] && [ \"$server\" = \"{basic_registry.address}\" ] || exit 1\n"
                      f"echo '{{\"ServerURL\": \"'$server'\", \"Username\": \"{USER}\", \"Secret\": \"{PASSWORD}\"}}'\n")
    helper.chmod(0o755)
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"auths": {}, "credHelpers": {basic_registry.address: "i8test"}}))
    env = {"DOCKER_CONFIG": str(config), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    ref = f"registry://{basic_registry.address}/i8/basic:v1"
    assert _content(_json(ref, env=env)) == _content(_json(built[0].id))
    (config / "config.json").write_text(json.dumps({"credsStore": "i8test"}))
    assert _content(_json(ref, env=env)) == _content(_json(built[0].id))


def test_a_blob_that_does_not_match_its_digest_is_refused(basic_registry, built, tmp_path):
    """The registry's storage is damaged behind its back: it serves other bytes for a digest."""
    skopeo_push(f"docker-archive:{built[1]}", basic_registry.address, "i8/damaged:v1",
                "--dest-creds", f"{USER}:{PASSWORD}")
    proc = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "--creds", f"{USER}:{PASSWORD}",
                           f"docker://{basic_registry.address}/i8/damaged:v1"], capture_output=True, text=True)
    layer_digest = json.loads(proc.stdout)["layers"][-1]["digest"]
    blob = basic_registry.blob_file(layer_digest)
    data = bytearray(open(blob, "rb").read())
    data[len(data) // 2] ^= 0x01
    with open(blob, "wb") as fh:
        fh.write(data)
    config = docker_config(str(tmp_path / "cfg"), basic_registry.address)
    proc = run_divepy(f"registry://{basic_registry.address}/i8/damaged:v1", "--json", "-",
                      env={"DOCKER_CONFIG": config})
    assert proc.returncode == 3
    assert proc.stderr.startswith(f"divepy: registry://{basic_registry.address}/i8/damaged:v1: "
                                  f"layer {layer_digest}: digest mismatch")
    assert proc.stderr.count("\n") == 1


def test_bearer_token_flow(built, tmp_path):
    registry, server = token_registry(str(tmp_path))
    try:
        skopeo_push(f"docker-archive:{built[1]}", registry.address, "i8/token:v1",
                    "--dest-creds", f"{USER}:{PASSWORD}")
        ref = f"registry://{registry.address}/i8/token:v1"
        server.requests.clear()
        anonymous = run_divepy(ref, "--json", "-", env={"DOCKER_CONFIG": str(tmp_path / "none")})
        assert anonymous.returncode == 3
        assert "refused anonymous access" in anonymous.stderr
        config = docker_config(str(tmp_path / "cfg"), registry.address)
        assert _content(_json(ref, env={"DOCKER_CONFIG": config})) == _content(_json(built[0].id))
        asked = server.requests[-1]
        assert asked == {"service": "divepy-test-registry", "scope": ["repository:i8/token:pull"],
                         "user": USER}
    finally:
        registry.close()
        server.close()


def test_plain_http_only_for_loopback_or_when_allowed(built, tmp_path):
    address = outside_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to serve a registry on")
    registry = Registry(str(tmp_path), host=address)
    try:
        skopeo_push(f"docker-archive:{built[1]}", registry.address, "i8/plain:v1")
        ref = f"registry://{registry.address}/i8/plain:v1"
        refused = run_divepy(ref, "--json", "-")
        assert refused.returncode == 3
        assert refused.stderr.strip().endswith("(plain http needs --insecure-registry)")
        assert _content(_json(ref, "--insecure-registry")) == _content(_json(built[0].id))
    finally:
        registry.close()


def test_references_and_challenges_as_registries_write_them():
    from dive_py.sources.registry import DOCKER_HUB, parse_challenge, parse_reference

    ref = parse_reference("127.0.0.1:5555/team/app@sha256:" + "a" * 64)
    assert (ref.host, ref.repo, ref.reference) == ("127.0.0.1:5555", "team/app", "sha256:" + "a" * 64)
    assert parse_reference("localhost/app").reference == "latest"
    hub = parse_reference("docker.io/alpine:3.20")
    assert (hub.host, hub.repo, hub.tag) == (DOCKER_HUB, "library/alpine", "3.20")
    # Docker Hub's challenge, verbatim
    assert parse_challenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                           'scope="repository:library/alpine:pull"') == (
        "bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                   "scope": "repository:library/alpine:pull"})
    assert parse_challenge('Basic realm="Registry Realm"') == ("basic", {"realm": "Registry Realm"})
    bad = run_divepy("registry://no-repo", "--json", "-")
    assert bad.returncode == 2 and "expected HOST[:PORT]/REPO[:TAG|@DIGEST]" in bad.stderr


def test_platforms_of_an_oci_archive_and_layout_that_skopeo_wrote(registry_address, tmp_path):
    """The same multi-platform index, copied by skopeo out of the registry into an OCI archive
    and an OCI layout: --platform picks, the default is this machine's, a missing one is exit 3."""
    _multi_platform_layout(tmp_path / "src")
    skopeo_push(f"oci:{tmp_path / 'src'}:v1", registry_address, "i8/multi:v1", "--all")
    archive, layout = tmp_path / "multi.tar", tmp_path / "layout"
    for dest in (f"oci-archive:{archive}:v1", f"oci:{layout}:v1"):
        proc = subprocess.run(["skopeo", "copy", "-q", "--all", "--src-tls-verify=false",
                               f"docker://{registry_address}/i8/multi:v1", dest], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    from_registry = _json(f"registry://{registry_address}/i8/multi:v1", "--platform", "linux/arm64/v8")
    for ref in (f"oci-archive://{archive}", f"oci://{layout}"):
        assert _content(_json(ref, "--platform", "linux/arm64/v8")) == _content(from_registry)
        assert len(_json(ref, "--platform", "linux/amd64")["layer"]) == len(_demo_blobs()[0])
        if host_platform() == ("linux", "amd64"):
            assert len(_json(ref)["layer"]) == len(_demo_blobs()[0])
        missing = run_divepy(ref, "--platform", "windows/amd64", "--json", "-")
        assert missing.returncode == 3 and missing.stderr.count("\n") == 1
        assert missing.stderr.strip().endswith(
            "no image for platform windows/amd64 (available: linux/amd64, linux/arm64/v8)")
