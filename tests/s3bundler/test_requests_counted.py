"""The S3 requests the worker makes for a manifest, counted by operation (boto3's and awscrt's),
land in its completion report, the manifest_done line and ``--report``."""

import json

import pytest

from s3bundler.report import ManifestReport
from s3common.prices import load_prices
from s3common.s3uri import S3Uri
from s3common.sizes import MiB
from s3common.submanifest import ManifestEntry
from tests.helpers import run_cli
from tests.s3bundler.e2e import make_queue
from tests.s3bundler.sources import get_bytes, put_manifest, seed

#: The requests of one manifest of 6 small objects (one tagged), one missing and one big one
#: copied (CopyObject), written as one archive of one part, with ``--tags always`` (the default
#: ``auto`` adds a tagging GET for some of a bucket's first untagged objects, as many as are
#: read before the tagged one ends the check: tests/s3bundler/test_tag_reads.py):
EXPECTED = {
    "GetObject": 1 + 6 + 1,  # the sub-manifest, the small objects, the missing one (404)
    "GetObjectTagging": 6 + 1,  # every small object, the big one
    "HeadObject": 3 + 1,  # the archive keys .tar/.tar.gz/.tar.zst (ownership), the big object
    "ListMultipartUploads": 1,  # stale uploads of the archive key
    "CreateMultipartUpload": 1,
    "UploadPart": 1,
    "CompleteMultipartUpload": 1,
    "CopyObject": 1,
    "PutObject": 5,  # the copy's .metadata, index, DLQ index, catalog file, this report
    "DeleteObject": 1 + 2,  # a stale index, the archives of the other compression settings
}


def _manifest(s3, buckets, key="sub/x-manifest.0.index"):
    src_b, _, man_b = buckets
    sizes = {f"small/{i}": 100 + i for i in range(6)}
    sizes["big/one.bin"] = 11 * MiB
    src = seed(s3, src_b, sizes, meta_every=10**9, tag_every=10**9)
    s3.put_object_tagging(
        Bucket=src_b, Key="small/1", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
    )
    entries = [ManifestEntry(src_b, k, len(v)) for k, v in src.data.items()]
    entries.append(ManifestEntry(src_b, "gone/since-inventory", 7))
    return put_manifest(s3, man_b, key, entries)


def _report(s3, manifest: S3Uri) -> ManifestReport:
    return ManifestReport.from_json(get_bytes(s3, S3Uri(manifest.bucket, manifest.key + ".done")))


@pytest.mark.parametrize("get_client", ["crt", "boto3"])
def test_the_completion_report_counts_every_request_by_operation(s3, buckets, get_client):
    _, arch_b, _ = buckets
    manifest = _manifest(s3, buckets)
    args = ["-m", str(manifest), "-b", arch_b, "-s", "10MB", "--get-client", get_client,
            "--tags", "always"]  # fmt: skip
    result = run_cli("s3bundler", *args, "--storage-class", "GLACIER", "--report")
    assert result.returncode == 0, result.stderr
    report = _report(s3, manifest)
    assert report.requests == EXPECTED
    assert report.storage_class == "GLACIER"
    # manifest_done carries them last, in compact form
    done = next(line for line in result.stderr.splitlines() if "manifest_done" in line)
    assert done.endswith(" requests=" + ",".join(f"{k}:{v}" for k, v in sorted(EXPECTED.items())))
    # --report: the same counts, priced (writes into the archive at GLACIER's PUT rate)
    prices = load_prices("us-east-1")
    out = result.stdout.splitlines()
    assert out[0] == f"{manifest}: S3 requests at us-east-1 list prices (archive class GLACIER)"
    table = {line.split()[0]: line.split()[1:] for line in out[1:]}
    assert table["UploadPart"] == ["1", f"${prices.request('GLACIER', 'put'):.6f}"]
    assert table["PutObject"] == ["5", f"${5 * prices.request('STANDARD', 'put'):.6f}"]
    assert table["DeleteObject"] == ["3", "$0.00"]
    assert table["total"][0] == str(sum(EXPECTED.values()))


def test_a_queue_worker_counts_each_manifest_on_its_own(s3, sqs, buckets):
    _, arch_b, man_b = buckets
    url = make_queue(sqs, f"{man_b}-q")
    first = _manifest(s3, buckets, "sub/x-manifest.0.index")
    second = _manifest(s3, buckets, "sub/x-manifest.1.index")
    for manifest in (first, second):
        body = json.dumps({"Bucket": man_b, "Key": manifest.key})
        sqs.send_message(QueueUrl=url, MessageBody=body)
    result = run_cli(
        "s3bundler", "-q", url, "-b", arch_b, "-s", "10MB", "--max-messages", "2",
        "--tags", "always", "--idle-exit", "3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _report(s3, first).requests == EXPECTED == _report(s3, second).requests
