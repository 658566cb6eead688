"""One entry of a layer tar, reduced to what analysis and display need."""

from __future__ import annotations

import re
from dataclasses import dataclass

# tar type flags (as characters, the way they sit in the header)
REG = "0"
HARDLINK = "1"
SYMLINK = "2"
CHAR = "3"
BLOCK = "4"
DIR = "5"
FIFO = "6"

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
META_PREFIX = ".wh..wh."  # overlay/aufs metadata (.wh..wh..opq, .wh..wh.plnk, ...)

_KIND_NAMES = {REG: "file", HARDLINK: "hardlink", SYMLINK: "symlink", CHAR: "char",
               BLOCK: "block", DIR: "dir", FIFO: "fifo"}

# Go's os.FileMode bits, which dive writes into its JSON as `fileMode`
_GO_DIR = 1 << 31
_GO_SYMLINK = 1 << 27
_GO_DEVICE = 1 << 26
_GO_PIPE = 1 << 25
_GO_SOCKET = 1 << 24
_GO_SETUID = 1 << 23
_GO_SETGID = 1 << 22
_GO_CHARDEV = 1 << 21
_GO_STICKY = 1 << 20


@dataclass(slots=True, unsafe_hash=True)  # not frozen: a frozen __init__ costs 2-5x, and
class FileInfo:                             # images hold hundreds of thousands. Never mutate.
    """A tar entry: normalised path, type flag, sizes and ownership, and a content hash.

    `digest` is the XXH3-64 of the content for non-directories (0 for directories), what tells
    Modified from Unmodified (dive compares xxhash64 digests to the same end).
    """

    path: str
    type: str
    size: int
    mode: int
    uid: int
    gid: int
    link: str = ""
    digest: int = 0

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def is_dir(self) -> bool:
        return self.type == DIR

    @property
    def kind(self) -> str:
        return _KIND_NAMES.get(self.type, "other")

    @property
    def perm(self) -> int:
        return self.mode & 0o7777

    def same_content(self, other: FileInfo) -> bool:
        """dive's comparison (type, hash, mode, uid, gid), plus the link target dive ignores.

        Modes compare as Go's FileMode, as dive does: tar writers differ in whether the header's
        mode carries the type bits (0o40755 or 0o755 for the same directory)."""
        return (self.type == other.type and self.digest == other.digest
                and (self.mode == other.mode or self.go_file_mode() == other.go_file_mode())
                and self.uid == other.uid and self.gid == other.gid and self.link == other.link)

    def go_file_mode(self) -> int:
        """The value Go's tar.Header.FileInfo().Mode() gives, as dive writes it in JSON."""
        raw = self.mode
        mode = raw & 0o777
        if raw & 0o4000:
            mode |= _GO_SETUID
        if raw & 0o2000:
            mode |= _GO_SETGID
        if raw & 0o1000:
            mode |= _GO_STICKY
        fmt = raw & ~0o7777
        mode |= {0o040000: _GO_DIR, 0o010000: _GO_PIPE, 0o120000: _GO_SYMLINK,
                 0o060000: _GO_DEVICE, 0o020000: _GO_DEVICE | _GO_CHARDEV,
                 0o140000: _GO_SOCKET}.get(fmt, 0)
        mode |= {SYMLINK: _GO_SYMLINK, CHAR: _GO_DEVICE | _GO_CHARDEV, BLOCK: _GO_DEVICE,
                 DIR: _GO_DIR, FIFO: _GO_PIPE}.get(self.type, 0)
        return mode

    def perm_string(self) -> str:
        """ls-style permission string, e.g. drwxr-xr-x."""
        first = {DIR: "d", SYMLINK: "l", CHAR: "c", BLOCK: "b", FIFO: "p"}.get(self.type, "-")
        bits = self.mode
        chars = []
        for shift, special, set_ch in ((6, 0o4000, "s"), (3, 0o2000, "s"), (0, 0o1000, "t")):
            r = "r" if bits & (4 << shift) else "-"
            w = "w" if bits & (2 << shift) else "-"
            x_on = bits & (1 << shift)
            if bits & special:
                x = set_ch if x_on else set_ch.upper()
            else:
                x = "x" if x_on else "-"
            chars.append(r + w + x)
        return first + "".join(chars)


# An empty, '.' or '..' component (between slashes, or at either end of a name): a name
# without one is clean already.
_UNCLEAN = re.compile(r"(?:^|/)\.{0,2}(?:/|\Z)")


def normalise_path(raw: str) -> str:
    """Clean a tar member name the way Go's path.Clean does, relative to the image root.

    Leading './' and '/' go, '.' components go, '..' is resolved and can never climb above
    the root (a hostile '../../etc/passwd' becomes 'etc/passwd'). The root itself is ''.
    """
    if not _UNCLEAN.search(raw):
        return raw
    parts: list[str] = []
    for part in raw.split("/"):
        if part == "" or part == ".":
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


def normalise_paths(raws: list[str]) -> list[str]:
    """normalise_path of each name; the list itself when every name is clean already (most
    are). Names joined by '/' keep their components apart, so one search covers them all."""
    joined = "/" + "/".join(raws) + "/"
    if "//" in joined or ("/." in joined and ("/./" in joined or "/../" in joined)):
        return [normalise_path(raw) for raw in raws]
    return raws
