"""Queue-level faults: redeliveries among three workers, poison messages beside good ones,
and S3 unreachable for a while (SQS still up) during a queue run."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.faults.dataset import Shape
from tests.faults.harness import assert_no_dead_letters, drain_bodies

#: Length of the S3 outage scenario; about a minute in production terms, ~25 s in CI.
OUTAGE_SECONDS = float(os.environ.get("S3BUNDLER_FAULTS_OUTAGE_SECONDS", "25"))
COMPRESSED_BACKOFF = Path(__file__).parent / "compressed_backoff"


def _receive_counts(fleet) -> list[int]:
    return [int(n) for n in re.findall(r"\(receive count (\d+)\)", fleet.log)]


def test_three_workers_with_redeliveries(world):
    """``--visibility-timeout 1`` makes the heartbeat extend the message by 1 s every 1/3 s;
    a 2.5 s delay on every ChangeMessageVisibility makes it lapse, so another worker
    receives the same message while the first still works on it."""
    ds = world.dataset([Shape(small=60, missing=1) for _ in range(6)])
    queues = world.enqueue(ds, visibility=1, max_receives=50)
    world.server.set_faults(
        {"kind": "latency", "service": "sqs", "operation": "ChangeMessageVisibility", "ms": 2500},
        {"kind": "latency", "operation": "GetObject", "bucket": world.source, "ms": 30},
    )
    args = ("--visibility-timeout", "1", "--concurrency", "2")
    fleet = world.fleet(queues.url, *args, size=3).start()
    fleet.run(world.sqs, queues.url, timeout=180)
    world.server.clear()
    done = fleet.events("manifest_done")
    print(f"receive counts {_receive_counts(fleet)}; {len(done)} manifest_done lines")
    assert set(fleet.exit_codes) == {0}, fleet.log
    assert max(_receive_counts(fleet)) >= 2, "no message was redelivered"
    assert len(done) > len(ds.manifests), "no manifest was redone"
    placed = world.check(ds)
    assert [p.reasons() for p in placed] == [{f"m{i}/gone/0": "NoSuchKey"} for i in range(6)]
    assert_no_dead_letters(world.sqs, queues.dead_url, fleet.log)


def test_poison_messages_next_to_good_ones(world):
    ds = world.dataset([Shape(small=30, missing=1) for _ in range(3)])
    queues = world.queues(visibility=1, max_receives=2)
    gone = json.dumps({"Bucket": world.manifests, "Key": "sub/never-written.0.index"})
    good = [json.dumps({"Bucket": m.bucket, "Key": m.key}) for m in ds.manifests]
    for body in ["{not json", good[0], gone, good[1], good[2]]:
        world.sqs.send_message(QueueUrl=queues.url, MessageBody=body)
    fleet = world.fleet(queues.url, size=2).start()
    fleet.run(world.sqs, queues.url, timeout=120)
    assert set(fleet.exit_codes) == {0}, fleet.log
    poison = fleet.events("message_failed")
    assert poison and all("reason=PoisonMessage" in ln for ln in poison), fleet.log
    assert sorted(drain_bodies(world.sqs, queues.dead_url)) == sorted(["{not json", gone])
    world.check(ds)


def _outage_run(world, seconds: float, visibility: int, max_receives: int, env=None):
    """Four sub-manifests, two workers (restarted when they exit non-zero); S3 unreachable
    (every S3 request reset, SQS untouched) from just after the first manifest_start for
    ``seconds``; returns the fleet once the queue is empty."""
    ds = world.dataset([Shape(small=100, streamed_single=1, missing=1) for _ in range(4)])
    queues = world.enqueue(ds, visibility=visibility, max_receives=max_receives)
    fleet = world.fleet(queues.url, size=2, env=env).start()
    fleet.running[0].wait_manifest_start()
    world.server.set_faults({"kind": "outage", "start": 0.5, "stop": 0.5 + seconds})
    fleet.run(world.sqs, queues.url, timeout=seconds + 180)
    world.server.clear()
    hits = world.server.requests(fault="outage")
    print(f"exit codes {fleet.exit_codes}; receive counts {_receive_counts(fleet)}; ")
    print(f"{len(hits)} requests reset: {Counter(r['operation'] for r in hits)}")
    for line in fleet.events("manifest_failed") + fleet.events("message_failed"):
        print(line)
    assert hits, "the outage never hit a request"
    assert {r["service"] for r in hits} == {"s3"}
    return ds, queues, fleet


@pytest.mark.slow
def test_s3_outage_during_a_queue_run(world):
    """Real retry timings: botocore's 10 retries of one request back off for ~35-150 s, so
    boto3 calls outlast a 25 s outage; awscrt GETs give up sooner (the manifest fails with
    DownloadError, exit 5, and is redelivered to a restarted worker)."""
    ds, queues, fleet = _outage_run(world, OUTAGE_SECONDS, visibility=5, max_receives=3)
    assert_no_dead_letters(world.sqs, queues.dead_url, fleet.log)
    world.check(ds)


@pytest.mark.slow
def test_s3_outage_longer_than_the_retries(world):
    """The same outage with the workers' botocore backoff compressed 20x
    (compressed_backoff/sitecustomize.py): their retries run out within seconds, as real
    ones run out within minutes, so the outage outlasts them."""
    env = {"PYTHONPATH": str(COMPRESSED_BACKOFF), "S3BUNDLER_FAULTS_BACKOFF_SCALE": "0.05"}
    ds, queues, fleet = _outage_run(world, OUTAGE_SECONDS, visibility=2, max_receives=2, env=env)
    assert_no_dead_letters(world.sqs, queues.dead_url, fleet.log)
    world.check(ds)
