"""The s3grouper and s3bundler images, run as containers (host network) against the moto server:
the whole pipeline from an S3 Inventory report to verified archives, SIGTERM mid-manifest,
and what the images promise (non-root, no compilers, CLI arguments as entrypoint arguments).

Skipped, with the reason, where no Docker engine is reachable (docs/containers.md)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

from s3bundler.index import read_index
from s3bundler.layout import bigobject_key, manifest_outputs, metadata_key
from s3common.local_endpoint import free_port
from s3common.s3uri import S3Uri
from s3common.submanifest import ManifestEntry, read_manifest
from s3jobs.inventory_report import DEFAULT_FIELDS, put_inventory
from tests.containers.conftest import run_container
from tests.s3bundler.sources import put_manifest, seed
from tools import build_images

KiB = 1024
ARCHIVE_PREFIX = "archives"


def _get(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _keys(s3, bucket: str, prefix: str = "") -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def _buckets(s3, *roles: str) -> list[str]:
    stem = f"ctr-{uuid.uuid4().hex[:10]}"
    names = [f"{stem}-{role}" for role in roles]
    for name in names:
        s3.create_bucket(Bucket=name)
    return names


def test_image_properties(docker_client, images, aws):
    """Non-root, no compilers or pip, no deploy or test packages, small on top of the base, and
    the entrypoint takes the CLI's own arguments (exit codes included)."""
    # awscrt (the bundler's GET client) trusts the system's CA store, not certifi
    # and the venv holds the runtime dependencies only: nothing of [deploy] or [test]
    probe = (
        "import importlib.util, os, shutil; "
        "assert os.path.getsize('/etc/ssl/certs/ca-certificates.crt') > 10000, 'no CA store'; "
        "extras = [m for m in ('troposphere', 'docker', 'moto', 'pytest', 'cfnlint', 'checkov') "
        "if importlib.util.find_spec(m)]; "
        "assert not extras, extras; "
        "print(os.getuid(), os.getgid(), "
        "[c for c in ('gcc', 'cc', 'c++', 'g++', 'clang', 'make', 'pip', 'pip3') "
        "if shutil.which(c)])"
    )
    for name, ref in images.items():
        image = docker_client.images.get(ref)
        assert image.attrs["Config"]["User"] == "10001:10001"
        entrypoint = image.attrs["Config"]["Entrypoint"]
        assert entrypoint[-1] == f"/opt/s3bundler/bin/{name}", entrypoint
        out = docker_client.containers.run(
            ref, ["-c", probe], entrypoint="/opt/s3bundler/bin/python", remove=True
        )
        assert out.decode().split(maxsplit=2) == ["10001", "10001", "[]\n"]
        base = docker_client.images.get(
            image.attrs["Config"]["Labels"]["org.opencontainers.image.base.name"]
        )
        added = image.attrs["Size"] - base.attrs["Size"]
        print(f"{ref}: {image.attrs['Size'] / 1e6:.0f} MB ({added / 1e6:.0f} MB over the base)")
        assert added < 200e6, f"{ref} adds {added / 1e6:.0f} MB to its base"

        help_run = run_container(docker_client, ref, ["--help"], aws)
        assert help_run.status == 0 and f"usage: {name}" in help_run.logs
        bad = run_container(docker_client, ref, ["--no-such-flag"], aws)
        assert bad.status == 2, bad.logs


def test_grouper_then_bundler_containers_end_to_end(docker_client, images, aws, s3, sqs):
    """Parquet inventory -> s3grouper container (sub-manifests + queue messages) -> s3bundler
    container (queue mode) -> archives whose index rows point at the source bytes."""
    src, inv, man, arch = _buckets(s3, "src", "inv", "man", "arch")
    sizes = {f"photos/{i:03d}/img {i}+x.jpg": (i * 997) % (20 * KiB) for i in range(45)}
    sizes |= {"unicode/日本語/ü.txt": 1234, "big/object.bin": 100 * KiB}
    data = seed(s3, src, sizes).data
    rows = [
        {"Key": key, "Size": len(body), "ETag": hashlib.md5(body).hexdigest()}
        for key, body in data.items()
    ]
    manifest = put_inventory(
        s3, inv, rows, fmt="Parquet", fields=DEFAULT_FIELDS, source_bucket=src, files=2
    )
    queue = sqs.create_queue(QueueName=f"{man}-q")["QueueUrl"]

    grouper = run_container(
        docker_client,
        images["s3grouper"],
        ["-m", manifest, "-b", man, "-p", "submanifests", "-c", "15", "--queue", queue, "-v"],
        aws,
    )
    assert grouper.status == 0, grouper.logs
    submanifests = [k for k in _keys(s3, man, "submanifests/") if k.endswith(".index")]
    assert len(submanifests) == 4, (submanifests, grouper.logs)  # 47 objects, 15 per manifest
    listed = {e.key: e for k in submanifests for e in read_manifest(_get(s3, man, k))}
    assert listed.keys() == data.keys()

    bundler = run_container(
        docker_client,
        images["s3bundler"],
        ["-q", queue, "-b", arch, "-p", ARCHIVE_PREFIX, "-s", "64KiB",
         "--max-messages", str(len(submanifests)), "--idle-exit", "20"],
        aws,
    )  # fmt: skip
    assert bundler.status == 0, bundler.logs
    assert bundler.logs.count("manifest_done") == len(submanifests), bundler.logs

    archived: dict[str, int] = {}
    for key in submanifests:
        out = manifest_outputs(S3Uri(man, key), src, arch, ARCHIVE_PREFIX, "")
        tar_bytes = _get(s3, arch, out.archive_key)
        index = list(read_index(_get(s3, arch, out.index_key)))
        assert not _keys(s3, man, out.dlq.key), f"unexpected DLQ index for {key}"
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
            members = {m.name: m for m in tar.getmembers()}
        for row in index:
            body = data[row.key]
            assert row.bucket == src and row.size == len(body)
            assert tar_bytes[row.offset : row.offset + row.size] == body, row.key
            assert row.md5 == hashlib.md5(body).hexdigest()
            assert members[row.member].size == row.size
            archived[row.key] = archived.get(row.key, 0) + 1
        assert len(members) == len(index)
    copy = bigobject_key(ARCHIVE_PREFIX, src, "big/object.bin")
    assert _get(s3, arch, copy) == data["big/object.bin"]
    assert json.loads(_get(s3, arch, metadata_key(copy)))["key"] == "big/object.bin"
    assert archived == {k: 1 for k in data if k != "big/object.bin"}
    assert not s3.list_multipart_uploads(Bucket=arch).get("Uploads")


@pytest.mark.parametrize("fmt", ["CSV", "ORC"])
def test_grouper_container_reads_inventory_format(docker_client, images, aws, s3, fmt):
    src, man = _buckets(s3, "src", "man")
    rows = [{"Key": f"k/{i}", "Size": 10 + i} for i in range(30)]
    manifest = put_inventory(s3, src, rows, fmt=fmt, source_bucket=src)
    run = run_container(
        docker_client, images["s3grouper"], ["-m", manifest, "-b", man, "-p", "p", "-c", "8"], aws
    )
    assert run.status == 0, run.logs
    entries = [
        e
        for k in _keys(s3, man, "p/")
        if k.endswith(".index")
        for e in read_manifest(_get(s3, man, k))
    ]
    assert sorted(e.key for e in entries) == sorted(r["Key"] for r in rows)


def test_sigterm_mid_manifest_aborts_upload_and_exits_143(docker_client, images, aws, s3, sqs):
    """`docker stop` (SIGTERM to dumb-init, forwarded to s3bundler) while a slow manifest is
    being archived: the multipart upload is aborted, the message released, exit 143 at once."""
    src, man, arch = _buckets(s3, "src", "man", "arch")
    data = seed(
        s3, src, {f"many/{i:05d}": 16 for i in range(1500)}, meta_every=10**9, tag_every=10**9
    ).data
    entries = [ManifestEntry(src, key, len(body)) for key, body in data.items()]
    put_manifest(s3, man, "slow/s.0.index", entries)
    queue = sqs.create_queue(QueueName=f"{man}-q", Attributes={"VisibilityTimeout": "300"})[
        "QueueUrl"
    ]
    sqs.send_message(
        QueueUrl=queue, MessageBody=json.dumps({"Bucket": man, "Key": "slow/s.0.index"})
    )

    container = docker_client.containers.run(
        images["s3bundler"],
        ["-q", queue, "-b", arch, "--concurrency", "1"],
        detach=True,
        network_mode="host",
        environment=aws.env(),
    )
    try:
        started = threading.Event()

        def watch() -> None:
            seen = b""
            for chunk in container.logs(stream=True, follow=True):
                seen += chunk
                if b"manifest_start" in seen:
                    started.set()
                    return

        threading.Thread(target=watch, daemon=True).start()
        assert started.wait(60), container.logs().decode(errors="replace")
        time.sleep(0.5)
        assert s3.list_multipart_uploads(Bucket=arch).get("Uploads"), "upload should be running"

        t0 = time.monotonic()
        container.stop(timeout=20)  # SIGTERM, SIGKILL only after 20 s
        status = container.wait(timeout=30)["StatusCode"]
        elapsed = time.monotonic() - t0
        logs = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    print(f"s3bundler container stopped in {elapsed:.2f}s, exit {status}")
    assert status == 143, logs
    assert elapsed < 5, f"took {elapsed:.1f}s to stop"
    assert "received SIGTERM" in logs, logs
    assert not s3.list_multipart_uploads(Bucket=arch).get("Uploads")
    assert _keys(s3, arch) == []
    again = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
    assert len(again) == 1, "message should be visible again at once"


def test_push_to_a_local_registry(docker_client, images, tmp_path):
    """The docker half of ``--push`` for real (login, tag, push, digest) against a registry on
    loopback; the ECR half is tested against moto in test_build_images.py."""
    exe = shutil.which("docker-registry")
    if exe is None:
        pytest.skip("no local registry to push to: apt-get install docker-registry")
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    url = f"http://127.0.0.1:{port}/v2/"
    proc = subprocess.Popen(
        [exe, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    host = f"127.0.0.1:{port}"
    built = [
        build_images.BuiltImage(spec, images[spec.name], "", 0) for spec in build_images.IMAGES
    ]
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        registry = build_images.Registry(
            f"http://{host}", "AWS", "token", {n: f"{host}/team/{n}" for n in images}
        )
        uris = build_images.push_images(docker_client, built, registry, tag="v1")
        assert uris == {n: f"{host}/team/{n}:v1" for n in images}
        for name in images:
            with urllib.request.urlopen(f"{url}team/{name}/tags/list", timeout=5) as resp:
                assert json.load(resp)["tags"] == ["v1"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for name in images:
            docker_client.images.remove(f"{host}/team/{name}:v1", noprune=True)
