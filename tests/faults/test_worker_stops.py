"""A worker dies (kill -9) or is stopped (SIGTERM) mid-manifest; another one finishes the
job."""

from __future__ import annotations

import signal
import time

from tests.faults.dataset import Shape

SLOW_GETS = {"kind": "latency", "ms": 40, "operation": "GetObject"}


def _stop_mid_manifest(world, sig: int):
    """One manifest, its GETs slowed so it lasts; the first worker is stopped with ``sig``
    once its archive upload is open, then a fleet of one finishes the queue."""
    ds = world.dataset([Shape(small=200, streamed_single=1, missing=1)])
    queues = world.enqueue(ds, visibility=4)
    world.server.set_faults(SLOW_GETS)
    first = world.worker(queues.url, "--concurrency", "2")
    first.wait_manifest_start()
    deadline = time.monotonic() + 20
    while not world.open_uploads():
        assert time.monotonic() < deadline and first.returncode is None, first.log
        time.sleep(0.05)
    first.send_signal(sig)
    rc = first.wait(30)
    world.server.clear()
    fleet = world.fleet(queues.url).start()
    fleet.run(world.sqs, queues.url)
    return ds, first, rc, fleet


def test_kill_9_mid_manifest_then_another_worker_finishes(world):
    ds, _first, rc, fleet = _stop_mid_manifest(world, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    assert fleet.exit_codes == [0], fleet.log
    placed = world.check(ds)
    assert placed[0].reasons() == {"m0/gone/0": "NoSuchKey"}


def test_sigterm_mid_manifest_then_another_worker_finishes(world):
    ds, first, rc, fleet = _stop_mid_manifest(world, signal.SIGTERM)
    assert rc == 143, first.log
    assert [ln for ln in first.events("manifest_failed") if "reason=Stopped" in ln], first.log
    assert fleet.exit_codes == [0], fleet.log
    placed = world.check(ds)
    assert placed[0].reasons() == {"m0/gone/0": "NoSuchKey"}
