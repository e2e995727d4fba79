"""URL-decoding the keys of CSV inventories, vectorized with pyarrow (and the byte scan it, and
the sub-manifest encoder, use to skip work)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc

_ESCAPE_RUN = re.compile(r"%[0-9A-F]{2}(?:%[0-9A-F]{2})*")  # a literal first: 3x faster scan
_SAMPLE = 1000
_MAX_ESCAPES = 64


def raw_contains(col: pa.Array, *needles: bytes) -> bool:
    """Whether any string of a string array holds any of ``needles`` (a fast pre-check that
    scans the bytes with ``bytes.find`` instead of per-string kernels)."""
    if col.type != pa.string():
        return True
    _validity, offsets, data = col.buffers()
    if data is None or not len(col):
        return False
    bounds = memoryview(offsets).cast("i")
    start, stop = bounds[col.offset], bounds[col.offset + len(col)]
    raw = data.slice(start, stop - start).to_pybytes()
    return any(raw.find(needle) >= 0 for needle in needles)


def decode_keys(keys: pa.Array) -> pa.Array:
    """URL-decode CSV inventory keys with ``unquote_plus`` semantics ('+' is a space).

    Vectorized: '+', '%2F' and the escapes seen in a sample are replaced by pyarrow; keys still
    holding an escape afterwards are finished by Python's ``unquote``."""
    if raw_contains(keys, b"+"):
        keys = pc.replace_substring(keys, "+", " ")
    if not raw_contains(keys, b"%"):
        return keys
    keys = pc.replace_substring(keys, "%2F", "/")  # S3 encodes every '/'
    for escape, char in _escapes_in(keys.slice(0, _SAMPLE).to_pylist()):
        keys = pc.replace_substring(keys, escape, char)
    if not raw_contains(keys, b"%"):
        return keys
    # Only '%25' should be left ('%' itself: decoded last, so it cannot start a false escape);
    # keys with any other escape left are finished by Python ('+' are spaces already).
    left = pc.fill_null(pc.match_substring(pc.replace_substring(keys, "%25", ""), "%"), False)
    if not pc.any(left).as_py():
        return pc.replace_substring(keys, "%25", "%")
    rest = [unquote(k) for k in pc.filter(keys, left).to_pylist()]
    decoded = pc.replace_with_mask(keys, left, pa.array(rest, pa.string()))
    return pc.if_else(left, decoded, pc.replace_substring(keys, "%25", "%"))


def _escapes_in(sample: Sequence[str]) -> list[tuple[str, str]]:
    """(escape, character) for each whole character escaped in the sample, except '%' itself
    (decoding ``%25`` early would make a '%' that looks like an escape)."""
    found: dict[str, str] = {}
    # Each distinct run once, in order of first appearance ('\n' ends a run: never in a run).
    for run in dict.fromkeys(_ESCAPE_RUN.findall("\n".join(k for k in sample if k))):
        try:
            text = bytes.fromhex(run.replace("%", "")).decode("utf-8")
        except ValueError:
            continue
        for char in text:
            if char != "%":
                found["".join(f"%{b:02X}" for b in char.encode("utf-8"))] = char
        if len(found) >= _MAX_ESCAPES:
            return list(found.items())
    return list(found.items())
