"""``s3bundler reconcile`` on a real small job (inventory -> grouper -> bundler): complete when
it is, and each kind of hole found, with exit 1 and the right CSV row."""

from __future__ import annotations

import csv

import pytest

from s3bundler.catalog import catalog_key
from s3bundler.layout import manifest_outputs
from s3bundler.report import report_key
from s3common.s3uri import parse_s3_uri
from s3restore.commands import reconcile as command
from s3restore.reconcile_report import CSV_COLUMNS
from tests.helpers import run_cli
from tests.s3restore.jobs import PREFIX, make_job, put_catalog, read_catalog


@pytest.fixture()
def job(s3, buckets):
    return make_job(s3, buckets)


def reconcile(job, tmp_path, capsys, *extra: str) -> tuple[int, str, list[dict[str, str]]]:
    """Run the command in this process: (exit code, stdout, CSV rows)."""
    report = tmp_path / "report.csv"
    args = command.build_parser().parse_args(
        [str(job.summary_uri), "--report", str(report), "--no-progress", *extra]
    )
    code = command.run(args)
    with open(report, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        rows = list(reader)
    return code, capsys.readouterr().out, rows


def problems(rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    return sorted((r["problem"], r["key"]) for r in rows)


def test_a_complete_job_is_complete(job, tmp_path):
    report = tmp_path / "r.csv"
    result = run_cli("s3bundler", "reconcile", str(job.summary_uri), "--report", str(report))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "selected       45 objects (job summary: 45)" in out
    assert "archived       38" in out and "copied         5" in out
    assert "in DLQ         2 (NoSuchKey 2)" in out
    assert "missing        0" in out and "duplicated     0" in out and "unexpected     0" in out
    assert "3: 3 completion reports, 3 catalog files, 3 archives (0 missing)" in out
    assert out.rstrip().endswith("complete: all 45 selected objects accounted for, once each")
    assert report.read_text() == ",".join(CSV_COLUMNS) + "\n"
    assert "reconcile: inventory: 3/3 data files, 47 rows, 45 selected" in result.stderr


def test_many_parts_give_the_same_answer(job, tmp_path, capsys):
    code, out, rows = reconcile(job, tmp_path, capsys, "--rows-per-part", "4")
    assert code == 0 and rows == [] and "complete" in out


def test_a_row_taken_out_of_the_catalog_is_missing(s3, job, tmp_path, capsys):
    uri = job.catalog_uri(1)
    table = read_catalog(s3, uri)
    rows = table.to_pylist()
    gone = rows.pop(3)
    put_catalog(s3, uri, rows)
    code, out, found = reconcile(job, tmp_path, capsys)
    assert code == 1
    assert "missing        1" in out and "INCOMPLETE: missing 1" in out
    (row,) = found
    assert (row["problem"], row["key"], row["bucket"]) == ("missing", gone["key"], job.source)
    assert (row["selected"], row["catalog_rows"], row["status"]) == ("1", "0", "")
    assert row["manifest"] == str(job.manifests[1])  # where the grouping put it
    assert row["size"] == str(gone["size"])


def test_a_missing_archive_is_found(s3, job, tmp_path, capsys):
    archive = parse_s3_uri(job.reports[0].archive)
    s3.delete_object(Bucket=archive.bucket, Key=archive.key)
    code, out, found = reconcile(job, tmp_path, capsys)
    assert code == 1 and "3 archives (1 missing)" in out
    (row,) = found
    assert (row["problem"], row["location"]) == ("no_archive", str(archive))
    archived = sum(1 for r in read_catalog(s3, job.catalog_uri(0)).to_pylist()
                   if r["status"] == "archived")  # fmt: skip
    assert row["detail"] == f"{archived} catalog rows point at it"


def test_a_missing_catalog_file_is_found_and_its_objects_missing(s3, job, tmp_path, capsys):
    uri = job.catalog_uri(2)
    keys = read_catalog(s3, uri).column("key").to_pylist()
    s3.delete_object(Bucket=uri.bucket, Key=uri.key)
    code, out, found = reconcile(job, tmp_path, capsys)
    assert code == 1 and "2 catalog files" in out
    assert problems(found) == sorted([("no_catalog_file", "")] + [("missing", k) for k in keys])
    (finding,) = [r for r in found if r["problem"] == "no_catalog_file"]
    assert finding["location"] == str(uri) and finding["manifest"] == str(job.manifests[2])
    assert str(uri) in finding["detail"]  # the completion report lists it
    assert {r["manifest"] for r in found if r["problem"] == "missing"} == {str(job.manifests[2])}


def test_an_object_in_two_catalog_rows_is_duplicated(s3, job, tmp_path, capsys):
    first, second = job.catalog_uri(0), job.catalog_uri(1)
    twice = next(r for r in read_catalog(s3, first).to_pylist() if r["status"] == "archived")
    rows = read_catalog(s3, second).to_pylist()
    put_catalog(s3, second, [*rows, {**twice, "manifest": str(job.manifests[1])}])
    code, out, found = reconcile(job, tmp_path, capsys)
    assert code == 1 and "duplicated     1" in out
    assert problems(found) == [("duplicated", twice["key"])] * 2
    assert {r["manifest"] for r in found} == {str(job.manifests[0]), str(job.manifests[1])}
    assert {(r["selected"], r["catalog_rows"], r["status"]) for r in found} == {
        ("1", "2", "archived")
    }
    assert {r["location"] for r in found} == {twice["archive"]}


def test_archived_and_in_a_dlq_is_duplicated(s3, job, tmp_path, capsys):
    uri = job.catalog_uri(0)
    rows = read_catalog(s3, uri).to_pylist()
    archived = next(r for r in rows if r["status"] == "archived")
    failed = {"key": archived["key"], "version_id": "", "status": "failed", "size": 1,
              "reason": "Throttled", "detail": "x", "manifest": archived["manifest"]}  # fmt: skip
    put_catalog(s3, uri, [*rows, failed])
    code, _out, found = reconcile(job, tmp_path, capsys)
    assert code == 1
    assert sorted((r["problem"], r["status"], r["reason"]) for r in found) == [
        ("duplicated", "archived", ""), ("duplicated", "failed", "Throttled"),
    ]  # fmt: skip


def test_a_catalog_row_of_an_object_not_selected_is_unexpected(s3, job, tmp_path, capsys):
    uri = job.catalog_uri(0)
    rows = read_catalog(s3, uri).to_pylist()
    extra = {**rows[0], "key": "skip/me.tmp"}  # in the inventory, but excluded by the job
    put_catalog(s3, uri, [*rows, extra])
    code, out, found = reconcile(job, tmp_path, capsys)
    assert code == 1 and "unexpected     1" in out
    (row,) = found
    assert (row["problem"], row["key"], row["selected"]) == ("unexpected", "skip/me.tmp", "0")
    assert row["manifest"] == str(job.manifests[0])


def test_rows_of_another_sub_manifest_are_left_out_and_reported(s3, job, tmp_path, capsys):
    uri = job.catalog_uri(0)
    rows = read_catalog(s3, uri).to_pylist()
    stray = {**rows[0], "key": "other/key", "manifest": "s3://elsewhere/x.0.index"}
    put_catalog(s3, uri, [*rows, stray])
    code, _out, found = reconcile(job, tmp_path, capsys)
    assert code == 1
    (row,) = found
    assert (row["problem"], row["location"]) == ("foreign_rows", str(uri))
    assert row["manifest"] == "s3://elsewhere/x.0.index"


def test_a_missing_completion_report_is_found(s3, job, tmp_path, capsys):
    manifest = job.manifests[1]
    s3.delete_object(Bucket=manifest.bucket, Key=report_key(manifest.key))
    code, out, found = reconcile(job, tmp_path, capsys)
    assert code == 1 and "2 completion reports" in out
    (row,) = found
    assert (row["problem"], row["manifest"]) == ("no_report", str(manifest))
    assert row["location"] == f"{manifest}.done" and row["detail"] == "no completion report"


def test_a_missing_copy_is_found(s3, job, tmp_path, capsys):
    copied = next(
        r for n in range(3) for r in read_catalog(s3, job.catalog_uri(n)).to_pylist()
        if r["status"] == "copied"
    )  # fmt: skip
    bucket, key = copied["copy"][5:].split("/", 1)
    s3.delete_object(Bucket=bucket, Key=key)
    code, out, found = reconcile(job, tmp_path, capsys)
    assert code == 1 and "5 copies (1 missing)" in out
    (row,) = found
    assert (row["problem"], row["key"], row["location"]) == ("no_copy", copied["key"],
                                                             copied["copy"])  # fmt: skip


def test_catalog_root_from_the_archives_when_reports_list_no_catalog(s3, job, tmp_path, capsys):
    """Reports of a bundler older than the catalog: the root comes from their archive URIs;
    a wrong --catalog finds no catalog file."""
    for manifest in job.manifests:
        key = report_key(manifest.key)
        body = s3.get_object(Bucket=manifest.bucket, Key=key)["Body"].read()
        body = body.replace(b'"catalog": [', b'"catalog": [], "x": [')
        s3.put_object(Bucket=manifest.bucket, Key=key, Body=body)
    code, out, _ = reconcile(job, tmp_path, capsys)
    assert code == 0, out
    code, out, found = reconcile(job, tmp_path, capsys, "--catalog",
                                 f"s3://{job.archive_bucket}/elsewhere")  # fmt: skip
    assert code == 1
    assert {r["problem"] for r in found} == {"no_catalog_file", "missing"}
    expected = catalog_key("elsewhere", job.source, job.manifests[0].key.rsplit("/", 1)[1][:-6])
    assert f"s3://{job.archive_bucket}/{expected}" in {r["location"] for r in found}


def test_errors_are_one_line_with_their_exit_code(aws, bucket, tmp_path):
    missing = run_cli("s3bundler", "reconcile", f"s3://{bucket}/no/such.job.json")
    assert missing.returncode == 5
    assert missing.stderr.startswith("s3bundler reconcile: error: cannot read s3://")
    assert missing.stderr.count("\n") == 1 and "NoSuchKey" in missing.stderr
    bad = run_cli("s3bundler", "reconcile", "not-a-uri")
    assert bad.returncode == 2 and "not an S3 URI" in bad.stderr
    helped = run_cli("s3bundler", "reconcile", "--help")
    assert helped.returncode == 0 and "examples:" in helped.stdout
    assert "1 check failed" in helped.stdout


def test_not_a_job_summary_is_bad_input(s3, bucket):
    s3.put_object(Bucket=bucket, Key="x.job.json", Body=b'{"format": "other"}')
    result = run_cli("s3bundler", "reconcile", f"s3://{bucket}/x.job.json")
    assert result.returncode == 3
    assert f"s3://{bucket}/x.job.json: not an s3bundler job summary" in result.stderr


def test_layout_assumption_archive_of_manifest(job):
    """The archive reconcile derives the root from is where the bundler's layout puts it."""
    out = manifest_outputs(job.manifests[0], job.source, job.archive_bucket, PREFIX, "")
    assert job.reports[0].archive == str(out.archive_uri)


def test_the_doc_names_every_csv_column_and_problem():
    from pathlib import Path

    from s3restore import reconcile_report

    doc = (Path(__file__).resolve().parents[2] / "docs" / "reconcile.md").read_text()
    assert ",".join(CSV_COLUMNS) in doc
    kinds = [v for k, v in vars(reconcile_report).items() if k.isupper() and isinstance(v, str)]
    for problem in [*kinds, "missing", "duplicated", "unexpected"]:
        assert f"`{problem}`" in doc, problem


def test_costs_sum_the_requests_of_the_completion_reports(s3, job, tmp_path, capsys):
    from s3bundler.report import ManifestReport
    from s3common.prices import load_prices

    written = {0: ({"GetObject": 1000, "UploadPart": 10}, "GLACIER"),
               1: ({"GetObject": 500, "PutObject": 4}, "")}  # fmt: skip
    for n, (requests, storage_class) in written.items():
        uri = job.manifests[n]
        key = report_key(uri.key)
        report = ManifestReport.from_json(s3.get_object(Bucket=uri.bucket, Key=key)["Body"].read())
        report.requests, report.storage_class = requests, storage_class
        s3.put_object(Bucket=uri.bucket, Key=key, Body=report.to_json())
    code, out, _ = reconcile(job, tmp_path, capsys, "--costs")
    assert code == 0
    assert "bundler requests, from 2 of 3 completion reports (the others recorded none)" in out
    assert "  written in GLACIER:" in out and "  written in STANDARD:" in out
    assert "grouper requests (estimated: a first run over 3 data files, 3 sub-manifests)" in out
    p = load_prices("us-east-1")
    get, put = p.request("STANDARD", "get"), p.request("STANDARD", "put")
    bundlers = 1500 * get + 10 * p.request("GLACIER", "put") + 4 * put
    grouper = (5 + 4 + 1) * get + (1 + 3 * 3 + 1) * put  # GET/HEAD tier, PUT/LIST tier
    total = next(line for line in out.splitlines() if "total request cost" in line)
    assert total.split()[-1] == f"${bundlers + grouper:.6f}"
    assert out.rstrip().endswith("complete: all 45 selected objects accounted for, once each")


@pytest.mark.parametrize("shards", [2, 3])
def test_a_sharded_job_is_one_job_and_a_hole_names_its_shards_sub_manifest(
    s3, buckets, tmp_path, capsys, shards
):
    job = make_job(s3, buckets, count=6, shards=shards)
    assert job.summary.shard_count == shards
    code, out, rows = reconcile(job, tmp_path, capsys)
    assert code == 0 and rows == [], out
    assert "selected       45 objects (job summary: 45)" in out
    last = len(job.manifests) - 1  # a sub-manifest of the last shard
    uri = job.catalog_uri(last)
    assert ".s" in uri.key and "-of-" in uri.key
    kept = read_catalog(s3, uri).to_pylist()
    gone = kept.pop(0)
    put_catalog(s3, uri, kept)
    code, out, found = reconcile(job, tmp_path, capsys)
    assert code == 1
    (row,) = found
    assert (row["problem"], row["key"]) == ("missing", gone["key"])
    assert row["manifest"] == str(job.manifests[last])  # its shard's grouping, replayed
