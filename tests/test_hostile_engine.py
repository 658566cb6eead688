"""Engine failures: one line naming the engine, its address and the problem; exit 3.

The daemon that is down, refuses the caller, or is too old is a real socket (no listener, a
listener the caller may not use, or tests/engine_peer.py speaking the Docker API); the image
that disappears or the daemon that dies mid-save is engine_peer.py cutting a real save short.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest

from tests.engine_peer import EnginePeer
from tests.helpers import run_divepy
from tests.hostile import legacy, small_layers, write_tar
from tests.hostile import fails


def _divepy_docker(host: str, *extra, prefix=()):
    return run_divepy("peer/image:latest", "--ci", env={"DOCKER_HOST": host}, timeout=60, prefix=prefix)


def test_socket_path_that_does_not_exist(tmp_path):
    fails(_divepy_docker(f"unix://{tmp_path}/none.sock"), "cannot reach docker", "none.sock", "no socket there")


def test_socket_file_without_a_listener(tmp_path):
    path = str(tmp_path / "dead.sock")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)  # the file exists, nobody accepts: what a crashed daemon leaves behind
    try:
        fails(_divepy_docker(f"unix://{path}"), "cannot reach docker", "dead.sock", "connection refused")
    finally:
        sock.close()


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux) to drop root's capabilities")
def test_socket_without_permission(tmp_path):
    """The tests run as root, which any socket lets in; setpriv drops every capability, so
    the socket's owner and mode decide, as they do for a user outside the docker group."""
    path = str(tmp_path / "locked.sock")
    with EnginePeer(path) as url:
        os.chown(path, 65534, 65534)
        os.chmod(path, 0o600)
        proc = _divepy_docker(url, prefix=("setpriv", "--bounding-set=-all", "--inh-caps=-all", "--"))
    fails(proc, "cannot reach docker", "locked.sock", "permission denied")


def test_api_version_too_old(tmp_path):
    with EnginePeer(str(tmp_path / "old.sock"), api_version="1.12") as url:
        fails(_divepy_docker(url), "docker", "old.sock", "API", "1.12", "too old")


def test_image_removed_before_it_could_be_exported(tmp_path):
    with EnginePeer(str(tmp_path / "gone.sock"), save="removed") as url:
        fails(_divepy_docker(url), "docker:peer/image:latest", "removed while being read", "No such image")


@pytest.mark.parametrize("how", ["dies-chunked", "dies-plain"])
def test_daemon_dies_in_the_middle_of_a_save(tmp_path, how):
    archive = open(write_tar(tmp_path / "a.tar", legacy(small_layers())), "rb").read()
    with EnginePeer(str(tmp_path / "dying.sock"), save=how, archive=archive) as url:
        line = fails(_divepy_docker(url), "docker:peer/image:latest")
    assert "stopped sending" in line or "truncated" in line or "unexpected end" in line, line
