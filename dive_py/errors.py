"""One small error hierarchy. Library code raises these; only cli.py turns them into exit codes.

Every message is one line that names what failed and where (image, layer, path).
"""


class DivePyError(Exception):
    """Base of every error divepy reports to a user."""

    exit_code = 3


class SourceError(DivePyError):
    """The image could not be reached: daemon down, image missing, file absent."""


class ArchiveError(DivePyError):
    """An archive, manifest, config or layer is broken or does not match what it claims."""


class BuildError(DivePyError):
    """`divepy build`: the engine could not build the image (its log says why)."""


class ConfigError(DivePyError):
    """A configuration file, CI rule or command-line value is invalid."""

    exit_code = 2


class UsageError(DivePyError):
    """The command line itself is wrong."""

    exit_code = 2


def printable(text: str) -> str:
    """Escape control characters so names from images never drive the terminal."""
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif 0xDC80 <= code <= 0xDCFF:  # surrogate-escaped non-UTF-8 byte
            out.append(f"\\x{code - 0xDC00:02x}")
        else:
            out.append(ch)
    return "".join(out)
