"""The archive bucket refuses writes (PutObject, UploadPart, CompleteMultipartUpload) for a
few seconds mid-run, then recovers: the worker aborts and exits 4 (or its retries outlast the
refusal); a restarted worker finishes, and nothing is left half-done."""

from __future__ import annotations

import pytest

from tests.faults.dataset import Shape
from tests.faults.harness import assert_exits

WRITES = ["PutObject", "UploadPart", "CompleteMultipartUpload"]


def _refuse_mid_run(world, rule: dict):
    ds = world.dataset([Shape(small=150, streamed_single=2, missing=1), Shape(small=50, missing=0)])
    queues = world.enqueue(ds, visibility=5)
    fleet = world.fleet(queues.url).start()
    fleet.running[0].wait_manifest_start()
    world.server.set_faults({"kind": "error", "bucket": world.archive, **rule})
    fleet.run(world.sqs, queues.url)
    refused = world.server.requests(fault="error")
    print(f"exit codes {fleet.exit_codes}; refused {[r['operation'] for r in refused]}")
    assert refused, "no write reached the archive bucket while it refused writes"
    assert {r["bucket"] for r in refused} == {world.archive}
    return ds, queues, fleet


def _check(world, ds, queues):
    placed = world.check(ds)
    assert [p.reasons() for p in placed] == [{"m0/gone/0": "NoSuchKey"}, {}]
    assert world.sqs.receive_message(QueueUrl=queues.dead_url).get("Messages") is None


@pytest.mark.parametrize(
    ("status", "code"), [(403, "AccessDenied"), (500, "InternalError")], ids=["403", "500"]
)
def test_archive_bucket_refuses_writes_then_recovers(world, status, code):
    rule = {"operation": WRITES, "status": status, "code": code, "stop": 4.0}
    ds, queues, fleet = _refuse_mid_run(world, rule)
    assert_exits(fleet.workers, {0, 4})
    if status == 403:  # not retried: the worker gives up the manifest and exits 4
        assert 4 in fleet.exit_codes, fleet.log
        assert [ln for ln in fleet.events("manifest_failed") if "UploadError" in ln], fleet.log
    _check(world, ds, queues)


def test_archive_bucket_refusing_aborts_too(world):
    rule = {"operation": [*WRITES, "AbortMultipartUpload"], "status": 403, "code": "AccessDenied"}
    ds, queues, fleet = _refuse_mid_run(world, {**rule, "stop": 4.0})
    assert_exits(fleet.workers, {0, 4})
    _check(world, ds, queues)
