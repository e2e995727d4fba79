"""When an archived object's tags are read (``--tags auto|always|never``).

S3 announces an object's tags in its GET (``x-amz-tagging-count``), so the bundler reads them
(a second request, GET ?tagging) only for objects that have some: one GET per untagged object.
A server that never sends that header would lose every tag without a trace. So:

- ``auto`` (default): trust the header, but check it per bucket: the first PROBE_OBJECTS
  objects of each bucket whose GET announces no tags get a tagging GET all the same. If one of
  them has tags, the server does not announce them: every object of that bucket gets a tagging
  GET from then on (one WARNING line). A GET that announces tags proves the header is sent: the
  bucket's probe ends there. A probe's tagging GET that fails adds no flag (the object
  announced none) and ends the probe (one WARNING line).
- ``always``: a tagging GET for every object.
- ``never``: no tagging GET; the index row has no tags and the flag ``tags-not-read``.

One TagReads serves a worker process (every manifest, every GET client), so a bucket is probed
once per process. Big-object copies always read tags (copier.py): they are copied with them.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)

TAG_MODES = ("auto", "always", "never")
PROBE_OBJECTS = 16
NOT_READ_FLAG = "tags-not-read"

_PROBING, _TRUSTED, _ALWAYS = "probing", "trusted", "always"


class TagReads:
    """The ``--tags`` policy and, for ``auto``, each bucket's probe. Thread-safe."""

    def __init__(self, mode: str = "auto", probe_objects: int = PROBE_OBJECTS) -> None:
        if mode not in TAG_MODES:
            raise ValueError(f"tags mode {mode!r}: not one of {', '.join(TAG_MODES)}")
        self.mode = mode
        self._probe_objects = probe_objects
        self._lock = threading.Lock()
        self._state: dict[str, str] = {}
        self._probed: dict[str, int] = {}

    def wanted(self, bucket: str, tag_count: int) -> bool:
        """Should this object (whose GET announced ``tag_count`` tags) get a tagging GET?"""
        if self.mode != "auto":
            return self.mode == "always"
        with self._lock:
            state = self._state.setdefault(bucket, _PROBING)
            if tag_count:
                if state == _PROBING:
                    self._state[bucket] = _TRUSTED
                return True
            if state != _PROBING:
                return state == _ALWAYS
            self._probed[bucket] = probed = self._probed.get(bucket, 0) + 1
            if probed > self._probe_objects:
                self._state[bucket] = _TRUSTED
                return False
            return True

    def not_read(self) -> tuple[dict[str, str], str]:
        """(tags, flag or "") of an object whose tags were not read."""
        return {}, NOT_READ_FLAG if self.mode == "never" else ""

    def result(
        self,
        bucket: str,
        key: str,
        tag_count: int,
        tags: dict[str, str] | None,
        code: str = "",
        detail: str = "",
    ) -> tuple[dict[str, str] | None, str]:
        """(tags, flag or "") for the index row from a tagging GET's answer: ``tags``, or None,
        the error ``code`` and its ``detail``. Records what the probe learnt."""
        probe = not tag_count and self.mode == "auto"
        if tags is None:
            if probe and self._state.get(bucket) != _ALWAYS:
                self._settle(bucket, _TRUSTED, "cannot read tags of s3://%s/%s to check that "
                             "GETs announce them (%s); trusting x-amz-tagging-count",
                             bucket, key, code)  # fmt: skip
                return {}, ""
            log.warning("cannot read tags of s3://%s/%s: %s", bucket, key, detail or code)
            return None, f"tags-unreadable:{code}"
        if probe and tags:
            self._settle(bucket, _ALWAYS, "s3://%s/%s has %d tag(s) but its GET announced none "
                         "(no x-amz-tagging-count): every object of s3://%s gets a tagging GET "
                         "from now on", bucket, key, len(tags), bucket)  # fmt: skip
        return tags, ""

    def _settle(self, bucket: str, state: str, *message: object) -> None:
        with self._lock:
            if self._state.get(bucket) in (state, _ALWAYS):
                return
            self._state[bucket] = state
        log.warning(*message)


def trust_announced() -> TagReads:
    """Tags read exactly when the GET announces them, no probe (what the fetchers do when they
    are given no policy)."""
    return TagReads("auto", probe_objects=0)
