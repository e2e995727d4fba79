"""s3common.local_endpoint: what our launcher promises -- a free loopback port, the environment
that points boto3 at it, a server that answers once start() returns, reset, and a stop that
leaves no process (SIGKILL if SIGTERM is ignored)."""

import signal
import socket
import subprocess
import sys
import urllib.request

import boto3
import pytest

from s3common.local_endpoint import LOCAL_ENV, MotoServer, free_port, stop_process


def test_moto_server_is_a_real_http_endpoint(aws, bucket):
    s3 = boto3.client("s3")
    assert s3.meta.endpoint_url == aws.url
    s3.put_object(Bucket=bucket, Key="a b", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="a b")["Body"].read() == b"x"


def test_port_url_and_environment():
    server = MotoServer()
    assert server.host == "127.0.0.1" and server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert MotoServer(port=4566).url == "http://127.0.0.1:4566"
    assert server.env() == {**LOCAL_ENV, "AWS_ENDPOINT_URL": server.url}
    assert LOCAL_ENV["AWS_DEFAULT_REGION"] == "us-east-1"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(LOCAL_ENV)
    server.stop()  # never started: nothing to stop


def test_free_port_can_be_bound():
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_start_answers_reset_drops_state_and_stop_frees_the_port():
    with MotoServer() as server:
        urllib.request.urlopen(f"{server.url}/moto-api/", timeout=5).close()  # up on return
        env = server.env()
        s3 = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        s3.create_bucket(Bucket="launcher-test")
        server.reset()
        assert s3.list_buckets()["Buckets"] == []
        proc = server._proc
    assert server._proc is None and proc.poll() is not None  # waited for
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", server.port), timeout=5),
    ):
        pass
    server.stop()  # again: a no-op


def test_start_fails_when_the_server_cannot_bind():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = MotoServer(port=taken.getsockname()[1])
        with pytest.raises(RuntimeError, match="moto server exited"):
            server.start(timeout=60)
    assert server._proc is None or server._proc.poll() is not None


def test_stop_process_kills_what_ignores_sigterm():
    ignore_term = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)"
    )
    stubborn = subprocess.Popen([sys.executable, "-c", ignore_term], stdout=subprocess.PIPE)
    assert stubborn.stdout.readline() == b"ready\n"
    assert stop_process(stubborn, timeout=0.5) == -signal.SIGKILL
    stubborn.stdout.close()
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert stop_process(polite) == -signal.SIGTERM
    assert stop_process(polite) == -signal.SIGTERM  # already stopped: its exit code
