import pytest

from s3bundler.report import ManifestReport, report_key


def test_report_round_trip():
    report = ManifestReport(
        manifest="s3://m/p/x.0.index",
        objects=5,
        archived=3,
        archived_bytes=300,
        copied=1,
        copied_bytes=10**10,
        failed=1,
        errors={"NoSuchKey": 1},
        seconds=1.5,
    )
    assert ManifestReport.from_json(report.to_json()) == report
    assert report_key("p/x.0.index") == "p/x.0.index.done"


@pytest.mark.parametrize("doc", ['{"format": "other"}', "[]", '{"manifest": "x"}'])
def test_report_rejects_other_documents(doc):
    with pytest.raises((ValueError, TypeError)):
        ManifestReport.from_json(doc)
