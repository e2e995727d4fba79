"""Human sizes: ``123``, ``4K``, ``512MB``, ``4GiB``, ``2GB`` (K/M/G/T are 1024-based)."""

from __future__ import annotations

import argparse
import re

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40

_UNITS = {"": 1, "K": KiB, "M": MiB, "G": GiB, "T": TiB}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Parse a size; raises ValueError naming the text when it is not one."""
    match = _SIZE_RE.match(text)
    if match is None:
        raise ValueError(f"not a size (examples: 123, 4K, 512MB, 4GiB): {text!r}")
    number, unit = match.groups()
    return int(number) * _UNITS[unit.upper()]


def size_arg(text: str) -> int:
    """argparse ``type=`` for a size."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def format_size(n: int | float) -> str:
    """1536 -> '1.5 KiB'; for log lines and summaries."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
