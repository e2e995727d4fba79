"""Tar member names: one-to-one with keys and safe to extract with GNU tar, bsdtar and Python's
tarfile, for any set of keys -- including the sets that once lost objects."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import subprocess
import tarfile
import unicodedata
from pathlib import Path

import pytest

from s3bundler.members import (
    MAX_SEGMENT_BYTES,
    decode_member,
    member_name,
    member_names,
    pax_record,
)
from s3bundler.tarstream import TarStream

# Pieces of keys that break naive naming: separators, dot segments, escapes, Unicode twins,
# control characters, long segments.
PIECES = [
    "a", "b", "same", "p", "q", "/", "//", ".", "..", "%", "%2F", "%2E", "%25", "%~1",
    "%~file", " ", "\\", "\n", "\t", "\x7f", "\x00", "é", unicodedata.normalize("NFD", "é"),
    "日本", "A", "~", "-", "x" * 120, "*?[]", "'\"", ".hidden",
]  # fmt: skip


def random_keys(rng: random.Random, n: int) -> list[str]:
    keys = []
    while len(keys) < n:
        key = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 6)))
        if key:
            keys.append(key)
    return keys


@pytest.mark.parametrize(
    ("key", "member"),
    [
        ("a/b.txt", "src/a/b.txt"),
        ("spaces and (parens)", "src/spaces and (parens)"),
        ("/abs/path", "src/%/abs/path"),
        ("a//b", "src/a/%/b"),
        ("dir/", "src/dir/%"),
        ("./a", "src/%2E/a"),
        ("../../etc/passwd", "src/%2E%2E/%2E%2E/etc/passwd"),
        ("...", "src/..."),
        ("same%2F", "src/same%252F"),
        ("col/a/%2E/b", "src/col/a/%252E/b"),
        ("a\x00b\nc", "src/a%00b%0Ac"),
        ("back\\slash", "src/back%5Cslash"),
        ("ü", "src/%C3%BC"),
    ],
)
def test_member_name_examples(key, member):
    assert member_name("src", key) == member
    assert decode_member(member) == ("src", key)


def test_the_encoding_is_one_to_one_and_ascii_for_any_keys():
    rng = random.Random(20261130)
    keys = set(random_keys(rng, 20_000))
    names = {member_name("src", k) for k in keys}
    assert len(names) == len(keys)
    for key in keys:
        name = member_name("src", key)
        assert name.isascii() and "\x00" not in name
        segments = name.split("/")
        assert "" not in segments and "." not in segments and ".." not in segments
        assert max(len(s) for s in segments) <= MAX_SEGMENT_BYTES
        if max(len(s) for s in segments) < MAX_SEGMENT_BYTES - 20:
            assert decode_member(name) == ("src", key)


def test_long_segments_are_cut_and_stay_distinct():
    long1, long2 = member_name("src", "a" * 300 + "1"), member_name("src", "a" * 300 + "2")
    assert long1 != long2
    assert len(long1.split("/")[1]) == MAX_SEGMENT_BYTES
    assert "%~h" in long1  # a marker no encoded segment contains
    assert member_name("src", "a" * 255) == "src/" + "a" * 255


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["k", "k"], ["s/k", "s/k%~1"]),  # two versions of one key
        (["p/q", "p/q/r"], ["s/p/q%~file", "s/p/q/r"]),
        (["p/q/r", "p/q"], ["s/p/q/r", "s/p/q%~file"]),
        (["a", "a/"], ["s/a%~file", "s/a/%"]),
        (["k", "k", "k/x"], ["s/k%~file", "s/k%~1", "s/k/x"]),
    ],
)
def test_an_archives_names_settle_versions_and_file_directory_clashes(keys, expected):
    assert member_names([("s", k) for k in keys]) == expected


def test_pax_record_keeps_the_exact_object_in_a_comment():
    record = pax_record("src", "a\nb/ü", "v1")
    assert list(record) == ["comment"]
    assert record["comment"].startswith("s3bundler ")
    doc = json.loads(record["comment"].removeprefix("s3bundler "))
    assert doc == {"bucket": "src", "key": "a\nb/ü", "version_id": "v1"}


# --- extraction with three readers -----------------------------------------------------------


def build_archive(objects: list[tuple[str, str]]) -> tuple[bytes, dict[str, bytes]]:
    """A tar written the way the bundler writes it; returns it and {member: data}."""
    names = member_names(objects)
    out = io.BytesIO()
    tar = TarStream(out)
    expected = {}
    for i, ((bucket, key), name) in enumerate(zip(objects, names, strict=True)):
        data = f"{i}:{key}".encode("utf-8", "surrogateescape")
        tar.begin(name, len(data), 1_700_000_000, pax_record(bucket, key, ""))
        tar.write(data)
        tar.end()
        expected[name] = data
    tar.close()
    return out.getvalue(), expected


def files_under(root: Path) -> dict[str, bytes]:
    found = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def extract_with(tool: str, archive: Path, dest: Path) -> None:
    dest.mkdir()
    if tool == "tarfile":
        with tarfile.open(archive) as tf:
            tf.extractall(dest, filter="data")
        return
    binary = shutil.which(tool)
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed (CI installs it: .ci/run)")
        pytest.skip(f"{tool} not installed")
    env = {**os.environ, "LC_ALL": "C"}  # no locale can merge names: they are ASCII
    proc = subprocess.run(
        [binary, "-xf", str(archive), "-C", str(dest)], capture_output=True, env=env
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert proc.stderr == b"", proc.stderr.decode(errors="replace")  # not even a warning


HARD_SETS = [
    ["same/", "same%2F", "col/a/./b", "col/a/%2E/b", "a//b", "a/b"],
    ["..", "../x", "p/q", "p/q/r", "k", "k"],
    ["é", unicodedata.normalize("NFD", "é"), "A", "a", "\n", "/", "//", "x" * 300],
]


@pytest.mark.parametrize("tool", ["tar", "bsdtar", "tarfile"])
@pytest.mark.parametrize("case", range(len(HARD_SETS) + 20))
def test_every_member_extracts_as_its_own_file_inside_the_target(tool, case, tmp_path):
    keys = HARD_SETS[case] if case < len(HARD_SETS) else random_keys(random.Random(case), 60)
    raw, expected = build_archive([("src", k) for k in keys])
    archive = tmp_path / "a.tar"
    archive.write_bytes(raw)
    extract_with(tool, archive, tmp_path / "out")
    found = files_under(tmp_path / "out")
    assert found == expected  # one file per member, each its own bytes: nothing overwritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar", "out"]  # nothing outside
