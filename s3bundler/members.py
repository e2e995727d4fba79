"""Tar member names: injective and safe to extract, for any set of keys.

A member is named ``<source-bucket>/<key>`` with each ``/``-separated segment of the key
encoded so that GNU tar, bsdtar and Python's tarfile (``filter="data"``) extract every member
of an archive as its own plain file inside ``<source-bucket>/``, with no error, no overwrite
and nothing outside the target directory (docs/formats.md, "Tar member names"):

- bytes outside printable ASCII, ``%`` and ``\\`` are written ``%XX`` (so names are ASCII: no
  locale or Unicode normalization can merge two of them, and ``%`` always starts an escape);
- a segment ``.`` is ``%2E``, ``..`` is ``%2E%2E``, an empty segment (``a//b``, a trailing
  ``/``) is ``%``;
- a segment longer than a file name may be (255 bytes) keeps its first bytes and ends in
  ``%~h<16 hex of its SHA-256>``.

The encoding alone is one-to-one, but in one archive two keys can still want the same path
(two versions of one key) or a file where another needs a directory (``p/q`` and ``p/q/r``).
:func:`member_names` settles those for the archive's rows, deterministically, in manifest
order: a later row with a name already taken gets ``%~<n>`` (n = 1, 2, ...), and a file whose
name is also a directory of another member gets ``%~file``. ``%~`` never appears in an encoded
segment, so these names cannot collide with any other. The exact bucket, key and version are
in the index and in each member's pax ``comment`` record (:func:`pax_record`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

MAX_SEGMENT_BYTES = 255
_SAFE = frozenset(range(0x20, 0x7F)) - {ord("%"), ord("/"), ord("\\")}
_HEX = "0123456789ABCDEF"
_SPECIAL = {"": "%", ".": "%2E", "..": "%2E%2E"}


def encode_segment(segment: str) -> str:
    """One key segment (no ``/``) as an ASCII file name."""
    if segment in _SPECIAL:
        return _SPECIAL[segment]
    raw = segment.encode("utf-8", "surrogateescape")
    out = "".join(chr(b) if b in _SAFE else "%" + _HEX[b >> 4] + _HEX[b & 15] for b in raw)
    return _fit(out)


def _fit(segment: str) -> str:
    """Cut a segment longer than a file name may be, keeping it unique."""
    if len(segment) <= MAX_SEGMENT_BYTES:
        return segment
    digest = hashlib.sha256(segment.encode("ascii")).hexdigest()[:16]
    return segment[: MAX_SEGMENT_BYTES - 19] + "%~h" + digest


def member_name(source_bucket: str, key: str) -> str:
    """The member name of ``key`` alone (see :func:`member_names` for a whole archive)."""
    return "/".join([source_bucket, *(encode_segment(s) for s in key.split("/"))])


def member_names(objects: Sequence[tuple[str, str]]) -> list[str]:
    """Member names for an archive's (bucket, key) rows, in order: distinct, and no file is
    also a directory of another member."""
    names: list[str] = []
    taken: dict[str, int] = {}
    for bucket, key in objects:
        name = member_name(bucket, key)
        seen = taken.get(name, 0)
        taken[name] = seen + 1
        names.append(name if not seen else _suffixed(name, str(seen)))
    directories = set()
    for name in names:
        slash = name.find("/")
        while slash != -1:
            directories.add(name[:slash])
            slash = name.find("/", slash + 1)
    return [_suffixed(n, "file") if n in directories else n for n in names]


def _suffixed(name: str, tag: str) -> str:
    head, _, last = name.rpartition("/")
    return f"{head}/{_fit(last + '%~' + tag)}"


def pax_record(bucket: str, key: str, version_id: str) -> dict[str, str]:
    """The pax records of a member: the exact object in ``comment`` (a record every tar reader
    accepts and ignores), as JSON."""
    doc = {"bucket": bucket, "key": key, "version_id": version_id}
    return {"comment": "s3bundler " + json.dumps(doc, ensure_ascii=False, sort_keys=True)}


def decode_member(name: str) -> tuple[str, str]:
    """(bucket, key) of a member name written by :func:`member_name` (without a ``%~``
    suffix); for tools and tests -- the index and the pax record hold the exact key."""
    bucket, _, rest = name.partition("/")
    segments = []
    for seg in rest.split("/"):
        if seg == "%":
            segments.append("")
            continue
        raw = bytearray()
        i = 0
        while i < len(seg):
            if seg[i] == "%":
                raw.append(int(seg[i + 1 : i + 3], 16))
                i += 3
            else:
                raw.append(ord(seg[i]))
                i += 1
        segments.append(raw.decode("utf-8", "surrogateescape"))
    return bucket, "/".join(segments)
