"""Each fault kind as a boto3 client sees it, and what the request log says about it."""

from __future__ import annotations

import time

import botocore.exceptions
import pytest

from tests.endpoint.process import FaultServer

MiB = 1 << 20
ONE_TRY = {"total_max_attempts": 1}


def _bucket(endpoint: FaultServer, name: str = "fault-src", **objects: bytes) -> str:
    s3 = endpoint.client("s3", exempt=True)
    s3.create_bucket(Bucket=name)
    for key, body in objects.items():
        s3.put_object(Bucket=name, Key=key, Body=body)
    return name


def test_slowdown_is_retried_then_surfaces_when_it_persists(endpoint):
    bucket = _bucket(endpoint, obj=b"payload")
    s3 = endpoint.client("s3", retries={"mode": "standard", "total_max_attempts": 3})
    endpoint.set_faults({"kind": "error", "operation": "GetObject", "count": 2})
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"payload"
    gets = endpoint.requests(operation="GetObject")
    assert [(g["status"], g["fault"]) for g in gets] == [
        (503, "error"),
        (503, "error"),
        (200, None),
    ]

    endpoint.set_faults({"kind": "error", "operation": "GetObject", "name": "slow"})
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.get_object(Bucket=bucket, Key="obj")
    assert err.value.response["Error"]["Code"] == "SlowDown"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert [g["fault"] for g in endpoint.requests(operation="GetObject")[3:]] == ["slow"] * 3
    assert endpoint.rules()[0]["fired"] == 3


@pytest.mark.parametrize(
    ("status", "code"), [(500, "InternalError"), (403, "AccessDenied"), (503, "SlowDown")]
)
def test_errors_on_writes_store_nothing(endpoint, status, code):
    bucket = _bucket(endpoint)
    s3 = endpoint.client("s3", retries=ONE_TRY)
    look = endpoint.client("s3", exempt=True)
    writes = ["PutObject", "UploadPart", "CompleteMultipartUpload"]
    endpoint.set_faults({"kind": "error", "operation": writes, "status": status, "code": code})
    with pytest.raises(botocore.exceptions.ClientError, match=code):
        s3.put_object(Bucket=bucket, Key="put", Body=b"x" * 1000)
    assert look.list_objects_v2(Bucket=bucket).get("KeyCount") == 0

    upload = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    with pytest.raises(botocore.exceptions.ClientError, match=code):
        s3.upload_part(Bucket=bucket, Key="mpu", UploadId=upload, PartNumber=1, Body=b"y" * 100)
    assert "Parts" not in look.list_parts(Bucket=bucket, Key="mpu", UploadId=upload)
    etag = look.upload_part(
        Bucket=bucket, Key="mpu", UploadId=upload, PartNumber=1, Body=b"y" * 100
    )["ETag"]
    with pytest.raises(botocore.exceptions.ClientError, match=code):
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="mpu",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )
    assert look.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert len(look.list_multipart_uploads(Bucket=bucket)["Uploads"]) == 1
    faulted = [r["operation"] for r in endpoint.requests() if r["fault"]]
    assert faulted == writes


def test_reset_is_a_connection_error_for_any_service(endpoint):
    bucket = _bucket(endpoint, obj=b"abc")
    s3 = endpoint.client("s3", retries=ONE_TRY)
    sqs = endpoint.client("sqs", retries=ONE_TRY)
    endpoint.set_faults({"kind": "reset", "operation": ["GetObject", "CreateQueue"]})
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        s3.get_object(Bucket=bucket, Key="obj")
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        sqs.create_queue(QueueName="fault-q")
    log = [r for r in endpoint.requests() if r["fault"]]
    assert [(r["service"], r["status"], r["bytes_sent"]) for r in log] == [
        ("s3", 0, 0),
        ("sqs", 0, 0),
    ]
    endpoint.clear()
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"abc"


def test_reset_after_keeps_the_effect_and_loses_the_answer(endpoint):
    bucket = _bucket(endpoint)
    s3 = endpoint.client("s3", retries=ONE_TRY)
    endpoint.set_faults({"kind": "reset_after", "operation": "PutObject"})
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        s3.put_object(Bucket=bucket, Key="stored", Body=b"kept")
    endpoint.clear()
    assert s3.get_object(Bucket=bucket, Key="stored")["Body"].read() == b"kept"


def test_cut_body_is_a_short_read_and_logged(endpoint):
    body = bytes(range(256)) * 4096  # 1 MiB
    bucket = _bucket(endpoint, big=body)
    s3 = endpoint.client("s3", retries=ONE_TRY)
    endpoint.set_faults({"kind": "cut", "operation": "GetObject", "fraction": 0.25, "count": 1})
    resp = s3.get_object(Bucket=bucket, Key="big")
    assert resp["ContentLength"] == MiB  # the headers announced the whole body
    with pytest.raises(botocore.exceptions.ResponseStreamingError, match="IncompleteRead"):
        resp["Body"].read()
    (cut,) = endpoint.requests(fault="cut")
    assert (cut["status"], cut["bytes_sent"], cut["body_size"]) == (200, MiB // 4, MiB)
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == body  # budget spent


def test_corrupt_flips_one_byte_of_ranged_gets_only(endpoint):
    body = bytes(range(256)) * 64
    bucket = _bucket(endpoint, obj=body)
    s3 = endpoint.client("s3", retries=ONE_TRY)
    endpoint.set_faults({"kind": "corrupt", "operation": "GetObject", "range": True})
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == body
    got = s3.get_object(Bucket=bucket, Key="obj", Range="bytes=1000-4999")["Body"].read()
    want = body[1000:5000]
    assert len(got) == len(want) and got != want
    assert [i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b] == [2000]
    ranged = endpoint.requests(range="bytes=1000-4999")
    assert [(r["fault"], r["corrupted_at"], r["status"]) for r in ranged] == [
        ("corrupt", 2000, 206)
    ]


def test_log_records_every_range_and_byte_count(endpoint):
    bucket = _bucket(endpoint, obj=b"0123456789" * 100)
    s3 = endpoint.client("s3")
    for spec in ("bytes=0-99", "bytes=500-", "bytes=-10"):
        s3.get_object(Bucket=bucket, Key="obj", Range=spec)["Body"].read()
    s3.head_object(Bucket=bucket, Key="obj")
    log = endpoint.requests(bucket=bucket, exempt=False)
    assert [(r["operation"], r["range"], r["bytes_sent"]) for r in log] == [
        ("GetObject", "bytes=0-99", 100),
        ("GetObject", "bytes=500-", 500),
        ("GetObject", "bytes=-10", 10),
        ("HeadObject", "", 0),
    ]
    assert all(r["key"] == "obj" and r["service"] == "s3" for r in log)


def test_latency_budget_and_exempt_client(endpoint):
    bucket = _bucket(endpoint, obj=b"x")
    s3 = endpoint.client("s3")
    endpoint.set_faults({"kind": "latency", "ms": 300, "count": 1, "operation": "HeadObject"})
    endpoint.client("s3", exempt=True).head_object(Bucket=bucket, Key="obj")  # not delayed
    took = []
    for _ in range(2):
        t0 = time.monotonic()
        s3.head_object(Bucket=bucket, Key="obj")
        took.append(time.monotonic() - t0)
    assert took[0] >= 0.3 > took[1]
    heads = endpoint.requests(operation="HeadObject")
    assert [(r["exempt"], r["latency_ms"]) for r in heads] == [(True, 0), (False, 300), (False, 0)]


def test_outage_window_starts_and_ends_while_sqs_keeps_working(endpoint):
    bucket = _bucket(endpoint, obj=b"x")
    s3 = endpoint.client("s3", retries=ONE_TRY)
    sqs = endpoint.client("sqs", retries=ONE_TRY)
    queue = sqs.create_queue(QueueName="fault-outage")["QueueUrl"]
    endpoint.set_faults({"kind": "outage", "start": 1.0, "stop": 2.5})
    set_at = time.monotonic()
    s3.head_object(Bucket=bucket, Key="obj")  # before the window
    time.sleep(max(0.0, set_at + 1.2 - time.monotonic()))
    for call in (
        lambda: s3.head_object(Bucket=bucket, Key="obj"),
        lambda: s3.list_objects_v2(Bucket=bucket),
        lambda: s3.put_object(Bucket=bucket, Key="new", Body=b"y"),
    ):
        with pytest.raises(botocore.exceptions.ConnectionClosedError):
            call()
    sqs.send_message(QueueUrl=queue, MessageBody="still up")
    assert sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"] == "still up"
    time.sleep(max(0.0, set_at + 2.7 - time.monotonic()))
    s3.head_object(Bucket=bucket, Key="obj")  # after the window
    faults = [(r["service"], r["fault"]) for r in endpoint.requests() if not r["exempt"]]
    assert faults.count(("s3", "outage")) == 3
    assert ("sqs", "outage") not in faults
