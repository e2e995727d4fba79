"""An S3 outage is waited out, never mistaken for poison: unit tests with hand-made clients."""

from __future__ import annotations

import threading
import time

import botocore.exceptions
import pytest

from s3bundler.archiver import BundlerConfig, ManifestJob
from s3bundler.errors import ManifestUnreadable
from s3bundler.manifest import load_manifest
from s3bundler.outage import OutageWait
from s3bundler.worker import run_manifest
from s3common.errors import DownloadError, UploadError
from s3common.metrics import Metrics
from s3common.s3uri import S3Uri
from tests.s3bundler.s3_answers import client_error

NO_ANSWER = botocore.exceptions.EndpointConnectionError(endpoint_url="http://s3")


class Probe:
    """head_bucket answers from a script: an exception is raised, anything else returned."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.calls = 0

    def head_bucket(self, **kw):
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def get_object(self, **kw):
        raise self.answers[0]


@pytest.mark.parametrize(
    ("answer", "up"),
    [
        ({}, True),
        (client_error("404", "HeadBucket"), True),  # an answer: S3 is up
        (client_error("403", "HeadBucket"), True),
        (NO_ANSWER, False),
        (client_error("503", "HeadBucket"), False),
    ],
)
def test_a_probe_tells_an_outage_from_an_answer(answer, up):
    assert OutageWait(Probe(answer), threading.Event()).reachable("b") is up


def test_waiting_ends_when_s3_answers_again():
    probe = Probe(NO_ANSWER, NO_ANSWER, {})
    wait = OutageWait(probe, threading.Event(), limit=10, first_pause=0.01)
    assert wait.wait("b", time.monotonic()) is True
    assert probe.calls == 3


def test_waiting_gives_up_at_the_limit_or_on_a_stop_signal():
    wait = OutageWait(Probe(NO_ANSWER), threading.Event(), limit=0.1, first_pause=0.01)
    assert wait.wait("b", time.monotonic()) is False
    stop = threading.Event()
    stop.set()
    assert OutageWait(Probe({}), stop).wait("b", time.monotonic()) is False


def test_a_manifest_s3_cannot_serve_is_an_outage_not_poison():
    uri = S3Uri("m", "x.0.index")
    with pytest.raises(DownloadError) as err:
        load_manifest(Probe(NO_ANSWER), uri, ("Bucket", "Key", "Size"))
    assert err.value.transient and not isinstance(err.value, ManifestUnreadable)
    with pytest.raises(DownloadError) as err:
        load_manifest(Probe(client_error("SlowDown")), uri, ("Bucket", "Key", "Size"))
    assert err.value.transient
    with pytest.raises(ManifestUnreadable) as gone:
        load_manifest(Probe(client_error("NoSuchKey")), uri, ("Bucket", "Key", "Size"))
    assert not gone.value.transient


class Always:
    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.waits = 0

    def wait(self, bucket: str, since: float, attempt: int = 0) -> bool:
        assert attempt == self.waits  # pauses grow with each outage waited out
        self.waits += 1
        return self.answer


def test_run_manifest_runs_again_after_an_outage_and_gives_up_past_the_limit(monkeypatch):
    outcomes = [
        DownloadError("no answer", transient=True),
        UploadError("503", transient=True),
        "done",
    ]

    def run(self):
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(ManifestJob, "run", run)
    args = (None, BundlerConfig("a"), S3Uri("m", "k"), threading.Event(), Metrics(None), None)
    patient = Always(True)
    assert run_manifest(*args, patient) == "done" and patient.waits == 2

    outcomes[:] = [DownloadError("no answer", transient=True)]
    with pytest.raises(DownloadError):
        run_manifest(*args, Always(False))
    outcomes[:] = [UploadError("denied")]  # not an outage: no waiting
    impatient = Always(True)
    with pytest.raises(UploadError):
        run_manifest(*args, impatient)
    assert impatient.waits == 0
