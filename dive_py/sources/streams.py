"""A raw stream that reads through to another one and shows every chunk to a hook: the base of
the readers that count (progress), hash (digests) or check (zstd frames) bytes in passing."""

from __future__ import annotations

import io
from typing import BinaryIO


class PassThrough(io.RawIOBase):
    def __init__(self, raw: BinaryIO):
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.seen(data)
        return n

    def seen(self, data: bytes) -> None:
        """Called with each chunk read (b"" at the end of the stream)."""
