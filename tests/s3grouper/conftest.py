import uuid

import pytest


@pytest.fixture()
def out_bucket(s3) -> str:
    """A second fresh bucket, for the grouper's output."""
    name = f"out-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name
