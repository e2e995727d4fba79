"""``s3bundler prune`` on a real small job (inventory -> grouper -> bundler), as subprocess
CLIs against the local endpoint: the dry run deletes nothing, ``--yes`` deletes exactly the
verified objects and keeps the others with their reason, versioned buckets lose the archived
version only, a run killed with SIGKILL resumes without deleting anything twice, and a job
reconcile does not call complete is refused unless ``--only`` names the objects."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from s3bundler.archiver import BundlerConfig, ManifestJob
from s3common.s3uri import S3Uri, parse_s3_uri
from s3grouper.grouper import GrouperClients, GrouperOptions, run_grouper
from s3grouper.grouping import Thresholds
from s3jobs import inventory_report
from s3restore.prune_report import REPORT_COLUMNS
from tests.helpers import run_cli
from tests.s3bundler.sources import payload, seed
from tests.s3restore.jobs import put_catalog, read_catalog

MAXSIZE = 4000  # bigger objects are copied (data/003, data/013, data/023)
PREFIX = "archives"
FLAGGED = "data/004.bin"  # overwritten between the inventory and the bundler: flagged
DLQD = "data/005.bin"  # deleted before the bundler (DLQ NoSuchKey), written again after
CHANGED = "data/006.bin"  # overwritten after it was archived
NEWER = "data/007.bin"  # versioned job: a newer version written after archiving


@dataclass
class PruneJob:
    summary_uri: S3Uri
    source: str
    archive_bucket: str
    manifests: list[S3Uri]
    keys: list[str]
    versions: dict[str, str]  # key -> the version archived (versioned job)

    def catalog(self, n: int) -> S3Uri:
        name = self.manifests[n].key.rsplit("/", 1)[1].removesuffix(".index")
        return S3Uri(self.archive_bucket, f"{PREFIX}/catalog/bucket={self.source}/{name}.parquet")


def make_job(
    s3, buckets, *, versioned: bool = False, objects: int = 24, twice: str = ""
) -> PruneJob:
    """``objects`` objects, an inventory with their real sizes and ETags (and versions; the
    row of ``twice`` twice), the grouper (10 per sub-manifest) and the bundler on each."""
    source, archive, manifest_bucket = buckets
    if versioned:
        s3.put_bucket_versioning(Bucket=source, VersioningConfiguration={"Status": "Enabled"})
    sizes = {f"data/{i:03d}.bin": (MAXSIZE + 10 + i if i % 10 == 3 else 10 + i * 7)
             for i in range(objects)}  # fmt: skip
    seed(s3, source, sizes, meta_every=5, tag_every=7)
    rows, versions = [], {}
    for key in sizes:
        head = s3.head_object(Bucket=source, Key=key)
        row = {"Key": key, "Size": head["ContentLength"], "ETag": head["ETag"].strip('"')}
        if versioned:
            row["VersionId"] = versions[key] = head["VersionId"]
        rows += [row, row] if key == twice else [row]
    fields = inventory_report.VERSIONED_FIELDS if versioned else inventory_report.DEFAULT_FIELDS
    inventory = inventory_report.put_inventory(
        s3, manifest_bucket, rows, source_bucket=source, files=2, fields=fields
    )
    if not versioned:
        s3.put_object(Bucket=source, Key=FLAGGED, Body=b"rewritten before the bundler ran")
        s3.delete_object(Bucket=source, Key=DLQD)
    options = GrouperOptions(manifest=parse_s3_uri(inventory), bucket=manifest_bucket,
                             thresholds=Thresholds(count=10), metrics=False)  # fmt: skip
    result = run_grouper(options, GrouperClients(s3=s3))
    config = BundlerConfig(archive_bucket=archive, archive_prefix=PREFIX, maxsize=MAXSIZE)
    manifests = [S3Uri(manifest_bucket, k) for k in result.summary.manifest_keys()]
    for manifest in manifests:
        ManifestJob(s3, config, manifest).run()
    if not versioned:
        s3.put_object(Bucket=source, Key=DLQD, Body=payload(DLQD, sizes[DLQD]))
        s3.put_object(Bucket=source, Key=CHANGED, Body=b"rewritten after it was archived")
    return PruneJob(result.summary_uri, source, archive, manifests, list(sizes), versions)


def prune(job: PruneJob, tmp_path: Path, *extra: str, name: str = "report.csv"):
    """Run ``s3bundler prune`` as a subprocess: (result, report rows by key)."""
    report = tmp_path / name
    result = run_cli("s3bundler", "prune", str(job.summary_uri), "--report", str(report),
                     "--reconcile-report", str(tmp_path / "reconcile.csv"), *extra)  # fmt: skip
    rows: dict[str, dict[str, str]] = {}
    if report.exists():
        with open(report, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            assert tuple(reader.fieldnames or ()) == REPORT_COLUMNS
            for row in reader:
                rows[row["key"] + (f"?{row['version_id']}" if row["version_id"] else "")] = row
    return result, rows


def source_keys(s3, bucket: str) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def log_keys(s3, job: PruneJob) -> list[str]:
    prefix = f"{PREFIX}/prune/"
    return sorted(source_keys_under(s3, job.archive_bucket, prefix))


def source_keys_under(s3, bucket: str, prefix: str) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


@pytest.fixture()
def job(s3, buckets) -> PruneJob:
    return make_job(s3, buckets)


KEPT = {FLAGGED: "changed-since-inventory", DLQD: "dlq", CHANGED: "changed-since-archived"}


def verified(job: PruneJob) -> set[str]:
    return set(job.keys) - set(KEPT)


def test_the_dry_run_deletes_nothing_and_lists_exactly_the_verified_objects(s3, job, tmp_path):
    before = source_keys(s3, job.source)
    result, rows = prune(job, tmp_path)
    assert result.returncode == 0, result.stderr
    assert source_keys(s3, job.source) == before
    assert log_keys(s3, job) == []
    assert {k for k, r in rows.items() if r["action"] == "delete"} == verified(job)
    assert {k: r["reason"] for k, r in rows.items() if r["action"] == "kept"} == KEPT
    out = result.stdout
    assert "dry run: nothing is deleted" in out
    assert "reconcile      complete: all 24 selected objects accounted for" in out
    size = sum(int(rows[k]["size"]) for k in verified(job))
    assert f"would delete   {len(verified(job))} objects, {size} bytes" in out
    assert "savings        $0.00 per month once deleted (us-east-1 list prices" in out
    assert "DeleteObjects" not in out and "PutObject" not in out


def test_yes_deletes_exactly_the_verified_objects_and_says_why_others_stay(s3, job, tmp_path):
    result, rows = prune(job, tmp_path, "--yes", "--batch-size", "7")
    assert result.returncode == 0, result.stderr
    assert source_keys(s3, job.source) == set(KEPT)
    assert {k for k, r in rows.items() if r["action"] == "deleted"} == verified(job)
    kept = {k: r for k, r in rows.items() if r["action"] == "kept"}
    assert {k: r["reason"] for k, r in kept.items()} == KEPT
    assert kept[DLQD]["detail"].startswith("NoSuchKey")
    assert kept[FLAGGED]["detail"] == "size-changed;etag-changed"
    assert "now 31 bytes" in kept[CHANGED]["detail"]
    copied = {k for k, r in rows.items() if r["evidence"] == "copy-etag=md5"}
    assert copied == {"data/003.bin", "data/013.bin", "data/023.bin"}
    # the log: every deleted object listed with where its bytes are, and each batch answered
    logged: dict[str, dict[str, str]] = {}
    keys = log_keys(s3, job)
    for key in keys:
        body = s3.get_object(Bucket=job.archive_bucket, Key=key)["Body"].read().decode()
        if not key.endswith(".result.csv"):
            logged.update({r["key"]: r for r in csv.DictReader(body.splitlines())})
        else:
            assert {r["outcome"] for r in csv.DictReader(body.splitlines())} == {"deleted"}
    assert set(logged) == verified(job)
    assert all(r["archive"] == rows[k]["location"] for k, r in logged.items())
    assert len([k for k in keys if k.endswith(".result.csv")]) * 2 == len(keys)
    assert "deleted        21 objects" in result.stdout
    # again: everything is done, nothing is sent
    again, rows = prune(job, tmp_path, "--yes", name="again.csv")
    assert again.returncode == 0, again.stderr
    assert {k for k, r in rows.items() if r["action"] == "done-before"} == verified(job)
    requests = next(line for line in again.stdout.splitlines() if "requests" in line)
    assert "DeleteObjects" not in requests and "PutObject" not in requests


def test_an_object_archived_and_also_in_the_dlq_is_kept(s3, buckets, tmp_path):
    """Listed twice: archived once, the repetition a DuplicateRow DLQ row -- accounted for by
    reconcile, and kept by prune, which never deletes an object a DLQ index names."""
    job = make_job(s3, buckets, twice="data/001.bin")
    result, rows = prune(job, tmp_path, "--yes")
    assert result.returncode == 0, result.stderr
    assert rows["data/001.bin"]["action"] == "kept" and rows["data/001.bin"]["reason"] == "dlq"
    assert "data/001.bin" in source_keys(s3, job.source)
    assert source_keys(s3, job.source) == {*KEPT, "data/001.bin"}


def test_versioned_bucket_loses_the_archived_version_only(s3, buckets, tmp_path):
    job = make_job(s3, buckets, versioned=True, objects=12)
    newer = s3.put_object(Bucket=job.source, Key=NEWER, Body=b"written after archiving")
    result, rows = prune(job, tmp_path, "--yes")
    assert result.returncode == 0, result.stderr
    assert {k for k, r in rows.items() if r["action"] == "deleted"} == {
        f"{k}?{v}" for k, v in job.versions.items()
    }
    listing = s3.list_object_versions(Bucket=job.source)
    left = [(v["Key"], v["VersionId"]) for v in listing.get("Versions", [])]
    assert left == [(NEWER, newer["VersionId"])]
    assert listing.get("DeleteMarkers", []) == []  # versions deleted, no marker added
    assert s3.get_object(Bucket=job.source, Key=NEWER)["Body"].read() == b"written after archiving"


def test_an_incomplete_job_is_refused_unless_only_names_the_objects(s3, job, tmp_path):
    uri = job.catalog(1)
    table = read_catalog(s3, uri).to_pylist()
    gone = next(r for r in table if r["status"] == "archived")
    put_catalog(s3, uri, [r for r in table if r is not gone])
    before = source_keys(s3, job.source)
    refused, rows = prune(job, tmp_path, "--yes")
    assert refused.returncode == 1 and rows == {}
    assert "refused: reconcile does not call the job complete" in refused.stderr
    assert "INCOMPLETE: missing 1" in refused.stdout
    assert source_keys(s3, job.source) == before and log_keys(s3, job) == []
    wanted = ["data/000.bin", "data/001.bin", DLQD, gone["key"]]
    only = tmp_path / "only.csv"
    only.write_text("bucket,key\n" + "".join(f"{job.source},{k}\n" for k in wanted)
                    + "elsewhere,data/999.bin\n")  # fmt: skip
    result, rows = prune(job, tmp_path, "--yes", "--only", str(only))
    assert result.returncode == 0, result.stderr
    assert "warning: the job is incomplete" in result.stderr
    assert source_keys(s3, job.source) == before - {"data/000.bin", "data/001.bin"}
    assert {k: (r["action"], r["reason"]) for k, r in rows.items()} == {
        "data/000.bin": ("deleted", ""),
        "data/001.bin": ("deleted", ""),
        DLQD: ("kept", "dlq"),
        gone["key"]: ("kept", "not-in-catalog"),
        "data/999.bin": ("kept", "not-in-job"),
    }


# -- killed mid-run ---------------------------------------------------------------------------

#: Runs the CLI with every DeleteObjects entry appended to COUNT_FILE before it is sent, and
#: SIGKILLs itself right after the call named by KILL_AFTER ("PutObject:<key suffix>" or
#: "DeleteObjects:<n>") returns.
BOOTSTRAP = """
import json, os, signal, sys
import botocore.client
count_file, kill_after = sys.argv[1], sys.argv[2]
original = botocore.client.BaseClient._make_api_call
deletes = [0]
def call(self, operation, params):
    if operation == "DeleteObjects":
        with open(count_file, "a") as f:
            for o in params["Delete"]["Objects"]:
                f.write(json.dumps([o["Key"], o.get("VersionId", "")]) + "\\n")
        deletes[0] += 1
    answer = original(self, operation, params)
    what, _, arg = kill_after.partition(":")
    if what == operation and (
        (what == "PutObject" and params["Key"].endswith(arg))
        or (what == "DeleteObjects" and deletes[0] == int(arg))
    ):
        os.kill(os.getpid(), signal.SIGKILL)
    return answer
botocore.client.BaseClient._make_api_call = call
from s3bundler.cli import main
sys.exit(main(sys.argv[3:]))
"""


def run_counted(tmp_path: Path, kill_after: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BOOTSTRAP, str(tmp_path / "deletes.jsonl"), kill_after, *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize(
    "kill_after",
    ["PutObject:000001.csv", "PutObject:000002.csv", "DeleteObjects:2"],
    ids=["logged-not-sent", "one-sent-next-logged", "sent-not-answered"],
)
def test_a_killed_run_resumes_without_deleting_anything_twice(s3, job, tmp_path, kill_after):
    args = ["prune", str(job.summary_uri), "--yes", "--batch-size", "4", "--no-progress",
            "--reconcile-report", str(tmp_path / "r.csv")]  # fmt: skip
    killed = run_counted(tmp_path, kill_after, *args, "--report", str(tmp_path / "1.csv"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert log_keys(s3, job), "the kill came before the first log"
    resumed = run_counted(tmp_path, "none", *args, "--report", str(tmp_path / "2.csv"))
    assert resumed.returncode == 0, resumed.stderr
    sent = [
        tuple(json.loads(line)) for line in (tmp_path / "deletes.jsonl").read_text().splitlines()
    ]
    assert sorted(k for k, _ in sent) == sorted(verified(job))  # each exactly once
    assert source_keys(s3, job.source) == set(KEPT)
    with open(tmp_path / "2.csv", newline="", encoding="utf-8") as f:
        second = {r["key"]: r for r in csv.DictReader(f)}
    before = {k for k, r in second.items() if r["action"] == "done-before"}
    now = {k for k, r in second.items() if r["action"] == "deleted"}
    assert before | now == verified(job) and not before & now
    if kill_after == "PutObject:000001.csv":
        assert before == set()  # logged, never sent: all deleted by the rerun
    if kill_after == "DeleteObjects:2":
        unanswered = {k for k, r in second.items() if "whose answer was not logged" in r["detail"]}
        (log,) = [k for k in log_keys(s3, job) if k.endswith("manifest.0/000002.csv")]
        body = s3.get_object(Bucket=job.archive_bucket, Key=log)["Body"].read().decode()
        assert unanswered == {r["key"] for r in csv.DictReader(body.splitlines())}


def test_usage_errors_and_help(aws, tmp_path):
    helped = run_cli("s3bundler", "prune", "--help")
    assert helped.returncode == 0 and "examples:" in helped.stdout and "--yes" in helped.stdout
    listed = run_cli("s3bundler", "--help")
    assert "s3bundler prune" in listed.stdout
    bad = run_cli("s3bundler", "prune", "s3://b/x.job.json", "--batch-size", "1001")
    assert bad.returncode == 2 and "at most 1000" in bad.stderr
    missing = run_cli("s3bundler", "prune", "s3://b/x.job.json", "--only", str(tmp_path / "no"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert missing.stderr.startswith("s3bundler prune: error: --only ")
    prices = tmp_path / "prices.json"
    prices.write_text("[1, 2]")
    wrong = run_cli("s3bundler", "prune", "s3://b/x.job.json", "--prices", str(prices))
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1
    assert wrong.stderr.startswith(f"s3bundler prune: error: --prices {prices}: not a JSON")
