import random

import pyarrow as pa
import pytest

from s3grouper.grouping import Grouper, Thresholds, group


def reference(sizes, thresholds):
    """The rule, object by object: flush first if adding the next would pass a threshold."""
    groups, current, nbytes = [], [], 0
    for i, size in enumerate(sizes):
        size = size or 0
        if current and (len(current) + 1 > thresholds.count or nbytes + size > thresholds.size):
            groups.append(current)
            current, nbytes = [], 0
        current.append(i)
        nbytes += size
    if current:
        groups.append(current)
    return groups


def grouped(sizes, size=10**12, count=10**9, batches=None):
    items = [(i, s) for i, s in enumerate(sizes)]
    if batches is None:
        return list(group(items, Thresholds(size=size, count=count)))
    grouper = Grouper(Thresholds(size=size, count=count))
    out: dict[int, list[int]] = {}
    start = 0
    for n in batches:
        for seg in grouper.feed(sizes[start : start + n]):
            out.setdefault(seg.group, []).extend(range(start + seg.start, start + seg.stop))
        start += n
    return [out[g] for g in sorted(out)]


def test_size_exactly_at_threshold_stays_in_one_group():
    assert grouped([4, 3, 3], size=10) == [[0, 1, 2]]


def test_one_byte_over_threshold_starts_a_new_group():
    assert grouped([4, 3, 4], size=10) == [[0, 1], [2]]


def test_count_threshold():
    assert grouped([1] * 7, count=3) == [[0, 1, 2], [3, 4, 5], [6]]


def test_no_empty_trailing_group_when_count_divides_evenly():
    assert grouped([1] * 6, count=3) == [[0, 1, 2], [3, 4, 5]]
    assert grouped([1] * 6, count=3, batches=[3, 3]) == [[0, 1, 2], [3, 4, 5]]
    assert grouped([1] * 6, count=3, batches=[3, 3, 0]) == [[0, 1, 2], [3, 4, 5]]


def test_object_bigger_than_threshold_gets_its_own_group():
    assert grouped([2, 3, 50, 1, 1], size=10) == [[0, 1], [2], [3, 4]]
    assert grouped([50], size=10) == [[0]]
    assert grouped([50, 60, 0], size=10) == [[0], [1], [2]]


def test_zero_byte_objects_still_count():
    assert grouped([0] * 5, size=1, count=2) == [[0, 1], [2, 3], [4]]


def test_no_size_field_groups_by_count_only():
    assert grouped([None] * 5, size=1, count=2) == [[0, 1], [2, 3], [4]]


def test_empty_input_has_no_groups():
    assert grouped([]) == []
    grouper = Grouper(Thresholds())
    assert grouper.feed([]) == []
    assert grouper.groups == 0


def test_totals():
    grouper = Grouper(Thresholds(size=10, count=2))
    grouper.feed([4, None, 6])
    grouper.feed([20])
    assert (grouper.groups, grouper.total_objects, grouper.total_bytes) == (3, 4, 30)


@pytest.mark.parametrize("bad", [dict(size=0), dict(count=0), dict(size=-1)])
def test_thresholds_must_be_positive(bad):
    with pytest.raises(ValueError):
        Thresholds(**bad)


def test_matches_the_rule_for_random_inputs_and_batch_splits():
    rnd = random.Random(7)
    for _ in range(2000):
        size = rnd.choice([1, 5, 10, 100, 1000])
        count = rnd.choice([1, 2, 3, 7, 100])
        n = rnd.randrange(0, 40)
        sizes = [
            rnd.choice([None, 0, 1, 2, 5, 10, 50, 200, 2000])
            if rnd.random() < 0.3
            else rnd.randrange(0, 30)
            for _ in range(n)
        ]
        cuts = sorted(rnd.randrange(0, n + 1) for _ in range(rnd.randrange(0, 4)))
        batches = [b - a for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
        want = reference(sizes, Thresholds(size=size, count=count))
        assert grouped(sizes, size, count) == want
        assert grouped(sizes, size, count, batches=batches) == want


def test_arrow_sizes_group_like_lists():
    rnd = random.Random(8)
    for _ in range(500):
        thresholds = Thresholds(size=rnd.choice([1, 10, 1000]), count=rnd.choice([1, 3, 100]))
        sizes = [rnd.choice([None, 0, 3, 20, 2000]) for _ in range(rnd.randrange(0, 30))]
        cut = rnd.randrange(0, len(sizes) + 1)
        arr = pa.array(sizes, pa.int64())
        by_list, by_array = Grouper(thresholds), Grouper(thresholds)
        want = by_list.feed(sizes[:cut]) + by_list.feed(sizes[cut:])
        assert by_array.feed(arr.slice(0, cut)) + by_array.feed(arr.slice(cut)) == want
        assert (by_array.groups, by_array.total_objects, by_array.total_bytes) == (
            by_list.groups, by_list.total_objects, by_list.total_bytes)  # fmt: skip
