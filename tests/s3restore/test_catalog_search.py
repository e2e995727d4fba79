"""Which row groups a prefix search reads: the statistics test against brute force."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

from s3restore.catalog_search import _may_hold_prefix

PREFIXES = ["", "a", "b", "ab", "b/", "a/", "a/b", "a0", "a/\U0010ffff", "\u00e9", "z"]


def overlaps(low: str, high: str, prefix: str) -> bool:
    """Whether some string between low and high (inclusive) starts with prefix: the strings
    that do form one interval beginning at prefix itself."""
    candidate = prefix if low < prefix else low
    return candidate.startswith(prefix) and candidate <= high


def test_a_row_group_is_read_exactly_when_its_key_range_can_hold_the_prefix():
    keys = sorted({"".join(p) for n in range(1, 4) for p in itertools.product("ab/", repeat=n)})
    for low, high in itertools.combinations_with_replacement(keys, 2):
        stats = SimpleNamespace(min=low, max=high)
        for prefix in [*PREFIXES, *keys]:
            assert _may_hold_prefix(stats, prefix) == overlaps(low, high, prefix), (
                low, high, prefix,
            )  # fmt: skip
            if any(k.startswith(prefix) for k in keys if low <= k <= high):
                assert _may_hold_prefix(stats, prefix)  # never skips a group that holds one
