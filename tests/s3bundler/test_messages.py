"""Queue message bodies -> sub-manifest locations (docs/formats.md, "Queue messages")."""

from __future__ import annotations

import json

import pytest

from s3bundler.errors import PoisonMessage
from s3bundler.messages import manifest_locations
from s3common.s3uri import S3Uri


def record(bucket: str, key: str, event: str = "ObjectCreated:Put", source: str = "aws:s3") -> dict:
    return {
        "eventVersion": "2.1",
        "eventSource": source,
        "awsRegion": "us-east-1",
        "eventName": event,
        "s3": {
            "s3SchemaVersion": "1.0",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": key, "size": 10},
        },
    }


def event(*records: dict) -> str:
    return json.dumps({"Records": list(records)})


def sns(message: str) -> str:
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": "m-1",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
            "Message": message,
        }
    )


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("sub/x-manifest.0.index", "sub/x-manifest.0.index"),
        ("sub/with+space.index", "sub/with space.index"),
        ("sub/a%2Bplus.index", "sub/a+plus.index"),
        ("sub/both+%2B+.index", "sub/both + .index"),
        ("sub/%C3%BCnic%C3%B6de.index", "sub/ünicöde.index"),
        ("sub/comma%2Cquote%22.index", 'sub/comma,quote".index'),
        ("sub/pct%2541.index", "sub/pct%41.index"),
    ],
)
def test_s3_event_keys_are_url_decoded(encoded, decoded):
    assert manifest_locations(event(record("mb", encoded))) == [S3Uri("mb", decoded)]


def test_multiple_records_in_order():
    body = event(
        record("mb", "a.index"),
        record("mb2", "b+c.index", "ObjectCreated:CompleteMultipartUpload"),
        record("mb", "d.index", "ObjectCreated:Copy"),
    )
    assert manifest_locations(body) == [
        S3Uri("mb", "a.index"),
        S3Uri("mb2", "b c.index"),
        S3Uri("mb", "d.index"),
    ]


def test_test_event_is_ignored():
    body = json.dumps(
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": "2024-01-01T00:00:00.000Z",
            "Bucket": "mb",
            "RequestId": "r",
            "HostId": "h",
        }
    )
    assert manifest_locations(body) == []


def test_removed_and_foreign_records_are_ignored():
    body = event(
        record("mb", "gone.index", "ObjectRemoved:Delete"),
        record("mb", "keep.index"),
        record("mb", "restored.index", "ObjectRestore:Completed"),
        record("mb", "other.index", source="aws:sqs"),
    )
    assert manifest_locations(body) == [S3Uri("mb", "keep.index")]
    assert manifest_locations(event(record("mb", "x", "ObjectRemoved:Delete"))) == []
    assert manifest_locations(json.dumps({"Records": []})) == []


def test_sns_wrapped_event_and_test_event():
    assert manifest_locations(sns(event(record("mb", "k%2B1+2.index")))) == [
        S3Uri("mb", "k+1 2.index")
    ]
    assert manifest_locations(sns(json.dumps({"Event": "s3:TestEvent"}))) == []


def test_plain_bucket_key_is_not_decoded():
    body = json.dumps({"Bucket": "mb", "Key": "sub/a+b%2B ü.index"})
    assert manifest_locations(body) == [S3Uri("mb", "sub/a+b%2B ü.index")]


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "{'Bucket': 'single quotes'}",
        "[]",
        '[{"Bucket": "mb", "Key": "k"}]',
        '"a string"',
        "42",
        "null",
        "{}",
        '{"Bucket": "mb"}',
        '{"Key": "k"}',
        '{"Bucket": "", "Key": "k"}',
        '{"Bucket": "mb", "Key": ""}',
        '{"Bucket": 1, "Key": "k"}',
        '{"Bucket": "mb", "Key": ["k"]}',
        '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}',
        '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {}}]}',
        '{"Records": ["not a record"]}',
        '{"Records": 5}',
        '{"Records": "abc"}',
        '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",'
        ' "s3": {"bucket": {"name": "mb"}, "object": {"key": 5}}}]}',
        '{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",'
        ' "s3": {"bucket": {"name": "mb"}, "object": {"key": ""}}}]}',
        '{"Type": "Notification", "Message": "not json"}',
        '{"Type": "Notification", "Message": {"Bucket": "mb", "Key": "k"}}',
        '{"Type": "Notification", "Message": "[1]"}',
    ],
)
def test_poison_messages(body):
    with pytest.raises(PoisonMessage):
        manifest_locations(body)
