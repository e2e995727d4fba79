"""The grouper publishes ObjectsGrouped, BytesGrouped and ManifestsWritten to the local
CloudWatch; --no-metrics publishes nothing."""

from s3jobs import inventory_report as fx
from tests.helpers import metric_sum, run_cli


def test_grouper_metrics_land_in_cloudwatch(s3, bucket):
    rows = [{"Key": f"k/{i}", "Size": 10 * (i + 1)} for i in range(7)]
    manifest = fx.put_inventory(s3, bucket, rows, source_bucket="src-metrics")
    names = ("ObjectsGrouped", "BytesGrouped", "ManifestsWritten")
    before = {n: metric_sum(n) for n in names}
    result = run_cli("s3grouper", "-m", manifest, "-b", bucket, "-c", "3")
    assert result.returncode == 0, result.stderr
    delta = {n: metric_sum(n) - before[n] for n in names}
    assert delta == {"ObjectsGrouped": 7, "BytesGrouped": 280, "ManifestsWritten": 3}

    again = run_cli("s3grouper", "-m", manifest, "-b", bucket, "-p", "other", "--no-metrics")
    assert again.returncode == 0, again.stderr
    assert metric_sum("ObjectsGrouped") - before["ObjectsGrouped"] == 7
