"""Entries: a layer's entries as columns, handing out FileInfo on demand."""

import marshal

import pytest

from dive_py.model.entries import Entries
from dive_py.model.fileinfo import DIR, REG, SYMLINK, FileInfo
from dive_py.model.image import Layer

INFOS = (
    FileInfo("etc", DIR, 0, 0o40755, 0, 0, "", 0),
    FileInfo("etc/caf\udcc3", REG, 12, 0o104755, 2**32, 7, "", 2**64 - 1),  # escaped non-UTF-8 name
    FileInfo("etc/link", SYMLINK, 0, 0o777, 0, 0, "t\u00e4rget", 5),
)


def test_entries_hand_out_the_fileinfo_they_were_made_of():
    entries = Entries.of(INFOS)
    assert len(entries) == 3
    assert list(entries) == list(INFOS)
    assert entries[1] == INFOS[1] and entries[-1] == INFOS[-1]
    assert entries == INFOS and entries == list(INFOS) and entries != INFOS[:2]
    assert entries[1:] == INFOS[1:] and isinstance(entries[1:], Entries)
    assert Entries.of(entries) is entries


def test_columns_round_trip_through_marshal():
    entries = Entries.of(INFOS)
    again = Entries.from_columns(marshal.loads(marshal.dumps(entries.columns())))
    assert again == entries and list(again) == list(INFOS)
    assert hash(again) == hash(entries)


@pytest.mark.parametrize("value", [
    None, (), ("x",),
    (["a"], "00", "III", b"\0" * 8, b"\0" * 4, b"\0" * 4, b"\0" * 4, [""], b"\0" * 8),  # types longer than paths
    (["a"], "0", "III", b"\0" * 7, b"\0" * 4, b"\0" * 4, b"\0" * 4, [""], b"\0" * 8),  # a torn array
    (["a"], "0", "qqq", b"\0" * 8, b"\0" * 4, b"\0" * 8, b"\0" * 8, [""], b"\0" * 8),  # the wrong width
    (["a"], "0", "IIx", b"\0" * 8, b"\0" * 4, b"\0" * 4, b"\0" * 4, [""], b"\0" * 8),  # an unknown width
    ([1], "0", "III", b"\0" * 8, b"\0" * 4, b"\0" * 4, b"\0" * 4, [""], b"\0" * 8),  # a path not a str
    ([type("Path", (str,), {})("a")], "0", "III", b"\0" * 8, b"\0" * 4, b"\0" * 4, b"\0" * 4, [""],
     b"\0" * 8),  # a str subclass
    (["a"], "0", "III", b"\0" * 8, b"\0" * 4, b"\0" * 4, b"\0" * 4, [b""], b"\0" * 8),  # a link not a str
])
def test_columns_that_do_not_fit_are_refused(value):
    with pytest.raises(ValueError):
        Entries.from_columns(value)


def test_a_layer_stores_any_sequence_of_fileinfo_as_entries():
    layer = Layer(index=0, digest="", blob_id="x", history=None, entries=INFOS, size=12)
    assert isinstance(layer.entries, Entries) and layer.entries == INFOS
    assert layer.entries.sizes.itemsize == 8  # numbers in arrays, no int object per entry
    assert layer.entries.modes.itemsize == 4  # modes fit in 32 bits
    assert layer.entries.uids.itemsize == 8  # a uid of 2**32 does not


def test_joined_entries_are_both_in_order_whatever_their_widths():
    head = Entries.of([INFOS[0], INFOS[2]])
    tail = Entries.of([INFOS[1], INFOS[0]])  # a uid beyond 32 bits
    assert (head.uids.typecode, tail.uids.typecode) == ("I", "q")  # one narrowed, one not
    both = head.joined(tail)
    assert list(both) == [INFOS[0], INFOS[2], INFOS[1], INFOS[0]]
    assert both.uids.typecode == "q" and both.modes.typecode == "I"


@pytest.mark.parametrize("gid", [-1, 2**32, 2**32 - 1, 0])
def test_numbers_are_kept_in_32_bits_only_where_every_one_fits(gid):
    infos = [FileInfo("a", "0", 1, 0o644, 0, 0, "", 1), FileInfo("b", "0", 1, 0o644, 0, gid, "", 2)]
    entries = Entries.of(infos)
    assert entries.gids.itemsize == (4 if 0 <= gid < 2**32 else 8)
    assert list(entries) == infos
