"""The fault suite's world: one fault endpoint per session, reset for every scenario, with
source, archive and manifest buckets, clients no fault applies to, and the workers started
by a scenario stopped at its end whatever happened."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from s3common.s3uri import S3Uri
from tests.endpoint.process import FaultServer
from tests.faults.dataset import MAXSIZE, Dataset, Shape, build
from tests.faults.harness import Fleet, Queues, Worker, make_queues, send_manifests
from tests.faults.invariant import Placed, check_invariant


@dataclass
class World:
    server: FaultServer
    s3: Any  # exempt: for seeding and inspecting while faults are on
    sqs: Any
    source: str
    archive: str
    manifests: str
    fleets: list[Fleet] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)

    def dataset(self, shapes: Sequence[Shape]) -> Dataset:
        return build(self.s3, self.source, self.manifests, list(shapes))

    def queues(self, visibility: int = 5, max_receives: int = 5) -> Queues:
        return make_queues(self.sqs, f"{self.source}-q", visibility, max_receives)

    def enqueue(self, ds: Dataset, visibility: int = 5, max_receives: int = 5) -> Queues:
        queues = self.queues(visibility, max_receives)
        send_manifests(self.sqs, queues.url, ds.manifests)
        return queues

    def worker_args(self, queue_url: str, *extra: str, idle_exit: float = 4) -> list[str]:
        args = ["-q", queue_url, "-b", self.archive, "-s", MAXSIZE, "-v"]
        return [*args, "--idle-exit", str(idle_exit), *extra]

    def worker(self, queue_url: str, *extra: str, idle_exit: float = 4) -> Worker:
        w = Worker(self.worker_args(queue_url, *extra, idle_exit=idle_exit), self.server.env())
        self.workers.append(w)
        return w

    def fleet(
        self,
        queue_url: str,
        *extra: str,
        size: int = 1,
        idle_exit: float = 4,
        env: dict[str, str] | None = None,
    ) -> Fleet:
        """``size`` workers (``env``: added to their environment)."""
        args = self.worker_args(queue_url, *extra, idle_exit=idle_exit)
        fleet = Fleet(args, {**self.server.env(), **(env or {})}, size=size)
        self.fleets.append(fleet)
        return fleet

    def check(self, ds: Dataset, manifests: Sequence[S3Uri] | None = None) -> list[Placed]:
        return check_invariant(self.s3, manifests or ds.manifests, self.archive, ds.data)

    def open_uploads(self) -> list[dict[str, Any]]:
        return self.s3.list_multipart_uploads(Bucket=self.archive).get("Uploads", [])


@pytest.fixture()
def world(fault_server: FaultServer) -> Iterator[World]:
    fault_server.reset()
    s3 = fault_server.client("s3", exempt=True, request_checksum_calculation="when_required")
    name = f"faults-{uuid.uuid4().hex[:8]}"
    w = World(
        fault_server,
        s3,
        fault_server.client("sqs", exempt=True),
        name,
        f"{name}-arch",
        f"{name}-man",
    )
    for bucket in (w.source, w.archive, w.manifests):
        s3.create_bucket(Bucket=bucket)
    try:
        yield w
    finally:
        fault_server.clear()
        for fleet in w.fleets:
            fleet.stop()
        for worker in w.workers:
            worker.stop()
