"""S3 on SeaweedFS, everything else (SQS, CloudWatch, ...) on moto: the ``aws`` fixture, and so
``s3``, ``sqs``, ``bucket`` and ``buckets``, are redefined here for the tests of this folder.

Subprocesses get the same split through the standard variables: ``AWS_ENDPOINT_URL_S3`` names
SeaweedFS, ``AWS_ENDPOINT_URL`` the moto server; the credentials are SeaweedFS's identity
(moto accepts any), with no session token (SeaweedFS refuses one it did not issue)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from s3common.local_endpoint import MotoServer
from s3common.seaweedfs import SeaweedFS


@pytest.fixture()
def aws(
    moto_server: MotoServer, seaweedfs_server: SeaweedFS, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MotoServer]:
    for name, value in {**moto_server.env(), **seaweedfs_server.env()}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(name, raising=False)
    # boto3's default session keeps the credentials it resolved first (moto's, when a moto
    # test ran before): a fresh one for these tests reads SeaweedFS's from the environment.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    yield moto_server


@pytest.fixture()
def seaweedfs(aws: MotoServer, seaweedfs_server: SeaweedFS) -> SeaweedFS:
    """The SeaweedFS server, with the environment pointing S3 at it."""
    return seaweedfs_server


def _no_expect_continue(request, **_: object) -> None:
    request.headers.pop("Expect", None)


@pytest.fixture()
def s3(aws: MotoServer):
    """This process's S3 client, on SeaweedFS. Its PUTs go without ``Expect: 100-continue``:
    with it, about one test run in three had one 9-12 MiB PutObject's response garbled (urllib3
    "Failed to parse headers": a second status line where headers belong), which costs
    botocore's 60 s read timeout before the retry succeeds (docs/bundler.md, SeaweedFS)."""
    client = boto3.client("s3")
    client.meta.events.register("before-send.s3", _no_expect_continue)
    return client
