"""Queue message bodies -> sub-manifest locations.

Accepted: S3 event notifications (keys URL-encoded; ``s3:TestEvent`` and non-create events
ignored), the same wrapped in an SNS notification, and plain ``{"Bucket": ..., "Key": ...}``.
Anything else is a poison message.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from s3bundler.errors import PoisonMessage
from s3common.s3uri import S3Uri


def manifest_locations(body: str) -> list[S3Uri]:
    """The sub-manifests a message names; empty for messages to ignore (test events)."""
    try:
        doc: Any = json.loads(body)
    except (ValueError, TypeError) as exc:  # TypeError: an SNS "Message" that is not a string
        raise PoisonMessage(f"message is not JSON: {exc}") from None
    if isinstance(doc, dict) and doc.get("Type") == "Notification" and "Message" in doc:
        return manifest_locations(doc["Message"])  # S3 -> SNS -> SQS
    if not isinstance(doc, dict):
        raise PoisonMessage("message is not a JSON object")
    if doc.get("Event") == "s3:TestEvent":
        return []
    if "Records" in doc:
        if not isinstance(doc["Records"] or [], list):
            raise PoisonMessage("malformed S3 event: Records is not a list")
        out = []
        for record in doc["Records"] or []:
            try:
                if record.get("eventSource") != "aws:s3":
                    continue
                if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
                    continue
                bucket = record["s3"]["bucket"]["name"]
                key = unquote_plus(record["s3"]["object"]["key"])
            except (KeyError, TypeError, AttributeError) as exc:
                raise PoisonMessage(f"malformed S3 event record: missing {exc}") from None
            if not isinstance(bucket, str) or not bucket or not key:
                raise PoisonMessage("malformed S3 event record: empty bucket or key")
            out.append(S3Uri(bucket, key))
        return out
    bucket, key = doc.get("Bucket"), doc.get("Key")
    if isinstance(bucket, str) and isinstance(key, str) and bucket and key:
        return [S3Uri(bucket, key)]
    raise PoisonMessage('message is neither an S3 event nor {"Bucket": ..., "Key": ...}')
