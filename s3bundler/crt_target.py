"""Where an awscrt GET goes and how S3's XML answers read, for ``crt_fetcher``.

The URL (endpoint, addressing style) and signing region are the ones botocore itself would use
-- captured once per bucket from a GetObject botocore builds and signs but never sends.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from s3bundler.object_info import real_version
from s3common.submanifest import ManifestEntry

_PROBE_KEY = "s3bundler-endpoint-probe"


@dataclass(frozen=True)
class Target:
    """Where and how GETs of one bucket's keys go, as botocore would send them."""

    scheme: str
    host: str  # with :port when not the default
    path_prefix: str  # "/bucket/" (path style) or "/" (virtual-hosted style)
    region: str

    def path(self, entry: ManifestEntry) -> str:
        path = self.path_prefix + quote(entry.key, safe="/~")
        if entry.version_id:
            path += "?versionId=" + quote(entry.version_id, safe="")
        return path

    def tagging_path(self, key: str, version_id: str) -> str:
        path = self.path_prefix + quote(key, safe="/~") + "?tagging"
        if version := real_version(version_id):
            path += "&versionId=" + quote(version, safe="")
        return path


class _Captured(Exception):
    def __init__(self, target: Target | None) -> None:
        self.target = target


def resolve_target(probe_client: Any, bucket: str) -> Target | None:
    """Let botocore build (and sign, but not send) a GetObject for ``bucket``; None when the
    request is not one awscrt can sign the same way (not SigV4)."""

    def capture(request: Any, region_name: str, signature_version: Any, **_: Any) -> None:
        if signature_version not in ("s3v4", "v4"):
            raise _Captured(None)
        url = urlsplit(request.url)
        path = url.path
        if not path.endswith("/" + _PROBE_KEY):
            raise _Captured(None)
        region = request.context.get("signing", {}).get("region") or region_name
        raise _Captured(Target(url.scheme, url.netloc, path[: -len(_PROBE_KEY)], region))

    events = probe_client.meta.events
    events.register_first("before-sign.s3.GetObject", capture, unique_id="s3bundler-probe")
    try:
        probe_client.get_object(Bucket=bucket, Key=_PROBE_KEY)
    except _Captured as captured:
        return captured.target
    finally:
        events.unregister("before-sign.s3.GetObject", unique_id="s3bundler-probe")
    return None  # pragma: no cover - get_object always signs


def tag_set(body: bytes) -> dict[str, str]:
    """The TagSet of a GetObjectTagging answer (raises ET.ParseError on a malformed one)."""
    root = ET.fromstring(body)
    return {
        tag.findtext("{*}Key") or "": tag.findtext("{*}Value") or ""
        for tag in root.iterfind("{*}TagSet/{*}Tag")
    }


def error_fields(body: bytes) -> tuple[str, str, str]:
    """Code, Message and Region of an S3 XML error body ('' for what is missing)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return "", "", ""
    return (
        (root.findtext("Code") or "").strip(),
        " ".join((root.findtext("Message") or "").split())[:300],
        (root.findtext("Region") or "").strip(),
    )
