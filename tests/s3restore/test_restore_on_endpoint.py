"""restore against the instrumented endpoint: the byte ranges it actually served, and the
server-side path verified by the CRC32C of the copied range (which moto alone never returns:
the endpoint's copy_checksum shim computes it)."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from s3bundler.archiver import BundlerConfig, ManifestJob
from s3bundler.index import read_index
from s3common.s3uri import S3Uri
from s3common.sizes import MiB
from s3common.submanifest import ManifestEntry
from tests.helpers import run_cli
from tests.s3bundler.sources import get_bytes, put_manifest, seed


@pytest.fixture()
def server(fault_server):
    return fault_server


@pytest.fixture()
def job(server, monkeypatch):
    """80 objects archived in one .tar by the real worker, on the instrumented endpoint."""
    src, arch, man = "ep-src", "ep-arch", "ep-man"
    s3 = server.fresh(monkeypatch, src, arch, man, exempt=False)
    sizes = {f"k/{i:03d}": 1000 + 37 * i for i in range(80)}
    source = seed(s3, src, sizes)
    manifest = put_manifest(
        s3, man, "p/e.0.index", [ManifestEntry(src, k, v) for k, v in sizes.items()]
    )
    result = ManifestJob(s3, BundlerConfig(archive_bucket=arch), manifest).run()
    assert result.outputs is not None
    rows = {r.key: r for r in read_index(get_bytes(s3, result.outputs.index_uri))}
    server.clear_log()
    return SimpleNamespace(
        s3=s3, source=source, rows=rows, archive=result.outputs.archive_uri,
        catalog=f"s3://{arch}/archives",
    )  # fmt: skip


def served(server, archive) -> list[str]:
    return [r["range"] or "whole" for r in server.requests(operation="GetObject", key=archive.key)]


def test_one_object_to_a_file_reads_exactly_its_bytes(server, job, tmp_path):
    _s3, source, rows, archive, catalog = job.s3, job.source, job.rows, job.archive, job.catalog
    row = rows["k/040"]
    out = run_cli("s3bundler", "restore", "s3://ep-src/k/040", "--catalog", catalog,
                  "-o", str(tmp_path / "o"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "o").read_bytes() == source.data["k/040"]
    assert served(server, archive) == [f"bytes={row.offset}-{row.offset + row.size - 1}"]


def test_a_batch_from_one_archive_is_coalesced_into_few_reads(server, job, tmp_path):
    _s3, _source, rows, archive, catalog = job.s3, job.source, job.rows, job.archive, job.catalog
    wanted = [f"k/{i:03d}" for i in range(10, 30)]
    listing = tmp_path / "l.csv"
    listing.write_text("".join(f"ep-src,{k}\n" for k in wanted))
    out = run_cli("s3bundler", "restore", "--from-list", str(listing), "--catalog", catalog,
                  "-o", str(tmp_path / "d"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    (one,) = served(server, archive)
    first, last = rows[wanted[0]], rows[wanted[-1]]
    assert one == f"bytes={first.offset}-{last.offset + last.size - 1}"


def test_server_side_restore_is_verified_by_the_copied_ranges_crc32c(server, job):
    s3, source, _rows, archive, catalog = job.s3, job.source, job.rows, job.archive, job.catalog
    server.set_faults({"kind": "copy_checksum"})
    out = run_cli("s3bundler", "restore", "s3://ep-src/k/005", "--catalog", catalog,
                  "--to", "s3://ep-arch/back/")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "verified 1 by crc32c" in out.stderr
    assert served(server, archive) == []  # no object bytes through the client
    copies = server.requests(operation="UploadPartCopy")
    assert len(copies) == 1
    assert not server.requests(operation="GetObject", key="back/k/005")  # no read-back needed
    assert get_bytes(s3, S3Uri("ep-arch", "back/k/005")) == source.data["k/005"]


def test_a_copied_range_whose_crc32c_differs_is_not_left_behind(server, job):
    """Bit rot in the archive: S3's CRC32C of the copied range differs from the recorded one."""
    s3, _source, rows, archive, catalog = job.s3, job.source, job.rows, job.archive, job.catalog
    tar = bytearray(get_bytes(s3, archive))
    tar[rows["k/006"].offset + 3] ^= 0x20
    s3.put_object(Bucket=archive.bucket, Key=archive.key, Body=bytes(tar))
    server.set_faults({"kind": "copy_checksum"})
    out = run_cli("s3bundler", "restore", "s3://ep-src/k/006", "--catalog", catalog,
                  "--to", "s3://ep-arch/back/")  # fmt: skip
    assert out.returncode == 3, out.stderr
    assert "CRC32C" in out.stderr
    listed = s3.list_objects_v2(Bucket="ep-arch", Prefix="back/").get("Contents", [])
    assert listed == [] and not s3.list_multipart_uploads(Bucket="ep-arch").get("Uploads")


@pytest.fixture(params=["gzip", "zstd"])
def compressed_job(server, monkeypatch, request):
    """A compressed archive of incompressible objects (the worst case for the bytes a read
    must plan for): 400 of 6-12 KiB and a few of 300 KiB, so several ~1 MiB frames."""
    src, arch, man = "ep-src", "ep-arch", "ep-man"
    s3 = server.fresh(monkeypatch, src, arch, man, exempt=False)
    rng = random.Random(11)
    data = {f"r/{i:03d}": rng.randbytes(rng.randrange(6 << 10, 12 << 10)) for i in range(400)}
    for i in (50, 200, 333):
        data[f"r/{i:03d}"] = rng.randbytes(300 << 10)
    for key, body in data.items():
        s3.put_object(Bucket=src, Key=key, Body=body)
    entries = [ManifestEntry(src, k, len(v)) for k, v in data.items()]
    manifest = put_manifest(s3, man, "p/z.0.index", entries)
    config = BundlerConfig(archive_bucket=arch, compress=request.param)
    result = ManifestJob(s3, config, manifest).run()
    assert result.outputs is not None
    rows = {r.key: r for r in read_index(get_bytes(s3, result.outputs.index_uri))}
    server.clear_log()
    return SimpleNamespace(
        s3=s3, data=data, rows=rows, archive=result.outputs.archive_uri,
        catalog=f"s3://{arch}/archives", codec=request.param,
    )  # fmt: skip


def test_one_object_of_a_compressed_archive_reads_at_most_a_frame_and_the_object(
    server, compressed_job, tmp_path
):
    job, codec = compressed_job, compressed_job.codec
    assert len({r.gz_offset for r in job.rows.values()}) > 3  # several frames
    # the object whose header is deepest into its frame, and a big one
    deep = max(job.rows.values(), key=lambda r: r.gz_skip)
    for row in (deep, job.rows["r/333"]):
        server.clear_log()
        out = run_cli("s3bundler", "restore", f"s3://ep-src/{row.key}", "--catalog", job.catalog,
                      "-o", str(tmp_path / "o"), "--overwrite")  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert (tmp_path / "o").read_bytes() == job.data[row.key]
        (get,) = server.requests(operation="GetObject", key=job.archive.key)
        span = row.gz_skip + row.size  # from the frame's start to the object's last byte
        slack = {"gzip": 16, "zstd": 144}[codec] * 1024  # zstd: the rest of a 128 KiB block
        end = row.gz_offset + span + span // 128 + slack - 1
        assert get["range"] == f"bytes={row.gz_offset}-{end}"
        assert row.gz_skip - (row.offset - row.header_offset) < MiB  # less than a frame before
        # at most: a frame's 1 MiB, the member's header (<= 1.5 KiB) and the object, and the
        # frames' overhead (incompressible data: stored blocks, frame headers, checksums)
        assert get["bytes_sent"] <= (MiB + 1536 + row.size) * 129 // 128 + slack
