"""Public list prices of S3 (and SQS), by region: what a job costs and what it saves
(docs/costs.md).

The figures are one JSON document in the package (``s3common/prices.json``, format
``s3bundler-prices/1``); a user's file of the same format (``--prices FILE``) is merged over
it, key by key, so it need only hold what differs (one rate, one region). A region missing
from the table is priced with the default region's figures and a warning; a storage class
missing from it, as STANDARD with a warning.

Billing rules the figures come with (``rules``): sizes are GB = 2^30 bytes; GLACIER and
DEEP_ARCHIVE objects carry 40 KB of overhead each (8 KB at STANDARD rates and 32 KB at their
own); STANDARD_IA, ONEZONE_IA and GLACIER_IR bill at least 128 KB per object; lifecycle rules
by default do not transition objects under 128 KB.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from s3common.errors import UsageError

FORMAT = "s3bundler-prices/1"
STANDARD = "STANDARD"
#: S3 operations billed as "PUT, COPY, POST, LIST requests"; DELETE and CANCEL requests are
#: free; every other operation is billed as "GET, SELECT, and all other requests".
PUT_TIER = frozenset({
    "PutObject", "CopyObject", "UploadPart", "UploadPartCopy", "CreateMultipartUpload",
    "CompleteMultipartUpload", "ListObjects", "ListObjectsV2", "ListObjectVersions",
    "ListMultipartUploads", "ListParts", "ListBuckets", "PutObjectTagging", "PutObjectAcl",
    "PutObjectRetention", "PutObjectLegalHold", "RestoreObject",
})  # fmt: skip
FREE = frozenset({"DeleteObject", "DeleteObjects", "AbortMultipartUpload"})
#: Operations that write an object (or its parts) in the storage class it is created in; the
#: other PUT-tier operations (a PutObject of an index or report, LIST) are priced as STANDARD.
CLASS_WRITES = frozenset(
    {"CreateMultipartUpload", "UploadPart", "UploadPartCopy", "CompleteMultipartUpload",
     "CopyObject"}
)  # fmt: skip
_SECTIONS = (
    "storage_gb_month", "requests_per_1000", "retrieval_per_gb", "transition_per_1000",
    "restore_per_1000", "restore_per_gb",
)  # fmt: skip


def tier(operation: str) -> str:
    """``put``, ``get`` or ``free``: how S3 bills one request of ``operation``."""
    if operation in FREE:
        return "free"
    return "put" if operation in PUT_TIER else "get"


def default_document() -> dict[str, Any]:
    """The table shipped with the package."""
    text = resources.files("s3common").joinpath("prices.json").read_text(encoding="utf-8")
    return json.loads(text)


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``, key by key: mappings merge, anything else replaces."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_override(path: str) -> dict[str, Any]:
    """A user's price file (the table's format, any subset of it); UsageError naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"--prices {path}: cannot read: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"--prices {path}: not a JSON object")
    if doc.get("format", FORMAT) != FORMAT:
        raise UsageError(f"--prices {path}: format {doc.get('format')!r}, expected {FORMAT}")
    return doc


def load_prices(region: str | None = None, path: str | None = None) -> Prices:
    """The prices of ``region`` (default: the table's default region), with ``path`` merged
    over the shipped table."""
    doc = default_document()
    source = "s3common/prices.json"
    if path:
        doc = merge(doc, read_override(path))
        source = f"s3common/prices.json + {path}"
    return Prices(doc, region, source)


@dataclass
class Prices:
    """One region's figures (the methods return dollars)."""

    document: Mapping[str, Any]
    asked: str | None = None
    source: str = "s3common/prices.json"
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        regions = self.document.get("regions") or {}
        default = str(self.document.get("default_region", "us-east-1"))
        name = self.asked or default
        if name not in regions:
            self.warnings.append(
                f"no prices for region {name}: priced with {default}'s (give --prices FILE)"
            )
            name = default
        self.region = name
        self.figures = _resolve(regions, name, self.source)
        rules = self.document.get("rules") or {}
        self.rules: Mapping[str, Any] = rules
        self.gb = float(rules.get("gb", 1 << 30))
        self._unknown: set[str] = set()

    # -- describing ---------------------------------------------------------------------------
    @property
    def currency(self) -> str:
        return str(self.document.get("currency", "USD"))

    @property
    def as_of(self) -> str:
        return str(self.document.get("as_of", "?"))

    def describe(self) -> dict[str, Any]:
        """For JSON outputs: which figures these are."""
        return {
            "region": self.region,
            "name": self.figures.get("name", self.region),
            "currency": self.currency,
            "as_of": self.as_of,
            "table": self.source,
            "source": self.document.get("source", ""),
            "unconfirmed": list(self.figures.get("unconfirmed") or []),
        }

    def line(self) -> str:
        return f"{self.region} list prices, {self.currency}, as of {self.as_of} ({self.source})"

    # -- rates --------------------------------------------------------------------------------
    def storage_class(self, storage_class: str | None) -> str:
        """``storage_class`` if the table prices it, else STANDARD (with a warning once)."""
        name = (storage_class or STANDARD).upper()
        if name in self.figures["storage_gb_month"]:
            return name
        if name not in self._unknown:
            self._unknown.add(name)
            self.warnings.append(f"no prices for storage class {name}: priced as {STANDARD}")
        return STANDARD

    def storage(self, storage_class: str) -> float:
        """$ per GB-month."""
        return self._rate("storage_gb_month", self.storage_class(storage_class))

    def request(self, storage_class: str, kind: str) -> float:
        """$ per request of tier ``kind`` (``put``/``get``) on objects of ``storage_class``."""
        if kind == "free":
            return 0.0
        table = self.figures["requests_per_1000"].get(self.storage_class(storage_class)) or {}
        return self._number(table.get(kind), f"requests_per_1000.{storage_class}.{kind}") / 1000

    def monthly_storage(self, bytes_by_class: Mapping[str, int]) -> float:
        """$ per month for storing these bytes, by storage class (no per-object rules)."""
        return sum(n / self.gb * self.storage(c) for c, n in bytes_by_class.items())

    def retrieval(self, storage_class: str) -> float:
        """$ per GB read from ``storage_class`` (0 for classes without a retrieval fee)."""
        return self._rate("retrieval_per_gb", self.storage_class(storage_class), missing=0.0)

    def transition(self, storage_class: str) -> float:
        """$ per lifecycle transition into ``storage_class``."""
        return self._rate("transition_per_1000", self.storage_class(storage_class)) / 1000

    def restore(self, storage_class: str, restore_tier: str = "Bulk") -> tuple[float, float]:
        """($ per restore request, $ per GB restored) for ``storage_class`` at ``restore_tier``."""
        cls = self.storage_class(storage_class)
        per_request = self.figures.get("restore_per_1000", {}).get(cls, {}).get(restore_tier)
        per_gb = self.figures.get("restore_per_gb", {}).get(cls, {}).get(restore_tier)
        if per_request is None:
            return 0.0, 0.0
        path = f"restore_per_1000.{cls}.{restore_tier}"
        return self._number(per_request, path) / 1000, self._number(per_gb or 0, path)

    def monitoring(self) -> float:
        """$ per INTELLIGENT_TIERING object monitored, per month."""
        key = "intelligent_tiering_monitoring_per_1000_objects"
        return self._number(self.figures.get(key, 0), key) / 1000

    def sqs(self) -> float:
        """$ per SQS request."""
        return self._number(self.figures.get("sqs_per_million", 0), "sqs_per_million") / 1e6

    def compute(self, vcpu_hours: float, gb_hours: float) -> float:
        """$ for this much Fargate Spot capacity (the bundler's default capacity provider)."""
        rates = self.figures.get("compute_per_hour") or {}
        vcpu = self._number(rates.get("vcpu", 0), "compute_per_hour.vcpu")
        gb = self._number(rates.get("gb", 0), "compute_per_hour.gb")
        return vcpu_hours * vcpu + gb_hours * gb

    # -- rules --------------------------------------------------------------------------------
    def overhead(self, storage_class: str) -> tuple[int, int]:
        """(bytes billed at STANDARD, bytes billed at the class's rate) per object."""
        rule = (self.rules.get("archive_overhead_bytes") or {}).get(storage_class.upper())
        if not rule:
            return 0, 0
        return int(rule.get("STANDARD", 0)), int(rule.get("own", 0))

    def min_billable(self, storage_class: str) -> int:
        return int((self.rules.get("min_billable_bytes") or {}).get(storage_class.upper(), 0))

    @property
    def lifecycle_min(self) -> int:
        """Objects smaller than this are not transitioned by default lifecycle rules."""
        return int(self.rules.get("lifecycle_min_transition_bytes", 128 << 10))

    @property
    def monitored_min(self) -> int:
        return int(self.rules.get("intelligent_tiering_monitored_min_bytes", 128 << 10))

    # -- costs --------------------------------------------------------------------------------
    def stored(self, storage_class: str, objects: int, billable_bytes: int) -> float:
        """$ per month for ``objects`` objects of ``billable_bytes`` bytes (each already at
        least :meth:`min_billable`) in ``storage_class``, with the per-object overhead."""
        cls = self.storage_class(storage_class)
        std, own = self.overhead(cls)
        rate = self.storage(cls)
        return (
            billable_bytes / self.gb * rate
            + objects * own / self.gb * rate
            + objects * std / self.gb * self.storage(STANDARD)
        )

    def operation(self, operation: str, write_class: str = STANDARD) -> float:
        """$ per request of ``operation``; writes that create objects in a storage class
        (:data:`CLASS_WRITES`) at ``write_class``'s rate, everything else at STANDARD's."""
        cls = write_class if operation in CLASS_WRITES else STANDARD
        return self.request(cls or STANDARD, tier(operation))

    def requests(self, counts: Mapping[str, int], write_class: str = STANDARD) -> dict[str, float]:
        """$ per operation for request ``counts`` (see :meth:`operation`)."""
        return {op: n * self.operation(op, write_class) for op, n in sorted(counts.items())}

    # -- helpers ------------------------------------------------------------------------------
    def _rate(self, section: str, key: str, missing: float | None = None) -> float:
        value = self.figures.get(section, {}).get(key)
        if value is None and missing is not None:
            return missing
        return self._number(value, f"{section}.{key}")

    def _number(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise UsageError(
                f"{self.source}: regions.{self.region}.{path}: expected a price >= 0, got {value!r}"
            )
        return float(value)


def _resolve(regions: Mapping[str, Any], name: str, source: str) -> dict[str, Any]:
    """A region's figures, following ``base`` (a region it repeats, with differences)."""
    seen: list[str] = []
    figures: dict[str, Any] = {}
    while name:
        if name in seen or name not in regions or not isinstance(regions[name], Mapping):
            raise UsageError(f"{source}: region {name!r}: bad or circular 'base'")
        seen.append(name)
        figures = merge(regions[name], figures)
        name = str(regions[name].get("base") or "")
    for section in _SECTIONS[:2]:
        if not isinstance(figures.get(section), Mapping):
            raise UsageError(f"{source}: region {seen[0]!r} has no {section}")
    if "name" in regions[seen[0]]:
        figures["name"] = regions[seen[0]]["name"]
    if "unconfirmed" in regions[seen[0]]:
        figures["unconfirmed"] = regions[seen[0]]["unconfirmed"]
    return figures
