"""S3 that throttles or drops connections now and then: retries absorb it, nothing ends in the
DLQ index but the objects that are really gone, and the invariant holds."""

from __future__ import annotations

import random

import pytest

from tests.faults.dataset import Shape

MIXED = [
    Shape(small=80, streamed_multipart=1, big=1, missing=1),
    Shape(small=80, streamed_single=1, missing=1),
    Shape(small=120, missing=1),
]


def early_seed(rate: float, fires: int, within: int) -> int:
    """The first seed with which a rate-``rate`` rule (the first rule set) fires at least
    ``fires`` times among its first ``within`` matching requests: a run with few matching
    requests then still sees faults, the same ones every time."""
    for seed in range(10_000):
        rng = random.Random(seed * 1000)
        if sum(rng.random() < rate for _ in range(within)) >= fires:
            return seed
    raise AssertionError("no such seed")


def run_queue(world, *rules, size: int = 2, seed: int = 1):
    """The MIXED sub-manifests through a queue served by ``size`` workers, with ``rules``
    on from the start; returns where every row ended and the fleet."""
    ds = world.dataset(MIXED)
    queues = world.enqueue(ds, visibility=10, max_receives=5)
    world.server.set_faults(*rules, seed=seed)
    fleet = world.fleet(queues.url, size=size).start()
    fleet.run(world.sqs, queues.url)
    fired = sum(r["fired"] for r in world.server.rules())
    world.server.clear()
    placed = world.check(ds)
    for i, p in enumerate(placed):
        assert p.reasons() == {f"m{i}/gone/0": "NoSuchKey"}, fleet.log
    assert world.sqs.receive_message(QueueUrl=queues.dead_url).get("Messages") is None
    return placed, fleet, fired


def test_slowdown_on_5_percent_of_gets(world):
    rule = {"kind": "error", "operation": "GetObject", "rate": 0.05, "status": 503}
    _, fleet, fired = run_queue(world, rule)
    assert fired > 5, "too few faults to prove anything"
    assert set(fleet.exit_codes) == {0}, fleet.log


@pytest.mark.parametrize(
    ("status", "code"), [(503, "SlowDown"), (500, "InternalError")], ids=["503", "500"]
)
def test_errors_on_5_percent_of_puts_and_parts(world, status, code):
    writes = ["PutObject", "UploadPart"]
    rule = {"kind": "error", "operation": writes, "rate": 0.05, "status": status, "code": code}
    # ~15 writes (parts, index, DLQ index, report, .metadata): fire 2 among the first 10
    _, fleet, fired = run_queue(world, rule, seed=early_seed(0.05, 2, 10))
    assert fired >= 2, "too few writes were refused"
    assert set(fleet.exit_codes) == {0}, fleet.log


def test_connections_reset_at_a_small_rate(world):
    # Every service (S3 through boto3 and awscrt, SQS, CloudWatch), before the request
    # reaches moto: the client sees a dropped connection and nothing happened.
    rule = {"kind": "reset", "rate": 0.03}
    _, fleet, fired = run_queue(world, rule, seed=5)
    assert fired > 5
    assert set(fleet.exit_codes) == {0}, fleet.log
