"""Bodies of streamed objects (> 8 MiB) cut mid-stream: the worker resumes each with a
ranged GET pinned by If-Match -- and the resumed range may come back corrupted.

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
        "range": False,
        "min_size": 8 * MiB,
    }
    world.server.set_faults(cut, *extra_rules)
    fleet = world.fleet(queues.url).start()
    fleet.run(world.sqs, queues.url)
    world.server.clear()
    return ds, fleet


def _resumes(world, ds) -> dict[str, tuple[int, str]]:
    """Per streamed key: (bytes the cut GET sent, Range of the GET that resumed it)."""
    out = {}
    for key in ds.keys("m0/streamed/"):
        gets = [r for r in world.server.requests(key=key, operation="GetObject")]
        (cut,) = [g for g in gets if g["fault"] == "cut"]
        ranged = [g["range"] for g in gets if g["range"]]
        out[key] = (cut["bytes_sent"], ranged[0] if ranged else "")
    return out


def test_cut_bodies_are_resumed_byte_exact(world):
    ds, fleet = _run(world)
    assert fleet.exit_codes == [0], fleet.log
    for key, (sent, ranged) in _resumes(world, ds).items():
        assert ranged.startswith("bytes="), f"{key} was not resumed"
        start = int(ranged.removeprefix("bytes=").rstrip("-"))
        assert 0 < start <= sent, (key, sent, ranged)
    (placed,) = world.check(ds)
    assert placed.reasons() == {}
    assert {r.key for r in placed.index} >= set(ds.keys("m0/streamed/"))


def test_corrupted_resumed_range_never_archived_silently(world):
    corrupt = {"kind": "corrupt", "operation": "GetObject", "bucket": world.source, "range": True}
    ds, fleet = _run(world, corrupt)
    for key, (_, ranged) in _resumes(world, ds).items():
        assert ranged, f"{key} was not resumed"
    assert world.server.requests(fault="corrupt"), "no resumed range was corrupted"
    for line in fleet.events("object_failed"):
        print(line)
    (placed,) = world.check(ds)
    # Reached once the hole is fixed: every corrupted object is in the DLQ index.
    assert set(placed.reasons().values()) <= {"ChecksumMismatch", "Changed"}
    assert not {r.key for r in placed.index} & set(ds.keys("m0/streamed/"))
