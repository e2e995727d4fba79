import json
from collections import Counter

import pytest

from s3bundler.counts import Counts
from s3bundler.report import ManifestReport, report_key


def sample() -> ManifestReport:
    counts = Counts(
        objects=5,
        archived=3,
        archived_bytes=300,
        copied=1,
        copied_bytes=10**10,
        errors=Counter({"NoSuchKey": 1}),
    )
    return ManifestReport(
        manifest="s3://m/p/x.0.index",
        counts=counts,
        seconds=1.5,
        requests={"PutObject": 4, "GetObject": 3},
        storage_class="GLACIER",
    )


def test_report_round_trip():
    report = sample()
    assert ManifestReport.from_json(report.to_json()) == report
    assert report_key("p/x.0.index") == "p/x.0.index.done"


def test_report_json_is_the_documented_flat_document():
    doc = json.loads(sample().to_json())
    assert doc == {
        "format": "s3bundler-done/1",
        "manifest": "s3://m/p/x.0.index",
        "objects": 5,
        "archived": 3,
        "archived_bytes": 300,
        "copied": 1,
        "copied_bytes": 10**10,
        "failed": 1,
        "errors": {"NoSuchKey": 1},
        "seconds": 1.5,
        "archive": "",
        "index": "",
        "dlq": "",
        "finished": "",
        "catalog": [],
        "requests": {"GetObject": 3, "PutObject": 4},
        "storage_class": "GLACIER",
    }


def test_a_report_written_before_requests_were_counted_still_reads():
    doc = json.loads(sample().to_json())
    del doc["requests"], doc["storage_class"]
    report = ManifestReport.from_json(json.dumps(doc))
    assert report.requests == {} and report.storage_class == ""
    assert report.counts == sample().counts


@pytest.mark.parametrize(
    "doc",
    [
        '{"format": "other"}',
        "[]",
        "not json",
        '{"manifest": "x"}',
        '{"format": "s3bundler-done/1", "manifest": "x"}',  # no counts
        '{"format": "s3bundler-done/1", "manifest": "x", "objects": 1, "archived": 0, '
        '"archived_bytes": 0, "copied": 0, "copied_bytes": 0, "failed": 2, '
        '"errors": {"NoSuchKey": 1}}',  # failed disagrees with errors
    ],
)
def test_report_rejects_other_documents(doc):
    with pytest.raises(ValueError, match="not an s3bundler completion report"):
        ManifestReport.from_json(doc)
