import json

import pytest

from s3common.errors import UsageError
from s3common.prices import FORMAT, default_document, load_prices, merge, tier


def test_the_shipped_table_prices_every_class_the_bundler_writes_in_two_regions_and_an_eu_one():
    from s3common.request_options import STORAGE_CLASSES

    doc = default_document()
    assert doc["format"] == FORMAT
    for region in ("us-east-1", "eu-west-1", "eu-central-1"):
        prices = load_prices(region)
        assert prices.region == region and not prices.warnings
        for cls in STORAGE_CLASSES:
            assert prices.storage(cls) > 0
            assert prices.request(cls, "put") > 0 and prices.request(cls, "get") > 0
    us = load_prices("us-east-1")
    assert us.storage("STANDARD") == 0.023 and us.storage("DEEP_ARCHIVE") == 0.00099
    assert us.request("STANDARD", "put") == pytest.approx(0.005 / 1000)
    assert us.transition("GLACIER") == pytest.approx(0.03 / 1000)


def test_archive_classes_carry_40_kb_per_object_and_ia_classes_bill_128_kb():
    prices = load_prices("us-east-1")
    assert prices.overhead("GLACIER") == (8192, 32768) == prices.overhead("DEEP_ARCHIVE")
    assert prices.overhead("STANDARD") == (0, 0)
    assert prices.min_billable("STANDARD_IA") == 128 << 10 == prices.min_billable("GLACIER_IR")
    assert prices.min_billable("GLACIER") == 0
    gb = 1 << 30
    # one empty object in GLACIER: 32 KiB at GLACIER's rate + 8 KiB at STANDARD's
    assert prices.stored("GLACIER", 1, 0) == pytest.approx(32768 / gb * 0.0036 + 8192 / gb * 0.023)


def test_an_unknown_region_or_class_is_priced_with_a_warning():
    prices = load_prices("ap-southeast-7")
    assert prices.region == "us-east-1"
    assert "ap-southeast-7" in prices.warnings[0]
    assert prices.storage("OUTPOSTS") == prices.storage("STANDARD")
    assert any("OUTPOSTS" in w for w in prices.warnings)


def test_request_tiers_and_which_class_a_write_is_priced_in():
    assert tier("PutObject") == tier("ListObjectsV2") == tier("UploadPartCopy") == "put"
    assert tier("GetObject") == tier("HeadObject") == tier("GetObjectTagging") == "get"
    assert tier("DeleteObject") == tier("AbortMultipartUpload") == "free"
    prices = load_prices("us-east-1")
    costs = prices.requests(
        {"UploadPart": 1000, "PutObject": 1000, "GetObject": 1000, "DeleteObject": 9}, "GLACIER"
    )
    assert costs == pytest.approx(
        {"UploadPart": 0.03, "PutObject": 0.005, "GetObject": 0.0004, "DeleteObject": 0.0}
    )


def test_a_partial_file_merges_over_the_table(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"regions": {
        "us-east-1": {"storage_gb_month": {"GLACIER": 0.002}},
        "xx-test-1": {"base": "eu-central-1", "requests_per_1000": {"STANDARD": {"get": 1.0}}},
    }}))  # fmt: skip
    us = load_prices("us-east-1", str(path))
    assert us.storage("GLACIER") == 0.002 and us.storage("STANDARD") == 0.023
    xx = load_prices("xx-test-1", str(path))
    assert xx.request("STANDARD", "get") == pytest.approx(0.001)
    assert xx.request("STANDARD", "put") == pytest.approx(0.0054 / 1000)
    assert xx.storage("STANDARD") == 0.0245
    assert merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}) == {"a": {"b": 3, "c": 2}}


@pytest.mark.parametrize(
    "content, message",
    [
        ("{", "cannot read"),
        ("[]", "not a JSON object"),
        ('{"format": "other/1"}', "format"),
        ('{"regions": {"us-east-1": {"storage_gb_month": {"STANDARD": "cheap"}}}}', "STANDARD"),
        ('{"regions": {"us-east-1": {"base": "us-east-1"}}}', "circular"),
    ],
)
def test_a_bad_price_file_is_a_usage_error_naming_it(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UsageError, match=message):
        load_prices("us-east-1", str(path)).storage("STANDARD")
    with pytest.raises(UsageError, match="cannot read"):
        load_prices("us-east-1", str(tmp_path / "missing.json"))


def test_compute_is_priced_per_vcpu_hour_and_gb_hour_in_every_shipped_region():
    for region in ("us-east-1", "eu-west-1", "eu-central-1"):
        prices = load_prices(region)
        assert prices.compute(1, 0) == pytest.approx(0.0123)
        assert prices.compute(0, 2) == pytest.approx(0.0027)
        unconfirmed = prices.describe()["unconfirmed"]
        assert any(u.startswith(("compute_per_hour", "*")) for u in unconfirmed), region


def test_a_negative_compute_price_is_a_usage_error(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"regions": {"us-east-1": {"compute_per_hour": {"vcpu": -1}}}}))
    with pytest.raises(UsageError, match=r"compute_per_hour\.vcpu"):
        load_prices("us-east-1", str(path)).compute(1, 0)
