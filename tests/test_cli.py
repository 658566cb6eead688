"""The real divepy command: CI rules, reports, exit codes and one-line errors."""

from __future__ import annotations

import gzip
import io
import subprocess
import tarfile
from xml.etree import ElementTree as ET

import pytest

from dive_py.imagewriter import Entry, layer_tar, write_docker_archive
from tests.helpers import DIVE_TEST_IMAGE, dive_binary, run_divepy

ARCHIVE = f"docker-archive://{DIVE_TEST_IMAGE}"


def ci(*args: str, cwd=None):
    return run_divepy(ARCHIVE, *args, env={"CI": "true"}, cwd=cwd)


def test_ci_default_rules_fail_on_user_wasted_percent(tmp_path):
    proc = ci(cwd=tmp_path)
    assert proc.returncode == 1
    assert "FAIL: highestUserWastedPercent" in proc.stdout
    assert "SKIP: highestWastedBytes: rule disabled" in proc.stdout
    assert "PASS: lowestEfficiency" in proc.stdout
    assert "Result:FAIL [Total:3] [Passed:1] [Failed:1] [Warn:0] [Skipped:1]" in proc.stdout
    assert "\x1b[" not in proc.stdout  # no colour when not on a terminal


def test_ci_flags_override_and_pass(tmp_path):
    proc = run_divepy(ARCHIVE, "--ci", "--highestUserWastedPercent", "0.9", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout
    assert "Result:PASS" in proc.stdout


@pytest.mark.reference
def test_ci_report_reads_like_dive(tmp_path):
    (tmp_path / ".dive-ci").write_text("rules:\n  lowestEfficiency: 0.99\n  highestWastedBytes: 20KB\n"
                                       "  highestUserWastedPercent: disabled\n")
    mine = ci(cwd=tmp_path)
    assert _report_lines(mine.stdout) == _report_lines(_dive_ci(tmp_path).stdout)
    assert mine.returncode == 1


@pytest.mark.reference
@pytest.mark.parametrize("efficiency, user_wasted", [("1", "1e-05"), ("0.99999", "0.0001"),
                                                     ("0.9999999999", "0.0123"), ("1", "0")])
def test_failed_rules_print_numbers_as_dive_does(tmp_path, efficiency, user_wasted):
    """Both float rules fail, so their messages print the score, the user wasted share and the
    thresholds with Go's %v: small numbers in exponent form, others in full."""
    (tmp_path / ".dive-ci").write_text(f"rules:\n  lowestEfficiency: {efficiency}\n"
                                       f"  highestUserWastedPercent: {user_wasted}\n")
    mine = _report_lines(ci(cwd=tmp_path).stdout)
    assert sum(line.startswith("  FAIL") for line in mine) == 2
    assert mine == _report_lines(_dive_ci(tmp_path).stdout)


def _dive_ci(cwd) -> subprocess.CompletedProcess:
    return subprocess.run([dive_binary(), ARCHIVE], capture_output=True, text=True, cwd=cwd,
                          env={"CI": "true", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"})


def _report_lines(text: str) -> list[str]:
    """The lines of a CI report both tools print alike."""
    return [line for line in _plain(text).splitlines()
            if line.startswith(("  efficiency", "  wastedBytes", "  userWasted", "    ", "  PASS", "  FAIL",
                                "  SKIP", "Result:", "Count"))]


def _plain(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_dive_ci_kebab_case_and_disabled(tmp_path):
    (tmp_path / ".dive-ci").write_text("rules:\n  lowest-efficiency: disabled\n  highest-user-wasted-percent: off\n")
    proc = ci(cwd=tmp_path)
    assert proc.returncode == 0
    assert "Using CI config: .dive-ci" in proc.stdout
    assert proc.stdout.count("SKIP") == 3


@pytest.mark.parametrize("content, key", [
    ("rules:\n  lowestEfficiency: 1.5\n", "lowestEfficiency"),
    ("rules:\n  highestUserWastedPercent: abc\n", "highestUserWastedPercent"),
    ("rules:\n  highestWastedBytes: 12 parsecs\n", "highestWastedBytes"),
    ("rules:\n  lowestEfficency: 0.5\n", "lowestEfficency"),
    ("rules: [unclosed\n", "not valid YAML"),
])
def test_bad_ci_config_is_exit_2_one_line(tmp_path, content, key):
    (tmp_path / ".dive-ci").write_text(content)
    proc = ci(cwd=tmp_path)
    assert proc.returncode == 2
    assert key in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_junit_and_markdown_are_written_when_rules_fail(tmp_path):
    proc = ci("--junit", str(tmp_path / "r.xml"), "--markdown", str(tmp_path / "r.md"), cwd=tmp_path)
    assert proc.returncode == 1
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent"}
    assert cases["highestUserWastedPercent"].find("failure") is not None
    assert cases["highestWastedBytes"].find("skipped") is not None
    assert suite.get("failures") == "1"
    md = (tmp_path / "r.md").read_text()
    assert "FAIL" in md and "/root/saved.txt" in md


def test_json_to_stdout_without_ui(tmp_path):
    import json

    proc = run_divepy(ARCHIVE, "--json", "-", cwd=tmp_path)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["image"]["inefficientBytes"] == 32025


# ---- bad input: one line, exit 3, no traceback


def _assert_clean_failure(proc, *needles):
    assert proc.returncode == 3, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_missing_file(tmp_path):
    _assert_clean_failure(run_divepy(f"docker-archive://{tmp_path}/nope.tar", "--ci"), "nope.tar")


def test_explorer_without_a_terminal_is_a_usage_error():
    proc = run_divepy(ARCHIVE)
    assert proc.returncode == 2 and "terminal" in proc.stderr


def test_not_a_tar(tmp_path):
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"this is not a tar archive at all" * 100)
    _assert_clean_failure(run_divepy(str(bad), "--ci"), "bad.tar")


def test_empty_file(tmp_path):
    bad = tmp_path / "empty.tar"
    bad.write_bytes(b"")
    _assert_clean_failure(run_divepy(str(bad), "--ci"), "empty")


def _archive_with_layer_blob(path, blob: bytes):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("l1/layer.tar", blob), ("c.json", b'{"rootfs": {"diff_ids": []}, "history": []}'),
                           ("manifest.json", b'[{"Config": "c.json", "Layers": ["l1/layer.tar"]}]')):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return str(path)


def test_truncated_gzip_layer_is_an_error_not_100_percent(tmp_path):
    blob = gzip.compress(layer_tar([Entry("a.txt", data=b"x" * 50000)]))
    archive = _archive_with_layer_blob(tmp_path / "t.tar", blob[: len(blob) // 2])
    _assert_clean_failure(run_divepy(archive, "--ci"), "l1/layer.tar")


def test_garbage_zstd_layer_is_an_error(tmp_path):
    archive = _archive_with_layer_blob(tmp_path / "z.tar", b"\x28\xb5\x2f\xfd" + b"garbage" * 100)
    _assert_clean_failure(run_divepy(archive, "--ci"), "l1/layer.tar")


def test_manifest_not_json_and_wrong_shape(tmp_path):
    for i, manifest in enumerate((b"{not json", b'{"Config": 1}', b"[]")):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("manifest.json")
            info.size = len(manifest)
            tar.addfile(info, io.BytesIO(manifest))
        path = tmp_path / f"m{i}.tar"
        path.write_bytes(buf.getvalue())
        _assert_clean_failure(run_divepy(str(path), "--ci"), "manifest")


def test_truncated_archive(tmp_path):
    good = write_docker_archive(str(tmp_path / "g.tar"), [[Entry("f", data=b"y" * 100000)]])
    data = open(good, "rb").read()
    (tmp_path / "cut.tar").write_bytes(data[: len(data) // 3])
    _assert_clean_failure(run_divepy(str(tmp_path / "cut.tar"), "--ci"), "cut.tar")


def test_daemon_down_names_docker_host(tmp_path):
    proc = run_divepy("busybox:latest", "--ci", env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    _assert_clean_failure(proc, "DOCKER_HOST", str(tmp_path))


def test_unknown_source_is_usage_error():
    proc = run_divepy("nope://x", "--ci")
    assert proc.returncode == 2 and "unknown source" in proc.stderr


@pytest.mark.engine
def test_image_not_found_in_daemon(docker_client):
    _assert_clean_failure(run_divepy("divepy-test/does-not-exist:never", "--ci"), "not found")


def test_ci_path_never_imports_textual(tmp_path):
    """Only dive_py/ui imports Textual; CI mode stays lean and starts fast."""
    import sys

    code = ("import sys; from dive_py.cli import main; rc = main([%r, '--ci', '--json', %r]); "
            "print('textual' in sys.modules, 'rich' in sys.modules)") % (ARCHIVE, str(tmp_path / "o.json"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert proc.stdout.strip().splitlines()[-1] == "False False", proc.stdout + proc.stderr


def test_help_lists_every_sub_command_and_each_has_its_own_help():
    proc = run_divepy("--help")
    assert proc.returncode == 0
    listed = proc.stdout.split("sub-commands", 1)[1].splitlines()[1:]
    names = [line.split()[0] for line in listed if line.startswith("  ")]
    assert {"demo", "build", "config", "dockerfile", "cat", "extract", "blame", "find", "diff", "shared",
            "container"} <= set(names)
    for name in names:
        sub = run_divepy(name, "--help")
        assert sub.returncode == 0 and f"usage: divepy {name}" in sub.stdout, (name, sub.stderr)
