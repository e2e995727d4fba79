"""JobFollower against the moto server: summaries and completion reports -> progress."""

from collections import Counter

from s3bundler.counts import Counts
from s3bundler.report import ManifestReport
from s3common.submanifest import JobSummary
from s3jobs.follow import Job, JobFollower


def _summary(bucket: str, manifests: int) -> JobSummary:
    return JobSummary(
        inventory="s3://inv/m.json",
        source_bucket="src",
        manifest_bucket=bucket,
        manifest_prefix="out",
        base_name="job",
        options={},
        manifests=manifests,
        objects=30,
        bytes=3000,
    )


def _report(key: str, archived: int, failed: int) -> bytes:
    counts = Counts(
        objects=archived + failed,
        archived=archived,
        archived_bytes=archived * 100,
        errors=Counter({"NoSuchKey": failed} if failed else {}),
    )
    return ManifestReport(manifest=key, counts=counts).to_json()


def test_progress_sums_reports_until_every_manifest_is_done(s3, bucket):
    job = Job("s3://inv/m.json", bucket, "out", "job")
    follower = JobFollower(s3, [job])
    assert follower.poll().jobs_grouped == 0 and not follower.done  # grouper not finished

    s3.put_object(Bucket=bucket, Key="out/job.job.json", Body=_summary(bucket, 2).to_json())
    s3.put_object(Bucket=bucket, Key="out/job.0.index", Body=b"x")
    s3.put_object(Bucket=bucket, Key="out/job.0.index.done", Body=_report("0", 9, 1))
    s3.put_object(Bucket=bucket, Key="out/job-other.0.index.done", Body=_report("x", 5, 0))
    p = follower.poll()
    assert (p.manifests, p.manifests_done, p.objects_done, p.done.failed) == (2, 1, 10, 1)
    assert not follower.done

    s3.put_object(Bucket=bucket, Key="out/job.1.index.done", Body=_report("1", 20, 0))
    p = follower.poll()
    assert follower.done
    d = p.done
    assert (d.archived, d.archived_bytes, p.objects, d.errors["NoSuchKey"]) == (29, 2900, 30, 1)
    assert "objects:   30/30 (archived 29, copied 0, in DLQ index 1)" in p.summary_lines()
