"""tools/build_images.py without a Docker engine: its error when none is reachable, the
wheelhouse's platform tags and requirements, ECR (moto) and the push sequence (a fake docker
client). The real builds, and a real push to a local registry, are in test_images.py."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest

from tools import build_images
from tools.build_images import IMAGES, BuiltImage, Failure, Registry


def test_no_docker_engine_is_one_line_and_exit_2(tmp_path):
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"}
    proc = subprocess.run(
        [sys.executable, str(build_images.ROOT / "tools" / "build_images.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("build_images: error: no Docker engine reachable at unix://")


def test_platform_tags_accept_every_older_manylinux():
    tags = build_images.platform_tags("manylinux_2_28_x86_64")
    assert tags[0] == "manylinux_2_28_x86_64" and "manylinux_2_5_x86_64" in tags
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert "manylinux_2_29_x86_64" not in tags
    assert build_images.platform_tags("linux_aarch64") == ["linux_aarch64"]


def test_image_installs_pyproject_runtime_dependencies_pinned():
    reqs = build_images.runtime_requirements()
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    declared = {build_images._dist_name(r) for r in pyproject["project"]["dependencies"]}
    assert {build_images._dist_name(r) for r in reqs} == declared
    assert {"boto3", "botocore", "pyarrow"} <= declared
    assert all("==" in r for r in reqs), reqs
    pinned = build_images._pinned_names(build_images.CONSTRAINTS.read_text().splitlines())
    assert {"dumb-init", "pip", "s3transfer", "jmespath", "urllib3"} <= pinned


# --- push ------------------------------------------------------------------------------------


@dataclass
class FakeImage:
    calls: list

    def tag(self, repository: str, tag: str) -> None:
        self.calls.append(("tag", repository, tag))


@dataclass
class FakeImages:
    calls: list
    push_error: str = ""

    def get(self, ref: str) -> FakeImage:
        return FakeImage(self.calls)

    def push(self, repository, tag, auth_config, stream, decode):
        self.calls.append(("push", repository, tag, auth_config["username"]))
        yield {"status": "Pushing"}
        if self.push_error:
            yield {"error": self.push_error}
        yield {"aux": {"Tag": tag, "Digest": "sha256:" + "ab" * 32, "Size": 1}}


@dataclass
class FakeDocker:
    calls: list = field(default_factory=list)
    push_error: str = ""

    def __post_init__(self) -> None:
        self.images = FakeImages(self.calls, self.push_error)

    def login(self, registry: str, username: str, password: str) -> None:
        self.calls.append(("login", registry, username, password))


BUILT = [BuiltImage(spec, f"{spec.name}:latest", "sha256:0", 1) for spec in IMAGES]


def test_ecr_registry_creates_missing_repositories(aws):
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName="team/bundler")  # one exists, one is created
    registry = build_images.ecr_registry({"s3grouper": "team/grouper", "s3bundler": "team/bundler"})

    endpoint = ecr.get_authorization_token()["authorizationData"][0]["proxyEndpoint"]
    host = endpoint.removeprefix("https://")
    assert registry.endpoint == endpoint and registry.username == "AWS" and registry.password
    assert registry.repositories == {
        "s3grouper": f"{host}/team/grouper",
        "s3bundler": f"{host}/team/bundler",
    }
    names = {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]}
    assert {"team/grouper", "team/bundler"} <= names


def test_push_logs_in_tags_and_pushes():
    registry = Registry("https://r.example", "AWS", "pw", {"s3grouper": "r/g", "s3bundler": "r/b"})
    docker = FakeDocker()
    uris = build_images.push_images(docker, BUILT, registry, tag="v1")
    assert uris == {"s3grouper": "r/g:v1", "s3bundler": "r/b:v1"}
    assert docker.calls[0] == ("login", "https://r.example", "AWS", "pw")
    assert ("tag", "r/g", "v1") in docker.calls and ("push", "r/b", "v1", "AWS") in docker.calls


def test_push_error_from_the_registry_is_exit_4():
    registry = Registry("https://r.example", "AWS", "pw", {"s3grouper": "r/g", "s3bundler": "r/b"})
    with pytest.raises(Failure) as err:
        build_images.push_images(FakeDocker(push_error="denied: no"), BUILT, registry, tag="t")
    assert err.value.code == 4 and "push r/g:t failed: denied: no" in str(err.value)


def test_push_gets_credentials_before_building_and_prints_stack_parameters(
    aws, monkeypatch, capsys
):
    docker = FakeDocker()
    steps = []
    real_ecr_registry = build_images.ecr_registry

    def ecr_registry(*args, **kw):
        steps.append("ecr")
        return real_ecr_registry(*args, **kw)

    def build_all(client, **kw):
        steps.append("build")
        return BUILT

    monkeypatch.setattr(build_images, "docker_client", lambda: docker)
    monkeypatch.setattr(build_images, "ecr_registry", ecr_registry)
    monkeypatch.setattr(build_images, "build_all", build_all)
    assert build_images.main(["--push", "--tag", "v2", "--grouper-repo", "g1"]) == 0
    assert steps == ["ecr", "build"]
    out = capsys.readouterr().out.splitlines()
    assert [line.split("=")[0] for line in out] == ["GrouperImage", "BundlerImage"]
    assert out[0].endswith(".amazonaws.com/g1:v2") and out[1].endswith("/s3bundler:v2")


def test_push_without_credentials_is_exit_7(aws, monkeypatch, tmp_path: Path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(Failure) as err:
        build_images.ecr_registry({"s3grouper": "gg", "s3bundler": "bb"})
    assert err.value.code == 7 and str(err.value).startswith("ECR: ")
