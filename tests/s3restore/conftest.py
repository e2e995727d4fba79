"""An archived job for the get-back tests: objects archived (.tar and .tar.gz), one copied,
one failed, by the real worker."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from s3bundler.archiver import BundlerConfig, ManifestJob
from s3common.s3uri import S3Uri
from s3common.submanifest import ManifestEntry
from tests.s3bundler.sources import Source, put_manifest, seed

KEYS = {
    "photos/a.jpg": 1000,
    "photos/b c+d.jpg": 70_000,
    "odd/../key": 5,
    "odd//double": 7,
    "empty": 0,
    "big/video.bin": 300_000,
}
BIG = "big/video.bin"
MAXSIZE = 200_000


@dataclass
class Archived:
    src: Source
    source_bucket: str
    archive_bucket: str
    catalog: str  # s3://archive-bucket/archives
    plain: S3Uri  # the .tar
    compressed: S3Uri  # the .tar.gz


@pytest.fixture()
def archived(s3, buckets) -> Archived:
    src_b, arch_b, man_b = buckets
    src = seed(s3, src_b, KEYS, meta_every=1, tag_every=2)
    s3.put_object(Bucket=src_b, Key="photos/a.jpg", Body=src.data["photos/a.jpg"],
                  Metadata=src.metadata["photos/a.jpg"], CacheControl="max-age=60",
                  ContentType="image/jpeg", Tagging="k=v")  # fmt: skip
    src.tags["photos/a.jpg"] = {"k": "v"}
    entries = [ManifestEntry(src_b, k, v) for k, v in KEYS.items()]
    entries.append(ManifestEntry(src_b, "gone/never-there", 3))
    plain = put_manifest(s3, man_b, "p/plain.0.index", entries)
    more = [ManifestEntry(src_b, f"gz/{i:03d}", len(src.data["photos/a.jpg"])) for i in range(3)]
    for e in more:
        s3.put_object(Bucket=src_b, Key=e.key, Body=src.data["photos/a.jpg"])
    compressed = put_manifest(s3, man_b, "p/comp.1.index", more)
    outputs = []
    for manifest, compress in ((plain, ""), (compressed, "gzip")):
        config = BundlerConfig(archive_bucket=arch_b, compress=compress, maxsize=MAXSIZE)
        result = ManifestJob(s3, config, manifest).run()
        assert result.outputs is not None
        outputs.append(result.outputs.archive_uri)
    return Archived(src, src_b, arch_b, f"s3://{arch_b}/archives", outputs[0], outputs[1])
