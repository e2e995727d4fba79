"""What every request carries: owners, SSE-KMS, SSE-C -- added by one hook, only where the
operation takes it; and SSE-C keys never reach a log line."""

from __future__ import annotations

import logging

import boto3
import pytest

from s3common.request_options import RedactSecrets, RequestOptions

KEY = bytes(range(32))
B64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


class Sent(Exception):
    def __init__(self, headers: dict) -> None:
        self.headers = headers


def sent(options: RequestOptions, operation: str, **params) -> dict:
    """The headers ``operation`` would be sent with (stopped just before it goes out)."""
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="a",
                          aws_secret_access_key="b")  # fmt: skip
    options.install(client)

    def stop(request, **_):
        raise Sent({k.lower(): v for k, v in request.headers.items()})

    client.meta.events.register("before-send.s3", stop)
    with pytest.raises(Sent) as caught:
        getattr(client, operation)(**params)
    return {k: v.decode() if isinstance(v, bytes) else v for k, v in caught.value.headers.items()}


def test_owners_by_bucket_and_kms_on_writes_to_owned_buckets_only():
    options = RequestOptions(owned={"arch"}, owner="111", source_owner="222", kms_key_id="k")
    put = sent(options, "put_object", Bucket="arch", Key="x", Body=b"")
    assert put["x-amz-expected-bucket-owner"] == "111"
    assert put["x-amz-server-side-encryption"] == "aws:kms"
    assert put["x-amz-server-side-encryption-aws-kms-key-id"] == "k"
    get = sent(options, "get_object", Bucket="src", Key="x")
    assert get["x-amz-expected-bucket-owner"] == "222"
    assert "x-amz-server-side-encryption" not in get
    copy = sent(options, "copy_object", Bucket="arch", Key="c", CopySource={"Bucket": "src",
                "Key": "x"})  # fmt: skip
    assert copy["x-amz-source-expected-bucket-owner"] == "222"
    assert copy["x-amz-expected-bucket-owner"] == "111"


def test_sse_c_on_source_reads_and_copies_never_on_owned_buckets_or_tagging():
    options = RequestOptions(owned={"arch"}, sse_c_key=KEY)
    get = sent(options, "get_object", Bucket="src", Key="x")
    assert get["x-amz-server-side-encryption-customer-algorithm"] == "AES256"
    assert "x-amz-server-side-encryption-customer-key-md5" in get
    assert "x-amz-server-side-encryption-customer-algorithm" not in sent(
        options, "get_object", Bucket="arch", Key="x"
    )
    tags = sent(options, "get_object_tagging", Bucket="src", Key="x")
    assert not [h for h in tags if "customer" in h]
    copy = sent(options, "copy_object", Bucket="arch", Key="c", CopySource={"Bucket": "src",
                "Key": "x"})  # fmt: skip
    assert "x-amz-copy-source-server-side-encryption-customer-key" in copy
    assert "x-amz-server-side-encryption-customer-key" not in copy


def test_a_callers_own_values_win():
    options = RequestOptions(owned={"arch"}, owner="111", sse_c_key=KEY, sse_c_buckets={"arch"})
    put = sent(options, "put_object", Bucket="arch", Key="x", Body=b"", ExpectedBucketOwner="9",
               SSECustomerAlgorithm="AES256", SSECustomerKey="k" * 32)  # fmt: skip
    assert put["x-amz-expected-bucket-owner"] == "9"
    import base64

    assert put["x-amz-server-side-encryption-customer-key"] == base64.b64encode(b"k" * 32).decode()


@pytest.mark.parametrize(
    "line",
    [
        "headers={'x-amz-server-side-encryption-customer-key': '" + B64 + "'}",
        "params {'SSECustomerKey': '" + B64 + "', 'Bucket': 'b'}",
        "x-amz-copy-source-server-side-encryption-customer-key:" + B64,
    ],
)
def test_keys_are_redacted_from_log_lines(line):
    record = logging.LogRecord("botocore", logging.DEBUG, __file__, 1, "%s", (line,), None)
    RedactSecrets().filter(record)
    text = record.getMessage()
    assert B64 not in text and "<redacted>" in text
