"""Fixtures of the bundler's tests."""

from __future__ import annotations

import pytest


@pytest.fixture()
def buckets(s3, bucket):
    """(source, archive, manifests) buckets."""
    names = (bucket, bucket + "-arch", bucket + "-man")
    for name in names[1:]:
        s3.create_bucket(Bucket=name)
    return names
