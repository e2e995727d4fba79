"""Bodies of streamed objects (> 8 MiB) cut mid-stream: the worker reads a large object in
ranged GETs pinned by If-Match, and reads a range again when its body is cut -- and a range may
come back corrupted.

Two of the streamed objects were uploaded in two 5 MiB parts without an additional checksum,
so their ETag is not an MD5 and S3 returns no full-object checksum: only the bytes can tell.
The third is a single PUT (plain MD5 ETag)."""

from __future__ import annotations

from s3common.sizes import MiB
from tests.faults.dataset import Shape

SHAPE = Shape(small=20, streamed_multipart=2, streamed_single=1, missing=0)


def _run(world, *extra_rules):
    ds = world.dataset([SHAPE])
    queues = world.enqueue(ds)
    cut = {
        "kind": "cut",
        "operation": "GetObject",
        "bucket": world.source,
        "key_prefix": "m0/streamed/",
        "range": True,
        "min_size": MiB,
        "count": 3,
    }
    world.server.set_faults(cut, *extra_rules)
    fleet = world.fleet(queues.url).start()
    fleet.run(world.sqs, queues.url)
    world.server.clear()
    return ds, fleet


def _resumes(world, ds) -> dict[str, list[tuple[str, int]]]:
    """Per cut range GET: (its Range, how many times that Range was asked for in all)."""
    out: dict[str, list[tuple[str, int]]] = {}
    for key in ds.keys("m0/streamed/"):
        gets = world.server.requests(key=key, operation="GetObject")
        cut = [g["range"] for g in gets if g["fault"] == "cut"]
        out[key] = [(r, sum(g["range"] == r for g in gets)) for r in cut]
    return out


def test_cut_bodies_are_resumed_byte_exact(world):
    ds, fleet = _run(world)
    assert fleet.exit_codes == [0], fleet.log
    resumes = _resumes(world, ds)
    assert sum(len(cuts) for cuts in resumes.values()) == 3, resumes
    for key, cuts in resumes.items():
        for ranged, asked in cuts:  # a cut range is read again, alone
            assert ranged.startswith("bytes=") and asked >= 2, (key, ranged, asked)
    (placed,) = world.check(ds)
    assert placed.reasons() == {}
    assert {r.key for r in placed.index} >= set(ds.keys("m0/streamed/"))


def test_corrupted_resumed_range_never_archived_silently(world):
    corrupt = {
        "kind": "corrupt",
        "operation": "GetObject",
        "bucket": world.source,
        "key_prefix": "m0/streamed/",
        "range": True,
        "min_size": MiB,
    }
    ds, fleet = _run(world, corrupt)
    assert sum(len(cuts) for cuts in _resumes(world, ds).values()) == 3
    assert world.server.requests(fault="corrupt"), "no range was corrupted"
    for line in fleet.events("object_failed"):
        print(line)
    (placed,) = world.check(ds)
    # Reached once the hole is fixed: every corrupted object is in the DLQ index.
    assert set(placed.reasons().values()) <= {"ChecksumMismatch", "Changed"}
    assert not {r.key for r in placed.index} & set(ds.keys("m0/streamed/"))
