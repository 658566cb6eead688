"""Number formats of Go's fmt and go-humanize, so CI reports read exactly like dive's."""

from __future__ import annotations

import functools
import math
import re


def go_value(value: float | int) -> str:
    """Go's %v: integers as they are, floats as %g with the shortest digits."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    shortest = repr(value)  # Python and Go agree on the shortest round-tripping digits
    exp = decimal_exponent(shortest)
    sign = "-" if value < 0 else ""
    digits = re.sub(r"[^0-9]", "", shortest.split("e")[0].lstrip("-")).lstrip("0") or "0"
    digits = digits.rstrip("0") or "0"
    if exp < -4 or exp >= 21:
        rest = digits[1:]
        return f"{sign}{digits[0]}{'.' + rest if rest else ''}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if exp >= 0:
        whole = digits[: exp + 1].ljust(exp + 1, "0")
        frac = digits[exp + 1:]
        return f"{sign}{whole}{'.' + frac if frac else ''}"
    return f"{sign}0.{'0' * (-exp - 1)}{digits}"


def decimal_exponent(text: str) -> int:
    """The power of ten of a nonzero float's leading digit, from its repr ('0.0123' -> -2,
    '8.4e-05' -> -5): Decimal(text).adjusted(), without importing decimal for it."""
    mantissa, _, power = text.lstrip("-").partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    return len(whole) - 1 - (len(digits) - len(digits.lstrip("0"))) + int(power or 0)


@functools.lru_cache(maxsize=1 << 16)  # reports repeat sizes a lot
def go_bytes(size: int) -> str:
    """go-humanize's Bytes(): SI units, one decimal below 10."""
    if size < 10:
        return f"{size} B"
    sizes = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
    exp = int(math.floor(math.log(size) / math.log(1000)))
    exp = min(exp, len(sizes) - 1)
    val = math.floor(size / 1000**exp * 10 + 0.5) / 10
    return f"{val:.1f} {sizes[exp]}" if val < 10 else f"{val:.0f} {sizes[exp]}"


_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "ki": 2**10, "kib": 2**10,
    "m": 10**6, "mb": 10**6, "mi": 2**20, "mib": 2**20,
    "g": 10**9, "gb": 10**9, "gi": 2**30, "gib": 2**30,
    "t": 10**12, "tb": 10**12, "ti": 2**40, "tib": 2**40,
    "p": 10**15, "pb": 10**15, "pi": 2**50, "pib": 2**50,
    "e": 10**18, "eb": 10**18, "ei": 2**60, "eib": 2**60,
}


def parse_bytes(text: str) -> int:
    """go-humanize's ParseBytes(): '20MB', '1.5 GiB', '4096'. Raises ValueError."""
    match = re.fullmatch(r"\s*([0-9][0-9,]*(?:\.[0-9]*)?|\.[0-9]+)\s*([A-Za-z]*)\s*", text)
    if not match:
        raise ValueError(f"cannot parse {text!r} as a size")
    number = float(match.group(1).replace(",", ""))
    unit = match.group(2).lower()
    if unit not in _UNITS:
        raise ValueError(f"unknown size unit {match.group(2)!r}")
    value = number * _UNITS[unit]
    if value >= 2**64:
        raise ValueError(f"{text!r} is too large")
    return int(value)
