"""S3 URIs: ``s3://bucket/key``."""

from __future__ import annotations

import argparse

import pytest

from s3common.s3uri import S3Uri, bucket_from_arn_or_name, parse_s3_uri, s3_uri_arg


@pytest.mark.parametrize(
    ("text", "bucket", "key"),
    [
        ("s3://b/k", "b", "k"),
        ("s3://my-bucket/dir/sub/file.txt", "my-bucket", "dir/sub/file.txt"),
        ("s3://b/with space+plus%20pct", "b", "with space+plus%20pct"),  # verbatim, no decoding
        ("s3://b/ünï/日本", "b", "ünï/日本"),
        ("s3://b//leading", "b", "/leading"),
        ("s3://b/trailing/", "b", "trailing/"),
        ("s3://b/a?b#c", "b", "a?b#c"),
    ],
)
def test_valid_uris(text, bucket, key):
    uri = parse_s3_uri(text)
    assert uri == S3Uri(bucket, key)
    assert (uri.bucket, uri.key) == (bucket, key)
    assert str(uri) == text
    assert s3_uri_arg(text) == uri


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "not an S3 URI"),
        ("b/k", "not an S3 URI"),
        ("S3://b/k", "not an S3 URI"),
        ("s3:/b/k", "not an S3 URI"),
        ("https://b.s3.amazonaws.com/k", "not an S3 URI"),
        ("s3://", "no bucket"),
        ("s3:///k", "no bucket"),
        ("s3://b", "no key"),
        ("s3://b/", "no key"),
    ],
)
def test_invalid_uris(text, match):
    with pytest.raises(ValueError, match=match) as err:
        parse_s3_uri(text)
    assert repr(text) in str(err.value)
    with pytest.raises(argparse.ArgumentTypeError, match=match):
        s3_uri_arg(text)


def test_bucket_only_when_key_not_required():
    assert parse_s3_uri("s3://b", require_key=False) == S3Uri("b", "")
    assert parse_s3_uri("s3://b/", require_key=False) == S3Uri("b", "")
    assert parse_s3_uri("s3://b/p/", require_key=False) == S3Uri("b", "p/")
    with pytest.raises(ValueError, match="no bucket"):
        parse_s3_uri("s3:///p", require_key=False)


def test_s3uri_is_a_tuple():
    uri = S3Uri("b", "k")
    bucket, key = uri
    assert (bucket, key) == ("b", "k")
    assert uri == ("b", "k")
    assert str(S3Uri("b", "")) == "s3://b/"


@pytest.mark.parametrize(
    ("text", "bucket"),
    [
        ("arn:aws:s3:::my-bucket", "my-bucket"),
        ("arn:aws-cn:s3:::cn-bucket", "cn-bucket"),
        ("my-bucket", "my-bucket"),
    ],
)
def test_bucket_from_arn_or_name(text, bucket):
    assert bucket_from_arn_or_name(text) == bucket
