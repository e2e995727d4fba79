"""s3common.prefetch: items in order, errors where they happened, clean stop."""

import threading

import pytest

from s3common.prefetch import Prefetch


def test_items_in_order_then_the_error_where_it_happened():
    def source():
        yield 1
        yield 2
        raise ValueError("bad row")

    got = []
    with Prefetch(source()) as items, pytest.raises(ValueError, match="bad row"):
        for item in items:
            got.append(item)
    assert got == [1, 2]


def test_leaving_early_stops_the_thread_and_closes_the_source():
    closed = threading.Event()
    produced = []

    def source():
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    prefetch = Prefetch(source(), depth=2)
    with prefetch as items:
        for item in items:
            if item == 3:
                break
    assert closed.is_set()
    assert not prefetch._thread.is_alive()
    assert len(produced) <= 3 + 1 + 2 + 1  # at most the queue's depth (and one in hand) ahead


def test_empty_source():
    with Prefetch(iter(())) as items:
        assert list(items) == []
