"""FileInfo built by position and by name, and the batch name cleaning give what the plain forms give."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from dive_py.model.fileinfo import FileInfo, normalise_path, normalise_paths


def test_every_field_is_set_by_position_and_by_name():
    fields = [f.name for f in dataclasses.fields(FileInfo)]
    values = ["a/b", "2", 7, 0o120777, 1000, 1001, "target", 2**64 - 1]
    by_position = FileInfo(*values)
    by_name = FileInfo(**dict(zip(fields, values)))
    assert by_position == by_name and hash(by_position) == hash(by_name)
    assert [getattr(by_position, name) for name in fields] == values
    assert FileInfo("d", "5", 0, 0o755, 0, 0) == FileInfo("d", "5", 0, 0o755, 0, 0, "", 0)
    assert dataclasses.replace(by_position, path="c").path == "c"
    assert len({by_position, by_name, dataclasses.replace(by_position, path="c")}) == 2


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.text(alphabet="/.a\u00e9", max_size=8), max_size=6))
def test_normalise_paths_is_normalise_path_of_each(names):
    assert normalise_paths(names) == [normalise_path(name) for name in names]


def test_clean_names_are_kept_as_they_are():
    names = ["etc/passwd", ".wh.x", "a/.b", "a/..b", "a/..."]
    assert normalise_paths(names) is names
    assert normalise_paths(["./etc"]) == ["etc"] and normalise_paths([""]) == [""]
