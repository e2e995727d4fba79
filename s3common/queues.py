"""SQS queues named by the user: one resolver of "name or URL" for every tool."""

from __future__ import annotations

from typing import Any

from s3common.aws import AWS_ERRORS, api_failed, error_code
from s3common.errors import UsageError

NO_QUEUE_CODES = frozenset(
    {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NonExistentQueue"}
)


def resolve_queue_url(sqs: Any, name_or_url: str, what: str = "--queue") -> str:
    """A queue URL from a name (looked up) or a URL (checked to exist). A queue that does not
    exist is a UsageError naming ``what`` (the flag or setting it came from)."""
    try:
        if name_or_url.startswith(("https://", "http://")):
            sqs.get_queue_attributes(QueueUrl=name_or_url, AttributeNames=["QueueArn"])
            return name_or_url
        return str(sqs.get_queue_url(QueueName=name_or_url)["QueueUrl"])
    except AWS_ERRORS as exc:
        if error_code(exc) in NO_QUEUE_CODES:
            raise UsageError(f"{what} {name_or_url}: no such queue") from None
        raise api_failed(f"{what} {name_or_url}", exc) from None
