"""Container tests: a Docker engine (or a skip that says why), the two images built from the
working tree by tools/build_images.py, and a helper to run them on the host network against
the session's moto server."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
import requests

from s3common.local_endpoint import MotoServer
from tools import build_images

#: Set by .ci/run once it has prepared an engine: then a missing engine fails instead of skipping.
REQUIRE_ENV = "S3BUNDLER_REQUIRE_DOCKER"
#: Tag the tests build, so they do not replace the developer's own :latest images.
TEST_TAG = "test"


@pytest.fixture(scope="session")
def docker_client():
    try:
        return build_images.docker_client()
    except build_images.Failure as exc:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{exc} ({REQUIRE_ENV}=1)")
        pytest.skip(f"container tests need a Docker engine: {exc}")


@pytest.fixture(scope="session")
def images(docker_client, tmp_path_factory) -> dict[str, str]:
    """``{"s3grouper": ref, "s3bundler": ref}``, built with $BASE_IMAGE (default
    python:3.11-slim) as the base. Without BASE_IMAGE, a default base that cannot be pulled (no
    registry access) is a skip with the reason; a BASE_IMAGE that is missing is an error."""
    base = os.environ.get("BASE_IMAGE") or build_images.DEFAULT_BASE_IMAGE
    try:
        build_images.ensure_base_image(docker_client, base)
    except build_images.Failure as exc:
        if os.environ.get("BASE_IMAGE") or os.environ.get(REQUIRE_ENV) == "1":
            raise  # a base was asked for: not having it is an error
        pytest.skip(f"container tests need a base image: {exc}")
    built = build_images.build_all(
        docker_client,
        base_image=base,
        tags=(TEST_TAG,),
        context=tmp_path_factory.mktemp("image-context"),
    )
    return {img.spec.name: img.ref for img in built}


@dataclass
class Run:
    status: int
    logs: str


def run_container(
    client, image: str, args: Sequence[str], server: MotoServer, timeout: float = 120
) -> Run:
    """Run ``image args`` to completion; its exit status and output. On the host network with
    ``server.env()`` (dummy credentials, region, AWS_ENDPOINT_URL), so 127.0.0.1 in the
    container is the host's and the CLIs reach the moto server as the tests' boto3 does."""
    container = client.containers.run(
        image, list(args), detach=True, network_mode="host", environment=server.env()
    )
    try:
        try:
            status = container.wait(timeout=timeout)["StatusCode"]
        except requests.exceptions.RequestException:  # ReadTimeout: still running
            container.kill()
            raise AssertionError(
                f"{image} {' '.join(args)} still running after {timeout}s:\n"
                + container.logs().decode(errors="replace")
            ) from None
        return Run(status, container.logs().decode(errors="replace"))
    finally:
        container.remove(force=True)
