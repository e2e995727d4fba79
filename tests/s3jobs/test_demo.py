"""`make demo` runs s3jobs.demo; a smaller run of it proves the whole pipeline end to end."""

import pytest

from s3bundler.counts import Counts
from s3bundler.report import ManifestReport
from s3jobs.demo import report_to_show
from tests.helpers import run_cli


def test_demo_runs_the_whole_pipeline_and_verifies_it():
    result = run_cli("s3jobs.demo", "--objects", "200", "--workers", "2", timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "archived 192 + copied 3 + in DLQ indexes 5 = 200  OK" in result.stdout
    assert "demo passed" in result.stdout
    assert ": identical" in result.stdout


@pytest.mark.seaweedfs
def test_demo_with_s3_on_seaweedfs():
    """The archive bucket is made on SeaweedFS and handed to the stack deployed into moto;
    sub-manifests reach the queue from the grouper (SeaweedFS has no bucket notifications)."""
    result = run_cli(
        "s3jobs.demo", "--objects", "200", "--workers", "2", "--s3", "seaweedfs", timeout=240
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "AWS_ENDPOINT_URL_S3=" in result.stdout and "SeaweedFS 4.48" in result.stdout
    assert "ArchiveBucket      demo-archive" in result.stdout
    assert "archived 192 + copied 3 + in DLQ indexes 5 = 200  OK" in result.stdout
    assert "demo passed" in result.stdout and ": identical" in result.stdout


def test_the_archive_shown_is_listed_with_its_own_index():
    def report(n, archive="", index=""):
        counts = Counts(objects=1, copied=1, copied_bytes=5)
        return ManifestReport(f"s3://m/{n}.index", counts, archive=archive, index=index)

    only_copied = report(0)  # a sub-manifest of big objects: copied, no archive
    archived = report(1, "s3://a/1.tar|", "s3://a/1.tar.index")
    assert report_to_show([only_copied, archived]) is archived
    assert report_to_show([only_copied]) is None
