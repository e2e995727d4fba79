"""What deleting archived source objects saves, per month, at AWS list prices.

The prices are Amazon S3's published storage prices for US East (N. Virginia), first-50-TB
tier, in USD per GB-month (GB = 2^30 bytes, as AWS bills), as listed on
https://aws.amazon.com/s3/pricing/ in 2025. They are the only prices here; other regions and
volume tiers differ (a few percent to ~30 %), so the figure is an estimate. Not counted:
minimum storage durations and sizes (an object in STANDARD_IA/ONEZONE_IA/GLACIER_IR is billed
for at least 128 KiB and 30/30/90 days, GLACIER and DEEP_ARCHIVE for 90/180 days, plus 40 KiB
of metadata each), request charges, and the archives themselves.
"""

from __future__ import annotations

from collections.abc import Mapping

PRICES_AS_OF = "AWS list prices, us-east-1, first 50 TB, 2025"
GIB = 1 << 30

#: USD per GB-month by storage class (INTELLIGENT_TIERING: its frequent-access tier).
STORAGE_PER_GB_MONTH: dict[str, float] = {
    "STANDARD": 0.023,
    "INTELLIGENT_TIERING": 0.023,
    "STANDARD_IA": 0.0125,
    "ONEZONE_IA": 0.01,
    "GLACIER_IR": 0.004,
    "GLACIER": 0.0036,
    "DEEP_ARCHIVE": 0.00099,
    "REDUCED_REDUNDANCY": 0.024,
}
#: HEAD/GET requests, USD per 1,000 (prune HEADs every object it deletes; DELETEs are free).
HEAD_PER_1000 = 0.0004


def price(storage_class: str) -> float:
    """USD per GB-month of a storage class (an unknown class: STANDARD's)."""
    return STORAGE_PER_GB_MONTH.get(storage_class or "STANDARD", STORAGE_PER_GB_MONTH["STANDARD"])


def monthly_savings(bytes_by_class: Mapping[str, int]) -> float:
    """USD per month no longer paid for these bytes."""
    return sum(n / GIB * price(c) for c, n in bytes_by_class.items())


def head_cost(heads: int) -> float:
    return heads / 1000 * HEAD_PER_1000
