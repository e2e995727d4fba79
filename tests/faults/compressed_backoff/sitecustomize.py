"""Imported at start-up by a worker whose PYTHONPATH holds this directory (tests/faults
only): botocore's retry delays times ``S3BUNDLER_FAULTS_BACKOFF_SCALE``.

With ``0.05`` a request's 10 retries back off at most 1 s each instead of 20 s, so they run
out within seconds: a 25-second outage then outlasts them as a several-minute outage outlasts
them in production. The number of attempts and everything else stay as configured.
"""

from __future__ import annotations

import os

_scale = float(os.environ.get("S3BUNDLER_FAULTS_BACKOFF_SCALE") or 1)
if _scale != 1:
    from botocore.retries import standard

    _delay = standard.ExponentialBackoff.delay_amount

    def _scaled(self: standard.ExponentialBackoff, context: object) -> float:
        return _delay(self, context) * _scale

    standard.ExponentialBackoff.delay_amount = _scaled  # type: ignore[method-assign]
