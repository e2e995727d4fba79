"""The counters of a manifest's outcome, in one type: what the ledger counts, the completion
report stores, the ``manifest_done`` log line and the metrics show, and ``--wait`` sums."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from s3common.metrics import BYTES, COUNT, SECONDS

#: The fields as stored in a completion report (and their order in the log line).
FIELDS = ("objects", "archived", "archived_bytes", "copied", "copied_bytes", "failed", "errors")


@dataclass
class Counts:
    objects: int = 0  # rows of the sub-manifest(s)
    archived: int = 0
    archived_bytes: int = 0
    copied: int = 0
    copied_bytes: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # DLQ rows by reason

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @property
    def accounted(self) -> int:
        """Rows that ended somewhere: archived, copied or in the DLQ index."""
        return self.archived + self.copied + self.failed

    @property
    def bytes_done(self) -> int:
        return self.archived_bytes + self.copied_bytes

    def add(self, other: Counts) -> None:
        self.objects += other.objects
        self.archived += other.archived
        self.archived_bytes += other.archived_bytes
        self.copied += other.copied
        self.copied_bytes += other.copied_bytes
        self.errors.update(other.errors)

    def as_dict(self) -> dict[str, Any]:
        """The report's fields (``failed`` is stored too, for readers of the JSON)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in FIELDS}
        out["errors"] = dict(self.errors)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Counts:
        """From :meth:`as_dict`'s fields; ``failed`` is checked against ``errors``."""
        counts = cls(
            objects=int(raw["objects"]),
            archived=int(raw["archived"]),
            archived_bytes=int(raw["archived_bytes"]),
            copied=int(raw["copied"]),
            copied_bytes=int(raw["copied_bytes"]),
            errors=Counter({str(k): int(v) for k, v in dict(raw.get("errors") or {}).items()}),
        )
        if "failed" in raw and int(raw["failed"]) != counts.failed:
            raise ValueError(f"failed={raw['failed']} but errors add up to {counts.failed}")
        return counts

    def log_fields(self) -> dict[str, object]:
        """For the ``manifest_done`` line: errors as ``Reason:n,...`` (``-`` for none)."""
        out: dict[str, object] = {name: getattr(self, name) for name in FIELDS}
        out["errors"] = ",".join(f"{k}:{v}" for k, v in sorted(self.errors.items())) or "-"
        return out

    def metric_data(
        self, seconds: float
    ) -> tuple[dict[str, tuple[float, str]], dict[tuple[str, str, str], tuple[float, str]]]:
        """The worker's metrics for one manifest (docs/formats.md, "Metrics"): plain values,
        and ObjectErrors per Reason."""
        values = {
            "ObjectsArchived": (self.archived, COUNT),
            "BytesArchived": (self.archived_bytes, BYTES),
            "ObjectsCopied": (self.copied, COUNT),
            "BytesCopied": (self.copied_bytes, BYTES),
            "ObjectErrors": (self.failed, COUNT),
            "ManifestsCompleted": (1, COUNT),
            "ManifestSeconds": (seconds, SECONDS),
        }
        by_reason = {("ObjectErrors", "Reason", r): (n, COUNT) for r, n in self.errors.items()}
        return values, by_reason
