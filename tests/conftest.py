"""Shared fixtures: one moto server per test session, as a real HTTP endpoint; one SeaweedFS
server per session for the tests marked ``seaweedfs`` (tests/seaweedfs), started on first use."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import boto3
import pytest

from s3common.local_endpoint import MotoServer
from s3common.seaweedfs import SeaweedFS
from tests.endpoint.process import FaultServer


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="session")
def fault_server() -> Iterator[FaultServer]:
    """The instrumented endpoint (tests/endpoint): moto behind a fault-injecting, request-
    logging middleware, in its own process; tests start from :meth:`FaultServer.reset`."""
    with FaultServer() as server:
        yield server


@pytest.fixture(scope="session")
def seaweedfs_server() -> Iterator[SeaweedFS]:
    """SeaweedFS's S3 (``weed mini``); a server that cannot start fails the tests using it,
    with the reason and the end of its log."""
    with SeaweedFS() as server:
        yield server


@pytest.fixture()
def aws(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """Point this process's boto3 (and any subprocess started with ``run_cli``) at the local
    endpoint, with dummy credentials and region."""
    for name, value in moto_server.env().items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(name, raising=False)
    yield moto_server


@pytest.fixture()
def s3(aws: MotoServer):
    return boto3.client("s3")


@pytest.fixture()
def sqs(aws: MotoServer):
    return boto3.client("sqs")


@pytest.fixture()
def bucket(s3) -> str:
    """A fresh, empty bucket."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture()
def buckets(s3, bucket):
    """(source, archive, manifests) buckets."""
    names = (bucket, bucket + "-arch", bucket + "-man")
    for name in names[1:]:
        s3.create_bucket(Bucket=name)
    return names
