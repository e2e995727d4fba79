"""Fault rules: which requests a fault applies to, how often, and when.

A rule is a JSON object (see :mod:`tests.endpoint` for the whole list of fields)::

    {"kind": "error", "service": "s3", "operation": ["GetObject"], "bucket": "src",
     "key_prefix": "big/", "range": false, "rate": 0.05, "count": 10, "start": 2, "stop": 30,
     "status": 503, "code": "SlowDown"}

Matching is static (service, operation, bucket, key prefix, Range present) and timed (seconds
since the rule was set). A matching request then draws from the rule's seeded RNG
(``rate``) and takes one of its ``count`` budget: only then does the rule *fire*.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from tests.endpoint.classify import RequestInfo

#: Faults applied before the request reaches moto (nothing is stored).
BEFORE = frozenset({"error", "reset", "outage"})
#: Faults applied to moto's answer (the request took effect).
AFTER = frozenset({"cut", "corrupt", "reset_after"})
#: Checks of what a request carries, answered as S3 would when it is wrong (nothing stored):
#: ``owner`` -- a request to the rule's buckets whose ``x-amz-expected-bucket-owner`` is not
#: ``account`` is 403 AccessDenied; ``sse_c`` -- reading an object of the rule's buckets
#: without the SSE-C key whose MD5 is ``key_md5`` is 400 InvalidRequest.
CHECKS = frozenset({"owner", "sse_c"})
KINDS = frozenset({"latency", "copy_checksum"} | BEFORE | AFTER | CHECKS)


@dataclass
class Rule:
    kind: str
    name: str = ""
    # -- which requests
    service: str = ""  # "s3", "sqs", ..., "!s3" = any but S3; "" = any
    operation: list[str] = field(default_factory=list)  # [] = any
    bucket: list[str] = field(default_factory=list)  # [] = any
    key_prefix: str = ""
    range: bool | None = None  # True: only ranged requests; False: only unranged
    min_size: int = 0  # answers to damage (cut/corrupt/reset_after): body at least this long
    # -- how often, when
    rate: float = 1.0
    count: int | None = None  # fire at most this many times
    start: float = 0.0  # seconds after the rules were set
    stop: float | None = None
    seed: int | None = None
    # -- what
    ms: float = 0.0  # latency
    status: int = 503  # error
    code: str = "SlowDown"  # error
    message: str = ""  # error
    fraction: float = 0.5  # cut: share of the body sent before the connection closes
    offset: int | None = None  # corrupt: byte flipped (default: the middle)
    algorithm: str = ""  # copy_checksum: algorithm even when the request names none
    account: str = ""  # owner: the account that owns the matching buckets
    key_md5: str = ""  # sse_c: base64 MD5 of the customer key the objects were written with
    # -- counters (read back with GET /__faults/rules)
    matched: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (one of {sorted(KINDS)})")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate {self.rate} outside 0..1")
        if isinstance(self.operation, str):
            self.operation = [self.operation]
        if isinstance(self.bucket, str):
            self.bucket = [self.bucket]
        if self.kind == "outage" and not self.service:
            self.service = "s3"
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._installed = time.monotonic()  # start/stop count from here

    @classmethod
    def from_json(cls, doc: dict[str, Any], seed: int) -> Rule:
        known = {f.name for f in fields(cls)} - {"matched", "fired"}
        unknown = set(doc) - known
        if unknown:
            raise ValueError(f"unknown rule fields {sorted(unknown)}")
        rule = cls(**doc)
        if rule.seed is None:
            rule.seed = seed
            rule._rng = random.Random(seed)
        return rule

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def label(self) -> str:
        return self.name or self.kind

    def matches(self, req: RequestInfo, now: float) -> bool:
        """Static match and time window at ``now`` (``time.monotonic()``); no draw, no
        budget."""
        elapsed = now - self._installed
        if elapsed < self.start or (self.stop is not None and elapsed >= self.stop):
            return False
        if self.service:
            negate = self.service.startswith("!")
            if (req.service == self.service.lstrip("!")) == negate:
                return False
        if self.operation and req.operation not in self.operation:
            return False
        if self.bucket and req.bucket not in self.bucket:
            return False
        if self.key_prefix and not (req.bucket and req.key.startswith(self.key_prefix)):
            return False
        return self.range is None or bool(req.range) == self.range

    def fire(self) -> bool:
        """One matching request: draw against ``rate`` and take one of the ``count`` budget."""
        with self._lock:
            self.matched += 1
            if self.count is not None and self.fired >= self.count:
                return False
            if self.rate < 1.0 and self._rng.random() >= self.rate:
                return False
            self.fired += 1
            return True


def parse_rules(doc: Any) -> list[Rule]:
    """A JSON list of rules, or ``{"seed": n, "rules": [...]}``; rule i without a seed of its
    own draws from ``Random(seed * 1000 + i)``."""
    seed = 0
    if isinstance(doc, dict):
        seed = int(doc.get("seed", 0))
        doc = doc.get("rules", [])
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise ValueError("rules must be a JSON list of objects")
    return [Rule.from_json(r, seed * 1000 + i) for i, r in enumerate(doc)]
