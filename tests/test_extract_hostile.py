"""Extraction of hostile archives: nothing may land outside the target directory."""

from __future__ import annotations

import os

from dive_py.imagewriter import Entry, dir_entry, write_docker_archive
from tests.helpers import run_divepy


def snapshot(root) -> dict[str, tuple]:
    """Every path under root (links not followed) with what it is and its bytes."""
    out = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            st = os.lstat(path)
            data = open(path, "rb").read() if os.path.isfile(path) and not os.path.islink(path) else None
            out[os.path.relpath(path, root)] = (st.st_mode, os.readlink(path) if os.path.islink(path) else None, data)
    return out


def hostile_archive(path, outside: str) -> None:
    write_docker_archive(str(path), [
        [
            Entry("../../evil.txt", data=b"climbed\n"),
            Entry("/abs.txt", data=b"absolute\n"),
            Entry("a/../../../b.txt", data=b"dotdot\n"),
            dir_entry("a"),
            Entry("a/link_abs", "2", link=outside),
            Entry("a/link_rel", "2", link="../../../../../../" + outside.lstrip("/")),
            Entry("hl_host", "1", link="../../../../../../etc/passwd"),
            Entry("fifo", "6"),
            Entry("dev", "3"),
            Entry("secret", data=b"s\n", mode=0o4755),
        ],
        [
            Entry("a/link_abs/pwned.txt", data=b"through a link\n"),  # a later layer writes "under" a link
            Entry("a/link_rel", data=b"replaced\n"),
        ],
    ])


def test_nothing_lands_outside_dir(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = tmp_path / "hostile.tar"
    hostile_archive(archive, str(outside))
    target = tmp_path / "target"
    before = snapshot(tmp_path)
    for layer in ("0", "1"):
        proc = run_divepy("extract", str(archive), "/", "--to", str(target / layer), "--layer", layer)
        assert proc.returncode == 0, proc.stderr
    after = snapshot(tmp_path)
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    assert changed and all(p.startswith("target/") or p == "target" for p in changed), changed
    assert os.listdir(outside) == []
    assert not os.path.exists("/evil.txt") and not os.path.exists("/abs.txt")

    zero = target / "0"
    assert (zero / "evil.txt").read_bytes() == b"climbed\n"  # the image's own root, inside DIR
    assert (zero / "abs.txt").read_bytes() == b"absolute\n"
    assert (zero / "b.txt").read_bytes() == b"dotdot\n"
    assert os.readlink(zero / "a" / "link_abs") == str(outside)  # written as a link, never followed
    assert os.stat(zero / "secret").st_mode & 0o7777 == 0o4755
    one = target / "1"
    assert (one / "a" / "link_abs" / "pwned.txt").read_bytes() == b"through a link\n"
    assert not os.path.islink(one / "a" / "link_abs")
    assert (one / "a" / "link_rel").read_bytes() == b"replaced\n"


def test_what_is_skipped_is_said(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = tmp_path / "hostile.tar"
    hostile_archive(archive, str(outside))
    proc = run_divepy("extract", str(archive), "/", "--to", str(tmp_path / "t"), "--layer", "0")
    skipped = {line.split(":")[0] for line in proc.stderr.splitlines() if line.startswith("skipped ")}
    assert skipped == {"skipped /fifo", "skipped /dev", "skipped /hl_host"}
    assert "hard link to /etc/passwd, which is not in layer 0" in proc.stderr
    assert not (tmp_path / "t" / "hl_host").exists()


def test_links_already_in_dir_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = tmp_path / "plain.tar"
    write_docker_archive(str(archive), [[dir_entry("etc"), Entry("etc/passwd", data=b"root\n"),
                                         Entry("top.txt", data=b"top\n")]])
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(outside, target / "etc")  # planted before the extraction
    os.symlink(outside / "top.txt", target / "top.txt")
    proc = run_divepy("extract", str(archive), "/", "--to", str(target))
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(outside) == []
    assert "skipped /etc:" in proc.stderr and "skipped /top.txt:" in proc.stderr
    assert "not followed" in proc.stderr


def test_cat_of_a_link_out_of_the_image_stays_in_the_image(tmp_path):
    archive = tmp_path / "links.tar"
    write_docker_archive(str(archive), [[Entry("up", "2", link="../../../../../../etc/hostname"),
                                         Entry("loop", "2", link="loop")]])
    proc = run_divepy("cat", str(archive), "/up")
    assert proc.returncode == 2 and proc.stderr.strip() == (
        "divepy: /up: not in the image as of layer 0 (links lead to /etc/hostname)")
    loop = run_divepy("cat", str(archive), "/loop")
    assert loop.returncode == 2 and "too many levels of symbolic links" in loop.stderr


def test_a_path_written_twice_in_one_layer_reads_as_the_last_entry(tmp_path):
    archive = tmp_path / "twice.tar"
    write_docker_archive(str(archive), [[Entry("f", data=b"first\n"), Entry("f", data=b"second\n", mode=0o600)]])
    assert run_divepy("cat", str(archive), "/f").stdout == "second\n"
    proc = run_divepy("extract", str(archive), "/f", "--to", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "f").read_bytes() == b"second\n"
    assert os.stat(tmp_path / "out" / "f").st_mode & 0o777 == 0o600


def test_a_target_that_is_not_a_directory_is_a_usage_error(tmp_path):
    archive = tmp_path / "one.tar"
    write_docker_archive(str(archive), [[Entry("f", data=b"x\n")]])
    (tmp_path / "file").write_text("not a dir")
    proc = run_divepy("extract", str(archive), "/f", "--to", str(tmp_path / "file"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"divepy: {tmp_path / 'file'}: not a directory (the target must be one, or not exist yet)")
    assert (tmp_path / "file").read_text() == "not a dir"
