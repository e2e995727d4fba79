"""The completion report: ``s3://<manifest-bucket>/<manifest-key>.done``.

Written after the archive, index and DLQ index of a manifest are committed (and before its
metrics and message delete), so its presence means "this sub-manifest is finished" and its
counts are exact. ``submitmanifest.py --wait`` sums them to follow a job. JSON::

    {"format": "s3bundler-done/1", "manifest": "s3://...", "objects": 65000, "archived": ...,
     "archived_bytes": ..., "copied": ..., "copied_bytes": ..., "failed": ...,
     "errors": {"NoSuchKey": 3}, "seconds": 41.2, "archive": "s3://...|", "index": "...",
     "dlq": "s3://...|", "finished": "2024-01-31T12:00:00Z",
     "catalog": ["s3://.../catalog/bucket=src/x-manifest.0.parquet"],
     "requests": {"GetObject": 65002, "HeadObject": 2, "PutObject": 4, "UploadPart": 3, ...},
     "storage_class": "GLACIER"}

``requests`` are the S3 requests the worker made for the manifest, by operation, up to and
including the report's own PUT (all attempts, retries included; ``{}`` when not counted, and
in reports written before they were); ``storage_class`` is the class its archive and copies
were written in (``""``: the bucket's default). Both are what ``s3bundler --report`` and
``s3bundler reconcile --costs`` price (docs/costs.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from s3bundler.counts import Counts

REPORT_SUFFIX = ".done"
REPORT_FORMAT = "s3bundler-done/1"


@dataclass
class ManifestReport:
    manifest: str
    counts: Counts = field(default_factory=Counts)
    seconds: float = 0.0
    archive: str = ""
    index: str = ""
    dlq: str = ""
    finished: str = ""
    catalog: list[str] = field(default_factory=list)  # the catalog files written
    requests: dict[str, int] = field(default_factory=dict)  # S3 requests made, by operation
    storage_class: str = ""  # of the archive and copies; "" = the bucket's default
    format: str = REPORT_FORMAT

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            "manifest": self.manifest,
            **self.counts.as_dict(),
            "seconds": self.seconds,
            "archive": self.archive,
            "index": self.index,
            "dlq": self.dlq,
            "finished": self.finished,
            "catalog": self.catalog,
            "requests": dict(sorted(self.requests.items())),
            "storage_class": self.storage_class,
            "format": self.format,
        }
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str) -> ManifestReport:
        """Raises ValueError when ``data`` is not a completion report."""
        try:
            raw = json.loads(data)
            if not isinstance(raw, dict) or raw.get("format") != REPORT_FORMAT:
                raise ValueError("wrong or missing format")
            return cls(
                manifest=str(raw["manifest"]),
                counts=Counts.from_dict(raw),
                seconds=float(raw.get("seconds", 0.0)),
                archive=str(raw.get("archive", "")),
                index=str(raw.get("index", "")),
                dlq=str(raw.get("dlq", "")),
                finished=str(raw.get("finished", "")),
                catalog=[str(uri) for uri in raw.get("catalog") or []],
                requests={str(k): int(v) for k, v in dict(raw.get("requests") or {}).items()},
                storage_class=str(raw.get("storage_class") or ""),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not an s3bundler completion report: {exc}") from None


def report_key(manifest_key: str) -> str:
    return manifest_key + REPORT_SUFFIX
