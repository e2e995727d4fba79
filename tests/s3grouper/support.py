"""Running s3grouper as a subprocess and reading back what it wrote."""

from __future__ import annotations

import re
from typing import Any

from s3common.submanifest import JobSummary, ManifestEntry, read_manifest
from tests.helpers import CliResult, run_cli

PREFIX = "s3grouper-output"


def grouper(*args: str) -> CliResult:
    return run_cli("s3grouper", *args)


def objects(s3: Any, bucket: str) -> dict[str, dict[str, Any]]:
    """Every object in the bucket: key -> listing entry (ETag, LastModified, Size)."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = obj
    return out


def submanifests(
    s3: Any, bucket: str, prefix: str = PREFIX, name: str = "manifest"
) -> list[tuple[str, list[ManifestEntry]]]:
    """The sub-manifests (key, entries) of one name, in number order; checks numbering."""
    pattern = re.compile(re.escape(prefix) + r"/[^/]*-" + re.escape(name) + r"\.(\d+)\.index$")
    found = sorted(
        (int(match.group(1)), key) for key in objects(s3, bucket) if (match := pattern.match(key))
    )
    assert [n for n, _ in found] == list(range(len(found))), "sub-manifests numbered 0..N-1"
    result = []
    for _, key in found:
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        result.append((key, list(read_manifest(data, key))))
    return result


def job_summary(s3: Any, bucket: str, prefix: str = PREFIX, name: str = "manifest") -> JobSummary:
    keys = [k for k in objects(s3, bucket) if k.startswith(prefix + "/")
            and k.endswith(f"-{name}.job.json")]  # fmt: skip
    assert len(keys) == 1, keys
    return JobSummary.from_json(s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read())


def assert_ok(result: CliResult) -> None:
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1 and "sub-manifests written" in result.stdout


def assert_error(result: CliResult, code: int, *fragments: str) -> None:
    """Exit code, exactly one line on stderr starting 's3grouper: error: ', no traceback."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert result.stderr.startswith("s3grouper: error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
