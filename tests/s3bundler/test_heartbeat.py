"""The heartbeat keeps a message invisible against the local SQS endpoint."""

from __future__ import annotations

import time
import uuid

import boto3

from s3bundler.heartbeat import Heartbeat


def make_queue(sqs, visibility: int = 2) -> str:
    name = f"hb-{uuid.uuid4().hex[:12]}"
    return sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(visibility)})[
        "QueueUrl"
    ]


def poll(client, url: str, seconds: float) -> list[dict]:
    """Receive for ``seconds`` as a competing worker would; return what it got."""
    got: list[dict] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        resp = client.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
        got += resp.get("Messages", [])
        if got:
            break
    return got


def test_heartbeat_keeps_message_invisible_then_lets_it_go(sqs, aws):
    url = make_queue(sqs, visibility=2)
    sqs.send_message(QueueUrl=url, MessageBody='{"Bucket": "b", "Key": "k"}')
    (message,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    other = boto3.client("sqs")  # a second worker

    with Heartbeat(sqs, url, message["ReceiptHandle"], timeout=2, interval=0.5) as beat:
        stolen = poll(other, url, 5.0)  # 2.5x the queue's visibility timeout
    assert stolen == []
    assert beat.beats >= 4

    # Without the heartbeat the message comes back: the queue timeout really is short.
    back = poll(other, url, 5.0)
    assert [m["MessageId"] for m in back] == [message["MessageId"]]


def test_heartbeat_gives_up_on_an_invalid_receipt(sqs, aws):
    url = make_queue(sqs)
    beat = Heartbeat(sqs, url, "not-a-receipt-handle", timeout=2, interval=0.05).start()
    deadline = time.monotonic() + 3
    while beat._thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not beat._thread.is_alive()
    assert beat.beats == 0
    beat.stop()


def test_stop_is_prompt(sqs, aws):
    url = make_queue(sqs)
    sqs.send_message(QueueUrl=url, MessageBody="x")
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    beat = Heartbeat(sqs, url, message["ReceiptHandle"], timeout=30, interval=10).start()
    started = time.monotonic()
    beat.stop()
    assert time.monotonic() - started < 1
    assert beat.beats == 0
