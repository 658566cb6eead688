"""Hostile paths and names: analysed as the OCI layer rules say, shown escaped, never followed
out of the image, never sent raw to the terminal; and reports land only where they were asked.
"""

from __future__ import annotations

import json
import os
import re

from tests.helpers import run_divepy
from tests.hostile import Entry, dir_entry, files_named, layer_tar, legacy, write_tar
from tests.test_hostile_archives import run


def _files(result, layer: int) -> dict[str, dict]:
    return {f["path"]: f for f in result["layer"][layer]["fileList"]}


def _analyse(tmp_path, layers, **kw):
    proc, result = run(write_tar(tmp_path / "p.tar", legacy(layers, **kw)), tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc, result


def test_dotdot_and_absolute_paths_stay_inside_the_image(tmp_path):
    proc, result = _analyse(tmp_path, [
        layer_tar([Entry("../../etc/evil", data=b"a" * 10), Entry("/abs/path", data=b"b" * 20)]),
        layer_tar([Entry("etc/../../../etc/evil", data=b"c" * 10), Entry("./abs//path", data=b"d" * 20)]),
    ])
    assert {"etc/evil", "abs/path"} <= set(_files(result, 0))
    assert {ref["file"]: ref["count"] for ref in result["image"]["fileReference"]} == {"/etc/evil": 2, "/abs/path": 2}


def test_entries_through_symlinks_and_symlink_loops(tmp_path):
    proc, result = _analyse(tmp_path, [
        layer_tar([Entry("a", "2", link="/etc"), Entry("loop1", "2", link="loop2"),
                   Entry("loop2", "2", link="loop1"), Entry("self", "2", link="self/x")]),
        layer_tar([Entry("a/passwd", data=b"root"), Entry("loop1/x", data=b"x")]),
    ])
    # a file under a path that was a symlink makes that path a directory in the layer (overlay
    # semantics); nothing is resolved through the link, so nothing lands in /etc
    assert "a/passwd" in _files(result, 1)
    assert "etc/passwd" not in _files(result, 1)


def test_hard_links_to_missing_targets_and_whiteouts_of_nothing(tmp_path):
    proc, result = _analyse(tmp_path, [
        layer_tar([Entry("bin/ln", "1", link="does/not/exist"), Entry("keep", data=b"k" * 7)]),
        layer_tar([Entry("never/.wh.existed"), Entry(".wh.ghost"), Entry("keep", data=b"K" * 7)]),
    ])
    assert result["image"]["sizeBytes"] == 14
    assert result["image"]["reclaimableBytes"] == 7  # the first `keep`; whiteouts of nothing remove nothing


def test_opaque_markers_anywhere(tmp_path):
    """At the root, in the base layer, in a directory that never existed, twice."""
    proc, result = _analyse(tmp_path, [
        layer_tar([Entry(".wh..wh..opq"), Entry("d/f", data=b"1" * 100), Entry("d/.wh..wh..opq")]),
        layer_tar([Entry("nowhere/deep/.wh..wh..opq"), Entry("d/.wh..wh..opq"), Entry("d/.wh..wh..opq"),
                   Entry("d/g", data=b"2" * 50)]),
        layer_tar([Entry(".wh..wh..opq"), Entry("top", data=b"3" * 5)]),
    ])
    # the root opaque marker of layer 2 hides everything below: only `top` is left
    assert result["image"]["reclaimableBytes"] == 150
    assert result["image"]["sizeBytes"] == 155


def test_very_deep_and_very_long_paths(tmp_path):
    deep = "/".join(["d"] * 3000) + "/leaf"
    long_name = "n" * 20000
    proc, result = _analyse(tmp_path, [
        layer_tar([Entry(deep, data=b"x" * 3), Entry(long_name, data=b"y" * 4)]),
        layer_tar([Entry(deep, data=b"z" * 3)]),
    ])
    assert long_name in _files(result, 0)
    assert result["image"]["fileReference"][0]["file"] == "/" + deep


def _read_and_remove_chain(root, dirs: list[str], leaf: str) -> bytes:
    """Read root/dirs.../leaf and remove the chain, through directory fds: the path is longer
    than PATH_MAX, and shutil.rmtree would recurse once per level."""
    fds = [os.open(root, os.O_RDONLY | os.O_DIRECTORY)]
    for name in dirs:
        fds.append(os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fds[-1]))
    with open(os.open(leaf, os.O_RDONLY, dir_fd=fds[-1]), "rb") as fh:
        data = fh.read()
    os.unlink(leaf, dir_fd=fds[-1])
    for name, parent in zip(reversed(dirs), reversed(fds[:-1])):
        os.close(fds.pop())
        os.rmdir(name, dir_fd=parent)
    os.close(fds.pop())
    return data


def test_every_command_walks_very_deep_trees(tmp_path):
    """3,000 levels: extract, diff, find, blame and cat walk them without recursion errors."""
    deep = "/".join(["d"] * 3000)
    a = write_tar(tmp_path / "a.tar", legacy([
        layer_tar([Entry(f"{deep}/leaf", data=b"xyz"), Entry(f"{deep}/gone", data=b"g")]),
        layer_tar([Entry(f"{deep}/leaf", data=b"zzz"), Entry(f"{deep}/.wh.gone")]),
    ]))
    b = write_tar(tmp_path / "b.tar", legacy([layer_tar([Entry(f"{deep}/leaf", data=b"xyz")])]))
    out = tmp_path / "out"
    extract = run_divepy("extract", str(a), "/", "--to", str(out))
    assert extract.returncode == 0, extract.stderr
    assert _read_and_remove_chain(out, deep.split("/"), "leaf") == b"zzz"
    diff = run_divepy("diff", str(a), str(b), "--json", "-")
    assert diff.returncode == 0, diff.stderr
    changes = {c["path"]: c["change"] for c in json.loads(diff.stdout)["paths"]}
    assert changes == {f"{deep}/leaf": "changed"}
    blame = run_divepy("blame", str(a), f"/{deep}/gone")
    assert blame.returncode == 0 and "removed" in blame.stdout, blame.stderr
    find = run_divepy("find", str(a), "leaf$")
    assert find.returncode == 0 and f"/{deep}/leaf" in find.stdout, find.stderr
    cat = run_divepy("cat", str(a), f"/{deep}/leaf", "--layer", "0")
    assert cat.returncode == 0 and cat.stdout == "xyz"


def test_non_utf8_control_characters_escapes_and_markup_in_ci_output(tmp_path):
    names = ["bad\udcff\udcfename", "esc\x1b[31mRED\x1b[0m", "bell\x07and\rcr", "[red]x[/]", "tab\there"]
    blob = lambda content: files_named(names, content)
    history = [{"created_by": "/bin/sh -c echo \x1b]0;pwned\x07 [bold]cmd[/]"}, {"created_by": "ok"}]
    proc, result = _analyse(tmp_path, [blob(b"aa"), blob(b"bb")], history=history)
    assert result["layer"][0]["command"] == "echo \x1b]0;pwned\x07 [bold]cmd[/]"  # JSON keeps the data
    assert "bad\ufffd\ufffdname" in _files(result, 0)  # valid UTF-8, as dive (Go) writes it
    ci = run_divepy(str(tmp_path / "p.tar"), "--ci", "--lowestEfficiency", "0", "--highestUserWastedPercent",
                    "disabled", cwd=tmp_path)
    assert ci.returncode == 0, ci.stderr
    out = ci.stdout
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "esc\\x1b[31mRED\\x1b[0m" in out
    assert "bad\\xff\\xfename" in out
    assert "[red]x[/]" in out  # markup is text
    assert "tab\\x09here" in out


def test_reports_are_written_only_where_asked(tmp_path):
    """--json, --junit and --markdown write their file and nothing else, anywhere: not in the
    working directory, not next to the archive, not in $HOME, not where hostile names point."""
    root = tmp_path / "root"
    work, home, out, archive_dir = (root / d for d in ("work", "home", "out", "archive"))
    for d in (work, home, out, archive_dir):
        d.mkdir(parents=True)
    archive = write_tar(archive_dir / "p.tar", legacy([
        layer_tar([Entry("../../../../escape.txt", data=b"e" * 10), Entry("/abs.txt", data=b"a"),
                   Entry("link", "2", link="../../.."), Entry("link/through.txt", data=b"t")]),
        layer_tar([Entry("../../../../escape.txt", data=b"f" * 10)]),
    ]))
    before = sorted(str(p) for p in root.rglob("*"))
    proc = run_divepy(archive, "--ci", "--json", str(out / "a.json"), "--junit", str(out / "a.xml"),
                      "--markdown", str(out / "a.md"), cwd=work,
                      env={"HOME": str(home), "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert proc.returncode in (0, 1), proc.stderr
    after = sorted(str(p) for p in root.rglob("*"))
    assert sorted(set(after) - set(before)) == [str(out / "a.json"), str(out / "a.md"), str(out / "a.xml")]
    assert json.loads((out / "a.json").read_text())["image"]["sizeBytes"] == 22
    assert not os.path.exists(tmp_path / "escape.txt") and not os.path.exists("/escape.txt")


def test_a_failed_run_writes_nothing(tmp_path):
    (tmp_path / "bad.tar").write_bytes(b"not an archive" * 100)
    out = tmp_path / "out"
    out.mkdir()
    proc = run_divepy(str(tmp_path / "bad.tar"), "--ci", "--json", str(out / "a.json"),
                      "--junit", str(out / "a.xml"), cwd=out)
    assert proc.returncode == 3
    assert list(out.iterdir()) == []


def test_directory_entries_keep_children(tmp_path):
    """A sanity anchor for the cases above: the same helpers read a plain image right."""
    proc, result = _analyse(tmp_path, [layer_tar([dir_entry("etc"), Entry("etc/a", data=b"a")])])
    assert set(_files(result, 0)) == {"etc", "etc/a"}


def test_names_cannot_inject_markdown_into_the_job_summary(tmp_path):
    """A backtick ends a code span whatever precedes it: a name must not close its span and
    turn into an image, a link or a broken table in GitHub's job summary."""
    from markdown_it import MarkdownIt

    names = ["x`![t](http://evil.example/t.png)`y", "``double`` | pipe", "`edge", "<script>alert(1)</script>"]
    blob = lambda content: files_named(names, content)
    path = write_tar(tmp_path / "md.tar", legacy([blob(b"aa"), blob(b"bb")]))
    proc = run_divepy(path, "--ci", "--markdown", str(tmp_path / "s.md"), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    html = MarkdownIt("commonmark").enable("table").render((tmp_path / "s.md").read_text())
    assert "<img" not in html and "<a " not in html and "<script>" not in html
    files = re.findall(r"<td><code>(.*?)</code></td>", html.split("<tbody>")[-1])
    assert sorted(files) == sorted([  # "//" is one "/" in a path
        "/x`![t](http:/evil.example/t.png)`y", "/``double`` | pipe",
        "/`edge", "/&lt;script&gt;alert(1)&lt;/script&gt;"])
