"""Random layer stacks, written as legacy archives: divepy's numbers equal dive 0.13.1's on each.

Cases where dive is wrong are left out by construction (see the README's list):
- no opaque directory markers (dive drops them);
- a whiteout only names a path that exists in the layers below, never in layer 0
  (dive aborts the rest of a layer on a whiteout of a missing path);
- a path never changes between file and directory (dive keeps a replaced dir's children);
- every parent directory has its own entry, as engines write them;
- a layer never deletes a path and writes it (or anything below it) again: engines do not
  write that, and dive then applies the two in name order instead of whiteouts first.
"""

import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dive_py.analysis.analyze import analyze
from dive_py.imagewriter import Entry, dir_entry, write_docker_archive
from dive_py.sources.resolve import Source
from tests.helpers import run_dive_json

pytestmark = pytest.mark.reference

DIRS = ["a", "a/b", "a/b/c", "d", "d/e"]
FILES = [f"{d}/f{i}" for d in DIRS for i in range(3)] + ["top1", "top2", "a/.hidden"]
CONTENTS = [b"", b"x", b"hello", b"0123456789" * 10, b"y" * 100]  # equal sizes make ties

op = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(FILES), st.sampled_from(CONTENTS),
              st.sampled_from([0o644, 0o755, 0o600])),
    st.tuples(st.just("chmod"), st.sampled_from(FILES), st.sampled_from([0o400, 0o777])),
    st.tuples(st.just("delete"), st.sampled_from(FILES + DIRS)),
    st.tuples(st.just("mkdir"), st.sampled_from(DIRS), st.sampled_from([0o755, 0o700])),
    st.tuples(st.just("link"), st.sampled_from(FILES), st.sampled_from(FILES)),
)
stacks = st.lists(st.lists(op, min_size=1, max_size=12), min_size=1, max_size=7)
# many overwrites: more than 12 inefficient paths, so ties are ordered by Go's pdqsort
wide_stacks = st.lists(st.lists(op, min_size=15, max_size=40), min_size=3, max_size=8)


def build(stack_ops):
    """Turn operations into layers, tracking what exists so whiteouts are always valid."""
    present: dict[str, bytes | None] = {}  # path -> content (None for dirs)
    layers = []
    for index, ops in enumerate(stack_ops):
        entries: dict[str, Entry] = {}
        deleted: set[str] = set()

        def blocked(path):
            return any(path == d or path.startswith(d + "/") or d.startswith(path + "/") for d in deleted)

        def ensure_parents(path):
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                parent = "/".join(parts[:i])
                if parent not in entries:
                    entries[parent] = dir_entry(parent)
                present[parent] = None

        for item in ops:
            kind, path = item[0], item[1]
            if kind != "delete" and blocked(path):
                continue
            if kind == "add":
                ensure_parents(path)
                entries[path] = Entry(path, data=item[2], mode=item[3])
                present[path] = item[2]
            elif kind == "chmod" and path in present:
                ensure_parents(path)
                entries[path] = Entry(path, data=present[path], mode=item[2])
            elif kind == "link" and path not in present and item[2] in present and item[2] != path:
                ensure_parents(path)
                entries[path] = Entry(path, "2", link="/" + item[2], mode=0o777)
                present[path] = b""
            elif kind == "mkdir":
                ensure_parents(path)
                entries[path] = dir_entry(path, mode=item[2])
                present[path] = None
            elif kind == "delete" and index > 0 and path in present and path not in entries \
                    and not any(p.startswith(path + "/") for p in entries):
                parent, _, name = path.rpartition("/")
                if parent:
                    ensure_parents(path)
                wh = f"{parent}/.wh.{name}" if parent else f".wh.{name}"
                entries[wh] = Entry(wh)
                deleted.add(path)
                for p in [p for p in present if p == path or p.startswith(path + "/")]:
                    del present[p]
        layers.append(list(entries.values()))
    return layers


EXAMPLES = int(os.environ.get("DIVEPY_DIFF_EXAMPLES", "60"))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks)
def test_random_stacks_match_dive(stack_ops):
    assert_matches_dive(build(stack_ops))


@settings(max_examples=max(10, EXAMPLES // 2), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(wide_stacks)
def test_wide_random_stacks_match_dive(stack_ops):
    assert_matches_dive(build(stack_ops))


def assert_matches_dive(layers):
    with tempfile.TemporaryDirectory() as tmp:
        archive = write_docker_archive(os.path.join(tmp, "img.tar"), layers)
        dive = run_dive_json(archive, tmp)
        analysis = analyze(Source("docker-archive", archive).load())
    assert analysis.score == pytest.approx(dive["image"]["efficiencyScore"], abs=1e-9)
    assert analysis.wasted_bytes == dive["image"]["inefficientBytes"]
    assert analysis.size == dive["image"]["sizeBytes"]
    ours = [{"count": i.count, "sizeBytes": i.cumulative_size, "file": i.path} for i in analysis.inefficiencies]
    assert ours == dive["image"]["fileReference"]
