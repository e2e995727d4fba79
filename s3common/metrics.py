"""CloudWatch progress metrics, namespace ``S3Bundler``.

Both tools publish a handful of values per unit of work (one PutMetricData call, batched).
Publishing is best effort: a failure is logged as a warning and never fails the work.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from s3common.aws import AWS_ERRORS, describe

log = logging.getLogger(__name__)

NAMESPACE = "S3Bundler"
_BATCH = 1000  # PutMetricData takes up to 1,000 datums per call

COUNT = "Count"
BYTES = "Bytes"
SECONDS = "Seconds"


class Metrics:
    """``Metrics(cloudwatch_client)``; ``Metrics(None)`` publishes nothing (``--no-metrics``)."""

    def __init__(self, cloudwatch: Any | None, namespace: str = NAMESPACE) -> None:
        self._cw = cloudwatch
        self.namespace = namespace
        self.published = 0

    @property
    def enabled(self) -> bool:
        return self._cw is not None

    def publish(
        self,
        values: Mapping[str, tuple[float, str]],
        per_dimension: Mapping[tuple[str, str, str], tuple[float, str]] | None = None,
    ) -> bool:
        """``values``: name -> (value, unit). ``per_dimension``: (name, dimension, value) ->
        (value, unit), e.g. ("ObjectErrors", "Reason", "NoSuchKey"). Returns True when sent."""
        if self._cw is None:
            return False
        data = [
            {"MetricName": name, "Value": float(v), "Unit": unit}
            for name, (v, unit) in values.items()
        ]
        for (name, dim, dim_value), (v, unit) in (per_dimension or {}).items():
            data.append(
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": dim, "Value": dim_value}],
                    "Value": float(v),
                    "Unit": unit,
                }
            )
        try:
            for i in range(0, len(data), _BATCH):
                self._cw.put_metric_data(Namespace=self.namespace, MetricData=data[i : i + _BATCH])
        except AWS_ERRORS as exc:
            log.warning("cannot publish metrics to CloudWatch: %s", describe(exc))
            return False
        self.published += len(data)
        return True
