"""``s3bundler catalog rebuild``: the catalog the bundler wrote, written again from the index,
the DLQ index and the big objects' .metadata, after it was deleted."""

from __future__ import annotations

import pytest

from s3bundler.archiver import BundlerConfig, ManifestJob
from s3bundler.catalog import catalog_key
from s3common.s3uri import S3Uri
from s3common.submanifest import ManifestEntry
from s3restore.commands import catalog as command
from tests.helpers import run_cli
from tests.s3bundler.sources import put_manifest, seed
from tests.s3restore.jobs import MAXSIZE, PREFIX, make_job, put_catalog, read_catalog


def rebuild(capsys, source: str, archive_bucket: str, *extra: str) -> tuple[int, list[str]]:
    args = command.build_parser().parse_args(
        ["rebuild", source, "--archive-bucket", archive_bucket, "--no-progress", *extra]
    )
    code = command.run(args)
    return code, capsys.readouterr().out.splitlines()


def delete(s3, uri: S3Uri) -> None:
    s3.delete_object(Bucket=uri.bucket, Key=uri.key)


def get(s3, uri: S3Uri) -> bytes:
    return s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()


def test_rebuild_reproduces_the_bundlers_catalog_and_is_idempotent(s3, buckets, capsys):
    job = make_job(s3, buckets)
    uris = [job.catalog_uri(n) for n in range(3)]
    written = {uri: (get(s3, uri), read_catalog(s3, uri)) for uri in uris}
    for uri in uris:
        delete(s3, uri)
    prefix = f"s3://{job.summary.manifest_bucket}/{job.summary.manifest_prefix}/"

    code, lines = rebuild(capsys, prefix, job.archive_bucket, "--dry-run")
    assert code == 0 and lines[-1] == "catalog rebuild (dry run): 3 sub-manifests: 3 would write"
    assert lines[0].startswith(f"would write: {uris[0]} (")
    assert not s3.list_objects_v2(Bucket=job.archive_bucket, Prefix=f"{PREFIX}/catalog/")[
        "KeyCount"
    ]

    code, lines = rebuild(capsys, prefix, job.archive_bucket)
    assert code == 0 and lines[-1] == "catalog rebuild: 3 sub-manifests: 3 written"
    for uri, (body, table) in written.items():
        rebuilt = read_catalog(s3, uri)
        assert rebuilt.equals(table), uri
        assert rebuilt.to_pylist() == table.to_pylist()
        assert get(s3, uri) == body  # byte for byte, even
    statuses = {r["status"] for uri in uris for r in read_catalog(s3, uri).to_pylist()}
    assert statuses == {"archived", "copied", "failed"}

    code, lines = rebuild(capsys, str(job.summary_uri), job.archive_bucket)
    assert code == 0 and lines[-1] == "catalog rebuild: 3 sub-manifests: 3 unchanged"


def test_a_catalog_file_with_other_rows_is_replaced_only_with_force(s3, buckets, capsys):
    job = make_job(s3, buckets, objects=12, count=20)
    uri = job.catalog_uri(0)
    original = read_catalog(s3, uri)
    put_catalog(s3, uri, original.to_pylist()[1:])
    code, lines = rebuild(capsys, str(job.summary_uri), job.archive_bucket)
    assert code == 1 and lines[0].startswith(f"differs: {uri}")
    assert read_catalog(s3, uri).num_rows == original.num_rows - 1
    code, lines = rebuild(capsys, str(job.summary_uri), job.archive_bucket, "--force")
    assert code == 0 and lines[0].startswith(f"written: {uri}")
    assert read_catalog(s3, uri).equals(original)


def test_repeated_and_malformed_rows_come_back_in_the_bundlers_order(s3, buckets, capsys):
    """A hand-made sub-manifest with a repeated row (DuplicateRow beside the archived one), a
    malformed row (no bucket: its own partition) and a big object."""
    source, archive_bucket, manifest_bucket = buckets
    sizes = {"a": 10, "b": 20, "big": MAXSIZE + 1}
    seed(s3, source, sizes)
    entries = [ManifestEntry(source, k, v) for k, v in sizes.items()]
    manifest = put_manifest(s3, manifest_bucket, "hand/h.0.index", [*entries, entries[1]])
    body = get(s3, manifest) + b",nobucket,5,,,,,\n"
    s3.put_object(Bucket=manifest.bucket, Key=manifest.key, Body=body)
    config = BundlerConfig(archive_bucket=archive_bucket, archive_prefix=PREFIX, maxsize=MAXSIZE)
    ManifestJob(s3, config, manifest).run()
    uris = [S3Uri(archive_bucket, catalog_key(PREFIX, bucket, "h.0")) for bucket in (source, "")]
    before = [read_catalog(s3, uri) for uri in uris]
    assert [r["status"] for r in before[0].to_pylist()] == ["archived", "failed", "archived",
                                                            "copied"]  # fmt: skip
    for uri in uris:
        delete(s3, uri)
    code, lines = rebuild(capsys, f"s3://{manifest_bucket}/hand/", archive_bucket)
    assert code == 0, lines
    assert [read_catalog(s3, uri) for uri in uris] == before


def test_outputs_that_do_not_account_for_every_row_are_a_failure(s3, buckets, capsys):
    job = make_job(s3, buckets, objects=12, count=20)
    copied = next(r for r in read_catalog(s3, job.catalog_uri(0)).to_pylist()
                  if r["status"] == "copied")  # fmt: skip
    bucket, key = copied["copy"][5:].split("/", 1)
    s3.delete_object(Bucket=bucket, Key=key + ".metadata")
    code, lines = rebuild(capsys, str(job.summary_uri), job.archive_bucket)
    assert code == 1
    assert lines[0] == (
        f"failed: {job.manifests[0]}: s3://{job.source}/{copied['key']} is in neither the index "
        f"nor the DLQ index, and there is no {copied['copy']}.metadata"
    )
    assert lines[-1] == "catalog rebuild: 1 sub-manifests: 1 failed"


def test_a_wrong_archive_prefix_is_named(s3, buckets, capsys):
    job = make_job(s3, buckets, objects=12, count=20)
    code, lines = rebuild(capsys, str(job.summary_uri), job.archive_bucket,
                          "--archive-prefix", "other")  # fmt: skip
    assert code == 1 and "check --archive-bucket and --archive-prefix" in lines[0]


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["rebuild", "s3://b/p/"], 2, "--archive-bucket"),
        (["fix", "s3://b/p/", "--archive-bucket", "a"], 2, "invalid choice"),
        (["rebuild", "b/p", "--archive-bucket", "a"], 2, "not an S3 URI"),
    ],
)
def test_usage_errors(aws, argv, code, message):
    result = run_cli("s3bundler", "catalog", *argv)
    assert result.returncode == code and message in result.stderr


def test_help_has_examples(aws):
    result = run_cli("s3bundler", "catalog", "--help")
    assert result.returncode == 0 and "s3bundler catalog rebuild s3://" in result.stdout
