"""Many plain tar headers decoded at once, with numpy, exactly as tarfile decodes them.

A layer of small files is mostly headers: checking each one's checksum and octal fields in
Python costs microseconds per entry. Here the headers found in one buffer are gathered into an
(n, 512) array and checked column-wise: the checksum as a sum over each row, the numbers as
octal digits followed by NULs or spaces, the names as fixed-width byte strings. A header is
taken only when tarfile would read it to the same values; one that is not (another spelling
of a number, a checksum that only the signed sum matches, a NUL inside a name) is left for
tarscan to read with tarfile's own code in its turn.
"""

from __future__ import annotations

from collections.abc import Sequence

from dive_py.numerics import numpy as np

from dive_py.sources.tarscan import EMPTY_HASH, file_digest

# The header types read here: each stands alone (no long name, PAX record or sparse map).
# FileInfo's type for each (Go and dive call '\0' and '7' regular files, like '0').
KINDS: list[str | None] = [None] * 256
for _code, _kind in {0: "0", 0x30: "0", 0x37: "0", 0x31: "1", 0x32: "2", 0x33: "3", 0x34: "4",
                     0x35: "5", 0x36: "6"}.items():
    KINDS[_code] = _kind

# names, types, sizes, modes, uids, gids, link names, digests; the numbers as lists, or from a
# batch as numpy int64 arrays (layer_tar copies those into its arrays at once)
Columns = tuple[list[str], list[str], Sequence[int], Sequence[int], Sequence[int], Sequence[int],
                list[str], list[int]]

# The number fields, side by side as `_numbers` lays them out: mode, uid, gid (8 bytes each),
# size, mtime (12), checksum, devmajor, devminor (8). Their start in that layout and width:
_MODE, _UID, _GID, _SIZE, _CHKSUM = (0, 8), (8, 8), (16, 8), (24, 12), (48, 8)
_WIDTHS = [8, 8, 8, 12, 12, 8, 8, 8]
_SAME_FIELD = np.ones(71, bool)  # whether bytes j and j + 1 of the layout are in one field
_SAME_FIELD[np.cumsum(_WIDTHS)[:-1] - 1] = False
_DIR = 0x35


def _numbers(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The number fields of each header, as digit values (0 where no digit) and where the
    digits are, and whether every field is spelled so that tarfile reads it as `_value` does:
    octal digits, then only NULs and spaces (no digits at all is 0). Any other spelling
    (leading spaces, signs, base-256) is tarfile's to read."""
    fields = np.concatenate((rows[:, 100:156], rows[:, 329:345]), axis=1)
    digits = fields - np.uint8(0x30)
    is_digit = digits < 8
    well_formed = (is_digit | ((fields | 0x20) == 0x20)).all(axis=1)
    well_formed &= ~(~is_digit[:, :-1] & is_digit[:, 1:] & _SAME_FIELD).any(axis=1)
    return digits * is_digit, is_digit, well_formed


_PLACES = {width: np.int64(8) ** np.arange(width - 1, -1, -1, dtype=np.int64) for width in (8, 12)}


def _value(digits: np.ndarray, is_digit: np.ndarray, field: tuple[int, int]) -> np.ndarray:
    """A well-formed number field's value: its digits read in full width, then shifted right
    by the octal places of the NULs and spaces after them."""
    start, width = field
    full = digits[:, start:start + width] @ _PLACES[width]
    return full >> (3 * (width - is_digit[:, start:start + width].sum(axis=1)))


def _checksums(rows: np.ndarray) -> np.ndarray:
    """Each header's unsigned checksum: the sum of its bytes, the checksum field counted as
    eight spaces."""
    return (rows.sum(axis=1, dtype=np.uint32).astype(np.int64)
            - rows[:, 148:156].sum(axis=1, dtype=np.int64) + 8 * 0x20)


def _strings(rows: np.ndarray, start: int, stop: int) -> list[bytes]:
    """One text field of every row, trailing NULs dropped."""
    return np.ascontiguousarray(rows[:, start:stop]).view(f"S{stop - start}").ravel().tolist()


def _inner_nuls(fields: list[bytes]) -> list[int]:
    """Which fields hold a NUL before their end (tarfile would cut the text there)."""
    if b"\0".join(fields).count(0) == len(fields) - 1:
        return []
    return [i for i, field in enumerate(fields) if 0 in field]


def _texts(fields: list[bytes], encoding: str) -> list[str]:
    """Decode many fields in one call: each field reads as if decoded alone (no field holds a
    NUL, and UTF-8 decoding starts afresh at the NUL between two fields)."""
    return b"\0".join(fields).decode(encoding, "surrogateescape").split("\0")


_MAGIC = np.frombuffer(b"ustar", np.uint8)
_SIZE_PLACES = np.int64(8) ** np.arange(10, -1, -1, dtype=np.int64)


def walk(buf: bytes, at: int) -> tuple[list[int], int]:
    """The first steps of tarscan's walk from `at` (a header's offset in `buf`), taken at once:
    the offsets it would find, and the header it would be at after them (it goes on from there).

    Candidates are the blocks with the ustar magic. A step is taken from a candidate only where
    the walk's own rule (the type, and for a file its size as 11 octal digits) leads exactly to
    the next candidate: file data that looks like a header, a header without the magic, a size
    spelled otherwise, the end of the buffer, all stop the steps short of them, and the walk
    meets them one at a time as before."""
    blocks = np.frombuffer(buf, np.uint8, count=(len(buf) - at) // 512 * 512, offset=at).reshape(-1, 512)
    magic = blocks[:, 257] == _MAGIC[0]
    for k in range(1, 5):
        magic &= blocks[:, 257 + k] == _MAGIC[k]
    found = np.flatnonzero(magic)
    if len(found) < 2 or found[0] != 0:
        return [], at
    types = blocks[found, 156]
    digits = blocks[found, 124:135] - np.uint8(0x30)
    regular = (types == 0) | (types == 0x30) | (types == 0x37)
    plain = (regular & (digits < 8).all(axis=1)) | ((types >= 0x31) & (types <= 0x36))
    sizes = digits.astype(np.int64) @ _SIZE_PLACES
    after = found + 1 + np.where(regular, (sizes + 511) // 512, 0)
    steps = plain[:-1] & (after[:-1] == found[1:])
    stopped = np.flatnonzero(~steps)
    taken = int(stopped[0]) if len(stopped) else len(steps)
    offsets = (found[:taken] * 512 + at).tolist()
    return offsets, int(found[taken]) * 512 + at


def decode(buf: bytes, offsets: list[int], walked_to: int, encoding: str) -> tuple[list[int], Columns]:
    """Check and decode the headers at `offsets` in `buf`, found by a walk that took each next
    offset from the previous header's type and size and stopped at `walked_to`.

    Returns (bad, columns). `bad` lists (in order) the headers tarfile must read itself: one
    that it would read differently, or whose size does not lead where the walk went next.
    The columns hold, for every other header, its name (as tarfile gives it), FileInfo type,
    size, mode, uid, gid, link name and digest (file_digest of a regular file's data, 0 for a
    directory, the empty hash otherwise); a bad header's values there mean nothing.
    """
    first = offsets[0] % 512  # every header of a batch sits at the same offset modulo 512
    blocks = np.frombuffer(buf, np.uint8, count=(len(buf) - first) // 512 * 512, offset=first)
    at = np.array(offsets, dtype=np.int64)
    rows = blocks.reshape(-1, 512)[(at - first) // 512]
    digits, is_digit, ok = _numbers(rows)
    types = rows[:, 156]
    sizes = _value(digits, is_digit, _SIZE)
    names = _strings(rows, 0, 100)
    # tarfile's old-style directory: type '\0' and a name ending in '/'; its data is not skipped
    dirs = types == _DIR
    regular = (types == 0x30) | (types == 0x37) | (types == 0)
    for i in np.flatnonzero(types == 0).tolist():
        if names[i].endswith(b"/"):
            dirs[i], regular[i] = True, False
    ends = at + 512 + np.where(regular, (sizes + 511) // 512 * 512, 0)
    ok &= _checksums(rows) == _value(digits, is_digit, _CHKSUM)
    ok &= ends == np.append(at[1:], walked_to)  # each size leads where the walk went
    prefixed = np.flatnonzero(rows[:, 345] != 0)
    prefixes = _strings(rows[prefixed], 345, 500)
    linked = np.flatnonzero(rows[:, 157] != 0)
    links = _strings(rows[linked], 157, 257)
    ok[_inner_nuls(names)] = False
    ok[prefixed[_inner_nuls(prefixes)]] = False
    ok[linked[_inner_nuls(links)]] = False
    bad = np.flatnonzero(~ok).tolist()
    for i in bad:  # keep a bad header's text out of the batch decoding
        names[i] = b""
    for fields, where in ((prefixes, prefixed), (links, linked)):
        for k in np.flatnonzero(~ok[where]).tolist():
            fields[k] = b""
    kinds = list(map(KINDS.__getitem__, types.tolist()))
    for i in np.flatnonzero(dirs & (types == 0)).tolist():
        kinds[i] = "5"
    link_texts = [""] * len(offsets)
    for i, text in zip(linked.tolist(), _texts(links, encoding) if links else ()):
        link_texts[i] = text
    return bad, (_names(names, dirs, prefixed, prefixes, encoding), kinds, sizes,
                 *(_value(digits, is_digit, field) for field in (_MODE, _UID, _GID)), link_texts,
                 _digests(buf, at, sizes, regular & ok, dirs))


def _names(names: list[bytes], dirs: np.ndarray, prefixed: np.ndarray, prefixes: list[bytes],
           encoding: str) -> list[str]:
    """Member names as tarfile builds them: a directory's trailing slashes dropped, the ustar
    prefix joined in front."""
    texts = _texts(names, encoding)
    for i in np.flatnonzero(dirs).tolist():
        texts[i] = texts[i].rstrip("/")
    is_dir = dirs.tolist()
    for i, prefix in zip(prefixed.tolist(), _texts(prefixes, encoding) if prefixes else ()):
        name = prefix + "/" + texts[i]
        texts[i] = name.rstrip("/") if is_dir[i] else name
    return texts


def _digests(buf: bytes, at: np.ndarray, sizes: np.ndarray, regular: np.ndarray,
             dirs: np.ndarray) -> list[int]:
    files = np.flatnonzero(regular)
    starts = at[files] + 512
    hashes = [file_digest(buf[start:end]) for start, end in zip(starts.tolist(), (starts + sizes[files]).tolist())]
    if len(files) == len(at):
        return hashes
    out = [EMPTY_HASH] * len(at)
    for i in np.flatnonzero(dirs).tolist():
        out[i] = 0
    for i, digest in zip(files.tolist(), hashes):
        out[i] = digest
    return out
