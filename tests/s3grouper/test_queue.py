"""--queue: the grouper sends each new sub-manifest's location itself."""

import json
import uuid

from s3jobs import inventory_report as fx
from tests.s3grouper.support import assert_error, assert_ok, grouper, objects, submanifests


def drain(sqs, url):
    bodies = []
    while True:
        resp = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = resp.get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_messages_match_the_submanifests(s3, sqs, bucket, out_bucket):
    name = f"grouper-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    rows = [{"Key": f"k{n}", "Size": 1} for n in range(25)]
    uri = fx.put_inventory(s3, bucket, rows)

    assert_ok(grouper("-m", uri, "-b", out_bucket, "-c", "2", "--queue", name))
    keys = [k for k, _ in submanifests(s3, out_bucket)]
    assert len(keys) == 13  # more than one send_message_batch
    messages = drain(sqs, url)
    assert sorted(m["Key"] for m in messages) == sorted(keys)
    assert {m["Bucket"] for m in messages} == {out_bucket}

    # Nothing new on a rerun (by URL this time): nothing sent.
    result = grouper("-m", uri, "-b", out_bucket, "-c", "2", "--queue", url)
    assert_ok(result)
    assert drain(sqs, url) == []


def test_unknown_queue_is_refused_before_writing(s3, bucket, out_bucket):
    uri = fx.put_inventory(s3, bucket, [{"Key": "a"}])
    result = grouper("-m", uri, "-b", out_bucket, "--queue", "grouper-no-such-queue")
    assert_error(result, 2, "grouper-no-such-queue", "no such queue")
    assert objects(s3, out_bucket) == {}
