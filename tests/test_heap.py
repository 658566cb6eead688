"""The C heap helpers find glibc as the standard library does."""

from __future__ import annotations

import platform

from dive_py import heap


def test_glibc_is_found_as_platform_finds_it():
    assert heap._is_glibc() == (platform.libc_ver()[0] == "glibc")
    assert (heap._glibc() is not None) == heap._is_glibc()
