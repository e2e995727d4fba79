import json
import threading

import pytest

from s3common.errors import AwsApiError, UsageError
from s3common.queues import resolve_queue_url
from s3grouper.enqueue import QueueSender


class FakeSqs:
    """send_message_batch that fails the entries ``fail`` says, per call."""

    def __init__(self, fail=(), sender_fault=False):
        self.fail = list(fail)  # per call: set of entry positions to fail
        self.sender_fault = sender_fault
        self.calls = []
        self.received = []

    def send_message_batch(self, QueueUrl, Entries):
        self.calls.append([e["Id"] for e in Entries])
        failing = self.fail.pop(0) if self.fail else set()
        ok, failed = [], []
        for pos, entry in enumerate(Entries):
            if pos in failing:
                failed.append({"Id": entry["Id"], "SenderFault": self.sender_fault,
                               "Code": "InternalError", "Message": "try again"})  # fmt: skip
            else:
                ok.append({"Id": entry["Id"], "MessageId": "m"})
                self.received.append(entry)
        return {"Successful": ok, "Failed": failed}


def bodies(sqs):
    return [json.loads(e["MessageBody"]) for e in sqs.received]


def test_batches_of_ten_in_order():
    sqs = FakeSqs()
    sender = QueueSender(sqs, "https://q/url", pause=0)
    for n in range(23):
        sender.add("b", f"k{n}")
    sender.flush()
    assert [len(c) for c in sqs.calls] == [10, 10, 3]
    assert bodies(sqs) == [{"Bucket": "b", "Key": f"k{n}"} for n in range(23)]
    assert sender.sent == 23


def test_failed_entries_are_retried_not_dropped():
    sqs = FakeSqs(fail=[{1, 3}, {0}])
    sender = QueueSender(sqs, "https://q/url", pause=0)
    for n in range(5):
        sender.add("b", f"k{n}")
    sender.flush()
    assert sorted(b["Key"] for b in bodies(sqs)) == [f"k{n}" for n in range(5)]
    assert [len(c) for c in sqs.calls] == [5, 2, 1]


def test_entries_that_keep_failing_raise():
    sqs = FakeSqs(fail=[{0}] * 10)
    sender = QueueSender(sqs, "https://q/url", pause=0)
    sender.add("b", "k0")
    with pytest.raises(AwsApiError, match=r"1 message.*not sent.*k0"):
        sender.flush()


def test_sender_fault_raises_at_once():
    sqs = FakeSqs(fail=[{0}], sender_fault=True)
    sender = QueueSender(sqs, "https://q/url", pause=0)
    sender.add("b", "k0")
    with pytest.raises(AwsApiError, match="InternalError"):
        sender.flush()
    assert len(sqs.calls) == 1


class SlowSqs(FakeSqs):
    """Each call waits until ``go`` is set."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.go = threading.Event()

    def send_message_batch(self, QueueUrl, Entries):
        assert self.go.wait(10)
        return super().send_message_batch(QueueUrl, Entries)


def test_batches_are_sent_in_the_background_in_order():
    sqs = SlowSqs()
    with QueueSender(sqs, "https://q/url", pause=0) as sender:
        for n in range(35):
            sender.add("b", f"k{n}")  # does not wait for SQS (it would wait 10 s and fail)
        assert sqs.received == []
        sqs.go.set()
        sender.flush()
    assert bodies(sqs) == [{"Bucket": "b", "Key": f"k{n}"} for n in range(35)]
    assert [len(c) for c in sqs.calls] == [10, 10, 10, 5] and sender.sent == 35


def test_a_background_failure_is_raised_by_a_later_add():
    sqs = FakeSqs(fail=[set(range(10))] * 5)  # the first batch keeps failing
    with QueueSender(sqs, "https://q/url", pause=0) as sender:
        for n in range(10):
            sender.add("b", f"k{n}")
        with pytest.raises(AwsApiError, match=r"10 message\(s\) not sent, first .*k0"):
            for n in range(10, 10_000):
                sender.add("b", f"k{n}")
                threading.Event().wait(0.001)


def test_fifo_queue_entries_have_group_and_dedup_ids():
    sqs = FakeSqs()
    sender = QueueSender(sqs, "https://q/url.fifo", pause=0)
    sender.add("b", "k0")
    sender.flush()
    entry = sqs.received[0]
    assert entry["MessageGroupId"] and entry["MessageDeduplicationId"]


def test_resolve_queue_url_by_name_and_url(sqs):
    url = sqs.create_queue(QueueName="grouper-test-q")["QueueUrl"]
    assert resolve_queue_url(sqs, "grouper-test-q") == url
    assert resolve_queue_url(sqs, url) == url
    with pytest.raises(UsageError, match="no such queue"):
        resolve_queue_url(sqs, "grouper-no-such-queue")
    with pytest.raises(UsageError, match="no such queue"):
        resolve_queue_url(sqs, url + "-nope")
