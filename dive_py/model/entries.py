"""A layer's tar entries, stored as columns: one list of paths and a compact array per field.

A FileInfo object per entry costs about 110 bytes on top of its path; a layer of 300,000 small
files would hold 33 MB of them. Here the numbers live in arrays (8 bytes each, 4 for modes and
owners where they fit), the types in one string, and a FileInfo is made only when someone asks
for one (`entries[i]`, iteration).
The analysis reads the columns themselves (dive_py.analysis), so a CI run never makes one.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import overload

from dive_py.model.fileinfo import FileInfo

_FIELDS = ("paths", "types", "sizes", "modes", "uids", "gids", "links", "digests")


class Entries(Sequence[FileInfo]):
    """Tar entries in tar order. Immutable by convention, like the FileInfo it hands out."""

    __slots__ = _FIELDS

    def __init__(self, paths: list[str], types: str, sizes: array, modes: array, uids: array,
                 gids: array, links: list[str], digests: array):
        n = len(paths)
        if not (len(types) == len(sizes) == len(modes) == len(uids) == len(gids) == len(links)
                == len(digests) == n):
            raise ValueError("entry columns of different lengths")
        self.paths = paths
        self.types = types  # one character per entry (FileInfo.type)
        self.sizes = sizes  # array('q')
        self.modes = _narrow(modes)  # array('I') when every value fits, else array('q')
        self.uids = _narrow(uids)
        self.gids = _narrow(gids)
        self.links = links
        self.digests = digests  # array('Q')

    @classmethod
    def of(cls, infos: Iterable[FileInfo]) -> Entries:
        if isinstance(infos, Entries):
            return infos
        infos = list(infos)
        if not infos:
            return EMPTY
        return cls([e.path for e in infos], "".join(e.type for e in infos),
                   array("q", [e.size for e in infos]), array("q", [e.mode for e in infos]),
                   array("q", [e.uid for e in infos]), array("q", [e.gid for e in infos]),
                   [e.link for e in infos], array("Q", [e.digest for e in infos]))

    def columns(self) -> tuple:
        """Plain values (marshal-able); `from_columns` turns them back into Entries."""
        codes = self.modes.typecode + self.uids.typecode + self.gids.typecode
        return (self.paths, self.types, codes, self.sizes.tobytes(), self.modes.tobytes(),
                self.uids.tobytes(), self.gids.tobytes(), self.links, self.digests.tobytes())

    @classmethod
    def from_columns(cls, value: object) -> Entries:
        """What `columns` gave; ValueError if `value` is not that."""
        try:
            paths, types, codes, sizes, modes, uids, gids, links, digests = value  # type: ignore[misc]
            if not (isinstance(codes, str) and len(codes) == 3 and set(codes) <= {"q", "I"}):
                raise ValueError("not entry columns")
            arrays = [array(code) for code in "q" + codes + "Q"]
            for arr, raw in zip(arrays, (sizes, modes, uids, gids, digests)):
                arr.frombytes(raw)
            if not (isinstance(paths, list) and isinstance(types, str) and isinstance(links, list)
                    and _only_str(paths) and _only_str(links)):
                raise ValueError("not entry columns")
            return cls(paths, types, arrays[0], arrays[1], arrays[2], arrays[3], links, arrays[4])
        except (TypeError, IndexError) as exc:
            raise ValueError(f"not entry columns: {exc}") from None

    def joined(self, after: Entries) -> Entries:
        """These entries, then those of `after` (a layer read in two parts)."""
        def both(a: array, b: array) -> array:
            return a + b if a.typecode == b.typecode else array("q", a) + array("q", b)

        return Entries(self.paths + after.paths, self.types + after.types,
                       *(both(getattr(self, name), getattr(after, name)) for name in ("sizes", "modes", "uids", "gids")),
                       self.links + after.links, self.digests + after.digests)

    def __len__(self) -> int:
        return len(self.paths)

    @overload
    def __getitem__(self, index: int) -> FileInfo: ...
    @overload
    def __getitem__(self, index: slice) -> Entries: ...

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Entries(*(getattr(self, name)[index] for name in _FIELDS))
        return FileInfo(self.paths[index], self.types[index], self.sizes[index], self.modes[index],
                        self.uids[index], self.gids[index], self.links[index], self.digests[index])

    def __iter__(self) -> Iterator[FileInfo]:
        return map(FileInfo, self.paths, self.types, self.sizes, self.modes, self.uids, self.gids,
                   self.links, self.digests)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Entries):
            return all(getattr(self, name) == getattr(other, name) for name in _FIELDS)
        if isinstance(other, (tuple, list)):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __hash__(self) -> int:
        return hash((tuple(self.paths), self.types, self.digests.tobytes()))

    def __repr__(self) -> str:
        return f"Entries({len(self)} entries)"


def _only_str(items: list) -> bool:
    """Whether every item is exactly a str (the types gathered in C: a fifth of the time of a
    check item by item, on the columns of 120,000 entries a worker process hands over)."""
    return set(map(type, items)) <= {str}


def _narrow(numbers: array) -> array:
    """32 bits a number where they all fit (modes and owners nearly always do), else 64."""
    if numbers.typecode == "q":
        try:  # one pass, the range checked as each value is copied (a third of min, max, copy)
            return array("I", numbers)
        except OverflowError:
            pass
    return numbers


EMPTY = Entries([], "", array("q"), array("q"), array("q"), array("q"), [], array("Q"))

