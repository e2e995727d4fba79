"""The ordered fetch scheduler, without an endpoint: a scripted fetcher decides when each GET
answers and what with."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from datetime import UTC, datetime

import pytest

from s3bundler.errors import Cancelled
from s3bundler.failures import ObjectFailed
from s3bundler.fetched import Fetched, TooBigToBuffer
from s3bundler.object_info import ObjectInfo
from s3bundler.scheduler import FetchLimits, FetchScheduler
from s3common.errors import DownloadError
from s3common.submanifest import ManifestEntry


def info(size: int) -> ObjectInfo:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    return ObjectInfo(size, "e", when, "", "", {}, "STANDARD", 0, "", False)


class ScriptedFetcher:
    """Futures the test resolves; records what was in flight at each submit."""

    def __init__(self, answer_at_once: bool | set = True, outcomes: dict | None = None) -> None:
        self.futures: dict[str, Future] = {}
        self.submitted: list[str] = []
        self.answer_at_once = answer_at_once
        self.outcomes = outcomes or {}

    def submit(self, entry: ManifestEntry, buffer_limit: int) -> Future:
        fut: Future = Future()
        self.futures[entry.key] = fut
        self.submitted.append(entry.key)
        if self.answer_at_once is True or entry.key in (self.answer_at_once or ()):
            self.answer(entry)
        return fut

    def answer(self, entry: ManifestEntry) -> None:
        outcome = self.outcomes.get(entry.key)
        fut = self.futures[entry.key]
        if isinstance(outcome, BaseException):
            fut.set_exception(outcome)
        else:
            size = entry.size or 0
            fut.set_result(Fetched(entry, info(size), [b"x" * size], "", {}, []))

    def close(self) -> None:
        pass


def entries(*sizes: int | None) -> list[ManifestEntry]:
    return [ManifestEntry("b", f"k{i}", s) for i, s in enumerate(sizes)]


DEFAULTS = FetchLimits()


def run(fetcher, rows, limits=DEFAULTS, cancel=None, on_yield=None):
    opened: list[str] = []

    def open_stream(entry: ManifestEntry) -> str:
        opened.append(entry.key)
        if entry.key.startswith("fail"):
            raise ObjectFailed("NoSuchKey", "gone")
        return f"stream:{entry.key}"

    got = []
    with FetchScheduler(fetcher, open_stream, limits, cancel or threading.Event()) as s:
        for entry, outcome in s.outcomes(rows):
            got.append((entry.key, outcome))
            if on_yield:
                on_yield(s, entry)
    return got, opened


def test_outcomes_come_in_manifest_order_whatever_order_gets_answer_in():
    rows = entries(5, 6, 7, 8)
    fetcher = ScriptedFetcher(answer_at_once=False)
    answered = threading.Event()

    def answer_backwards() -> None:
        while len(fetcher.futures) < 4:
            threading.Event().wait(0.01)
        for e in reversed(rows):
            fetcher.answer(e)
        answered.set()

    threading.Thread(target=answer_backwards).start()
    got, _ = run(fetcher, rows)
    assert [k for k, _ in got] == ["k0", "k1", "k2", "k3"]
    assert [len(o.data) for _, o in got] == [5, 6, 7, 8]
    assert answered.wait(5)


def test_the_byte_budget_bounds_what_is_in_flight():
    rows = entries(*([40] * 10))
    fetcher = ScriptedFetcher()
    peaks: list[int] = []
    got, _ = run(
        fetcher,
        rows,
        FetchLimits(buffer_bytes=100, stream_threshold=50, window=64),
        on_yield=lambda s, e: peaks.append(s.reserved),
    )
    assert len(got) == 10
    assert max(peaks) <= 100  # never more than two 40-byte objects held
    assert peaks[0] == 80  # ...but the budget is used


def test_one_object_larger_than_the_budget_still_goes_through_alone():
    rows = entries(10, 500, 10)
    got, _ = run(ScriptedFetcher(), rows, FetchLimits(buffer_bytes=100, stream_threshold=1000))
    assert [k for k, _ in got] == ["k0", "k1", "k2"]


def test_the_window_bounds_the_rows_in_flight():
    fetcher = ScriptedFetcher()
    seen: list[int] = []
    run(
        fetcher,
        entries(*([1] * 20)),
        FetchLimits(window=3),
        on_yield=lambda s, e: seen.append(len(fetcher.submitted)),
    )
    # when row i is handed over, at most rows i..i+2 have been submitted
    assert all(n <= i + 3 for i, n in enumerate(seen))


def test_large_and_unsized_objects_are_streams_opened_only_when_their_turn_comes():
    rows = entries(1, 100, None, 2)
    fetcher = ScriptedFetcher()
    order: list[str] = []
    got, opened = run(
        fetcher,
        rows,
        FetchLimits(stream_threshold=50),
        on_yield=lambda s, e: order.append(e.key),
    )
    assert [o if isinstance(o, str) else "fetched" for _, o in got] == [
        "fetched",
        "stream:k1",
        "stream:k2",
        "fetched",
    ]
    assert opened == ["k1", "k2"]
    assert fetcher.submitted == ["k0", "k3"]  # streams are never fetched whole


def test_too_big_to_buffer_falls_back_to_a_stream_and_failures_are_outcomes():
    rows = [ManifestEntry("b", "grew", 1), ManifestEntry("b", "gone", 1)]
    rows.append(ManifestEntry("b", "fail-stream", None))
    fetcher = ScriptedFetcher(
        outcomes={"grew": TooBigToBuffer(), "gone": ObjectFailed("NoSuchKey", "deleted")}
    )
    got, opened = run(fetcher, rows)
    assert got[0] == ("grew", "stream:grew")
    assert isinstance(got[1][1], ObjectFailed) and got[1][1].detail == "deleted"
    assert isinstance(got[2][1], ObjectFailed) and got[2][1].detail == "gone"
    # a row listed as large is opened ahead; one that only turned out too big, at its turn
    assert opened == ["fail-stream", "grew"]


def test_a_stall_fails_the_manifest_and_cancels_what_is_in_flight():
    fetcher = ScriptedFetcher(answer_at_once=False)
    with pytest.raises(DownloadError, match="no object arrived for 1s"):
        run(fetcher, entries(1, 2, 3), FetchLimits(stall_seconds=1.0))
    assert all(f.cancelled() for f in fetcher.futures.values())


def test_a_stop_signal_ends_the_wait_at_once():
    fetcher = ScriptedFetcher(answer_at_once=False)
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    with pytest.raises(Cancelled):
        run(fetcher, entries(1, 2), FetchLimits(stall_seconds=60), cancel=cancel)
    assert all(f.cancelled() for f in fetcher.futures.values())


def test_leaving_early_cancels_the_rest_and_releases_the_budget():
    fetcher = ScriptedFetcher(answer_at_once={"k0"})
    rows = entries(1, 2, 3)
    with FetchScheduler(fetcher, str, FetchLimits(), threading.Event()) as s:
        outcomes = s.outcomes(rows)
        assert next(outcomes)[0] == rows[0]
        outcomes.close()
    assert s.reserved == 0
    assert fetcher.futures["k1"].cancelled() and fetcher.futures["k2"].cancelled()


def test_the_next_large_object_is_opened_while_the_current_one_is_written():
    rows = entries(100, 1, 200, 300)
    seen_open: list[list[str]] = []
    opened: list[str] = []

    def open_stream(entry: ManifestEntry) -> str:
        opened.append(entry.key)
        return f"stream:{entry.key}"

    limits = FetchLimits(stream_threshold=50, prefetch_streams=1)
    with FetchScheduler(ScriptedFetcher(), open_stream, limits, threading.Event()) as s:
        for entry, _ in s.outcomes(rows):
            seen_open.append([entry.key, *opened])
    # when k0 (a stream) is handed over, k2 -- the next stream -- is already being read;
    # never more than one stream ahead of the one being written
    assert seen_open[0] == ["k0", "k0", "k2"]
    assert seen_open[2] == ["k2", "k0", "k2", "k3"]
