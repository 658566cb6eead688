"""One small error hierarchy. Library code raises these; only cli.py turns them into exit codes.

Every message is one line that names what failed and where (image, layer, path).
"""

import re


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


# control characters (C0, DEL, C1) and surrogate-escaped non-UTF-8 bytes
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\udc80-\udcff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00 if code >= 0xDC80 else code:02x}"


def printable(text: str) -> str:
    """Escape control characters so names from images never drive the terminal."""
    return _UNPRINTABLE.sub(_escape, text)
