"""Write a file or a subtree of an image, as of one layer, into a directory, and never outside it.

Every path is opened component by component from a descriptor of the target directory with
O_NOFOLLOW, so neither a name from the image nor a link already in the directory can lead a
write elsewhere: a symlink met on the way is refused, not followed. Names are checked too
('', '.', '..', '/' and NUL never reach the file system). Symlinks from the image are written
as symlinks (their targets are not followed); hard links are written as copies of their
target's bytes; devices, FIFOs and sockets are skipped and reported. Modes are kept (applied
after the contents, directories last and deepest first); owners are not.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field

from dive_py.errors import DivePyError, UsageError
from dive_py.model.fileinfo import HARDLINK, REG, SYMLINK
from dive_py.model.filetree import Node
from dive_py.model.lookup import content_origin, find_node
from dive_py.sources.content import CHUNK, scan_layers

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)

Parts = tuple[str, ...]


@dataclass
class Report:
    files: int = 0
    dirs: int = 0
    links: int = 0
    bytes: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (image path, why)


def _safe_name(name: str) -> bool:
    return name not in ("", ".", "..") and "/" not in name and "\0" not in name


class _Target:
    """The destination directory, held open; every access is relative to it."""

    def __init__(self, dest: str):
        if os.path.lexists(dest) and not os.path.isdir(dest):
            raise UsageError(f"{dest}: not a directory (the target must be one, or not exist yet)")
        try:
            os.makedirs(dest, exist_ok=True)
            self.fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise UsageError(f"{dest}: cannot use as the target directory ({exc.strerror})") from None

    def close(self) -> None:
        os.close(self.fd)

    def open_dir(self, parts: Parts) -> int:
        """A descriptor of DIR/parts, refusing any symlink on the way (OSError)."""
        fd = os.dup(self.fd)
        try:
            for name in parts:
                if not _safe_name(name):
                    raise OSError(0, f"unsafe name {name!r}")
                nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        return fd

    def in_parent(self, parts: Parts, action) -> None:
        """Run action(dir_fd, name) in the directory holding DIR/parts."""
        if not parts or not _safe_name(parts[-1]):
            raise OSError(0, "unsafe name")
        fd = self.open_dir(parts[:-1])
        try:
            action(fd, parts[-1])
        finally:
            os.close(fd)


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return "a symlink or file is in the way in the target directory (not followed)"
    return exc.strerror or str(exc)


def extract(source, image, trees, layer: int, path: str, dest: str) -> Report:
    """Write PATH (a file or a subtree, as of `layer`) into `dest` as dest/<name of PATH>;
    the image root writes its contents straight into `dest`."""
    real, node = find_node(trees, layer, path, follow_last=False)
    top: Parts = (real.rsplit("/", 1)[-1],) if real else ()
    report = Report()
    target = _Target(dest)
    try:
        files: dict[int, dict[str, list[tuple[Parts, int, str]]]] = {}
        dir_modes: list[tuple[Parts, int]] = []
        _place(target, trees, node, real, top, report, files, dir_modes)
        _write_contents(target, source, image, files, report)
        for parts, mode in sorted(dir_modes, key=lambda item: -len(item[0])):
            try:
                fd = target.open_dir(parts)
                try:
                    os.fchmod(fd, mode)
                finally:
                    os.close(fd)
            except OSError as exc:
                report.skipped.append(("/" + "/".join(parts), f"mode not set: {_reason(exc)}"))
    finally:
        target.close()
    return report


def _place(target: _Target, trees, node: Node, path: str, parts: Parts, report: Report,
           files: dict, dir_modes: list) -> None:
    """Make directories and symlinks now; note regular files for the content pass. Parents
    first, children by name, with an explicit stack (trees thousands of levels deep are fine)."""
    stack = [(node, path, parts)]
    while stack:
        node, path, parts = stack.pop()
        if node.is_dir:
            stack.extend(reversed(_place_dir(target, node, path, parts, report, dir_modes)))
        else:
            _place_leaf(target, trees, node, path, parts, report, files)


def _place_dir(target: _Target, node: Node, path: str, parts: Parts, report: Report,
               dir_modes: list) -> list[tuple[Node, str, Parts]]:
    """Make the directory; its children to place next (none if it could not be made)."""
    shown = "/" + path
    info = node.info
    if parts:
        try:
            target.in_parent(parts, _mkdir)
        except OSError as exc:
            report.skipped.append((shown, _reason(exc) + "; its contents were skipped"))
            return []
        report.dirs += 1
        dir_modes.append((parts, (info.perm if info is not None else 0o755)))
    children = []
    for name in sorted(node.children or {}):
        if not _safe_name(name):
            report.skipped.append((f"{shown.rstrip('/')}/{name}", "unsafe name"))
            continue
        children.append((node.children[name], f"{path}/{name}" if path else name, parts + (name,)))  # type: ignore[index]
    return children


def _place_leaf(target: _Target, trees, node: Node, path: str, parts: Parts, report: Report,
                files: dict) -> None:
    shown = "/" + path
    info = node.info
    assert info is not None
    if info.type == SYMLINK:
        try:
            target.in_parent(parts, lambda fd, name: os.symlink(info.link, name, dir_fd=fd))
            report.links += 1
        except OSError as exc:
            report.skipped.append((shown, _reason(exc)))
        return
    if info.type not in (REG, HARDLINK):
        report.skipped.append((shown, f"a {info.kind}, not written"))
        return
    try:
        origin_layer, origin_path = content_origin(trees, path, node)
    except DivePyError as exc:
        report.skipped.append((shown, str(exc)))
        return
    files.setdefault(origin_layer, {}).setdefault(origin_path, []).append((parts, info.perm, shown))


def _mkdir(fd: int, name: str) -> None:
    try:
        os.mkdir(name, 0o700, dir_fd=fd)
    except FileExistsError:
        pass
    os.close(os.open(name, _DIR_FLAGS, dir_fd=fd))  # must be a real directory, not a link


def _write_contents(target: _Target, source, image, files: dict, report: Report) -> None:
    written: set[Parts] = set()

    def visit(index: int, path: str, _member, fileobj) -> None:
        if fileobj is None:
            return
        source_parts = None
        for parts, mode, shown in files[index][path]:
            try:
                if source_parts is None:
                    report.bytes += _write_file(target, parts, mode, fileobj)
                    source_parts = parts
                else:  # another hard link to the same bytes: copy what was just written
                    report.bytes += _copy_written(target, source_parts, parts, mode)
                if parts not in written:
                    written.add(parts)
                    report.files += 1
            except OSError as exc:
                report.skipped.append((shown, _reason(exc)))

    scan_layers(source, image, {i: set(paths) for i, paths in files.items()}, visit)
    for index, paths in files.items():
        for path, outs in paths.items():
            for parts, _mode, shown in outs:
                if parts not in written and not any(s == shown for s, _ in report.skipped):
                    report.skipped.append((shown, f"/{path} is missing from layer {index}"))


def _write_file(target: _Target, parts: Parts, mode: int, fileobj) -> int:
    total = 0

    def write(fd: int, name: str) -> None:
        nonlocal total
        out = os.open(name, _FILE_FLAGS, 0o600, dir_fd=fd)
        try:
            while chunk := fileobj.read(CHUNK):
                _write_all(out, chunk)
                total += len(chunk)
            os.fchmod(out, mode)
        finally:
            os.close(out)

    target.in_parent(parts, write)
    return total


def _copy_written(target: _Target, src: Parts, parts: Parts, mode: int) -> int:
    """Another name for bytes already written: a hard link inside DIR, else a copy."""
    result = 0

    def copy(src_fd: int, src_name: str) -> None:
        nonlocal result

        def link(fd: int, name: str) -> None:
            try:
                os.unlink(name, dir_fd=fd)
            except FileNotFoundError:
                pass
            os.link(src_name, name, src_dir_fd=src_fd, dst_dir_fd=fd, follow_symlinks=False)

        try:
            target.in_parent(parts, link)
            return
        except OSError:
            pass
        inp = os.open(src_name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=src_fd)
        with os.fdopen(inp, "rb") as fh:
            result = _write_file(target, parts, mode, fh)

    target.in_parent(src, copy)
    return result


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
