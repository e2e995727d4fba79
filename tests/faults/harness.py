"""Real workers for the fault scenarios: ``python -m s3bundler -q ...`` subprocesses whose
stderr is collected as it comes (so a test can wait for ``manifest_start`` and then kill,
stop or fault them), a fleet that restarts a worker that exits non-zero (as ECS restarts a
task) until the queue is empty, and the SQS queues (with a dead-letter queue) they serve."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from s3common.s3uri import S3Uri


class GoodMessagesDeadLettered(AssertionError):
    """Messages naming good sub-manifests ended in the SQS dead-letter queue."""


def assert_no_dead_letters(sqs: Any, dead_url: str, log: str = "") -> None:
    dead = drain_bodies(sqs, dead_url)
    if dead:
        raise GoodMessagesDeadLettered(f"{len(dead)} message(s) dead-lettered: {dead}\n{log}")


class UndocumentedExit(AssertionError):
    """A worker ended with an exit code it does not document, or with a traceback."""


def assert_exits(workers: Sequence[Worker], allowed: set[int]) -> None:
    """Every worker exited with one of ``allowed`` and printed no traceback."""
    bad = [w for w in workers if w.returncode not in allowed or "Traceback" in w.log]
    if bad:
        detail = "\n".join(f"--- {w.name} (exit {w.returncode})\n{w.log}" for w in bad)
        raise UndocumentedExit(f"{len(bad)} worker(s) exited otherwise than {allowed}:\n{detail}")


class Worker:
    """One worker process; ``lines`` is its stderr so far."""

    def __init__(self, args: Sequence[str], env: dict[str, str], name: str = "worker") -> None:
        self.name = name
        self.args = list(args)
        self.lines: list[str] = []
        self._started = threading.Event()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "s3bundler", *self.args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, name=f"{name}-stderr", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            if " manifest_start " in line:
                self._started.set()

    def wait_manifest_start(self, timeout: float = 60) -> None:
        if not self._started.wait(timeout):
            raise AssertionError(f"{self.name}: no manifest_start within {timeout}s:\n{self.log}")

    def send_signal(self, sig: int = signal.SIGKILL) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        rc = self.proc.wait(timeout)
        self._reader.join(10)
        return rc

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait(30)

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def events(self, name: str) -> list[str]:
        """Lines of one event (``manifest_done``, ``message_failed``...)."""
        return [ln for ln in self.lines if f" {name} " in f"{ln} "]


@dataclass(frozen=True)
class Queues:
    url: str
    dead_url: str


def make_queues(sqs: Any, name: str, visibility: int, max_receives: int) -> Queues:
    """A work queue whose redrive policy moves a message to ``<name>-dead`` after
    ``max_receives`` receives."""
    dead = sqs.create_queue(QueueName=f"{name}-dead")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = {"deadLetterTargetArn": arn, "maxReceiveCount": max_receives}
    attrs = {"VisibilityTimeout": str(visibility), "RedrivePolicy": json.dumps(policy)}
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    return Queues(url, dead)


def send_manifests(sqs: Any, url: str, manifests: Sequence[S3Uri]) -> None:
    for m in manifests:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"Bucket": m.bucket, "Key": m.key}))


def queue_depth(sqs: Any, url: str) -> int:
    """Messages visible, in flight or delayed."""
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attrs.get(n, 0)) for n in names)


def drain_bodies(sqs: Any, url: str) -> list[str]:
    """Every message body in the queue (received, left invisible)."""
    bodies: list[str] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300, WaitTimeSeconds=0
        ).get("Messages", [])
        if not got:
            return bodies
        bodies += [m["Body"] for m in got]


class Fleet:
    """``size`` workers on one queue. A worker that exits non-zero is replaced (``restart``);
    when every worker has exited and the queue still holds messages (in flight after a
    crash, say), a new one is started -- until the queue is empty."""

    def __init__(
        self, args: Sequence[str], env: dict[str, str], size: int = 1, restart: bool = True
    ) -> None:
        self.args = list(args)
        self.env = env
        self.size = size
        self.restart = restart
        self.running: list[Worker] = []
        self.finished: list[Worker] = []
        self._n = 0

    def spawn(self) -> Worker:
        self._n += 1
        worker = Worker(self.args, self.env, name=f"worker-{self._n}")
        self.running.append(worker)
        return worker

    def start(self) -> Fleet:
        for _ in range(self.size - len(self.running)):
            self.spawn()
        return self

    def run(self, sqs: Any, queue_url: str, timeout: float = 150) -> None:
        """Keep workers going until the queue is empty and every worker has exited."""
        deadline = time.monotonic() + timeout
        while True:
            for w in [w for w in self.running if w.returncode is not None]:
                w.wait()
                self.running.remove(w)
                self.finished.append(w)
                if w.returncode != 0 and self.restart:
                    self.spawn()
            if not self.running:
                if queue_depth(sqs, queue_url) == 0:
                    return
                self.spawn()
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"queue not done within {timeout}s:\n{self.log}")
            time.sleep(0.2)

    def stop(self) -> None:
        for w in self.running:
            w.stop()
        self.finished += self.running
        self.running = []

    @property
    def workers(self) -> list[Worker]:
        return self.finished + self.running

    @property
    def exit_codes(self) -> list[int | None]:
        return [w.returncode for w in self.finished]

    def events(self, name: str) -> list[str]:
        return [ln for w in self.workers for ln in w.events(name)]

    @property
    def log(self) -> str:
        return "\n".join(f"--- {w.name} (exit {w.returncode})\n{w.log}" for w in self.workers)
