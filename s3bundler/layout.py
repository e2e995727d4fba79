"""Where the bundler's outputs live (docs/formats.md, "Bundler outputs").

    archive   <prefix>/<hash6>/<source-bucket>/<manifest-name>.tar[.gz|.zst]
    index     <prefix>/<hash6>/<source-bucket>/<manifest-name>.index
    big obj   <prefix>/<hash6k>/<source-bucket>/bigobjects/<key>  (+ ``.metadata``)
    DLQ index s3://<manifest-bucket>/<manifest-key>.dlq

``hash6`` is the first 6 hex digits of md5(``<source-bucket>/<manifest-name>``); for big
objects ``hash6k`` hashes ``<source-bucket>/<key>`` instead, so a big object's location follows
from its key alone. Everything is deterministic: reprocessing a manifest overwrites the same keys.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import quote

from s3bundler.codecs import ARCHIVE_EXTENSIONS, archive_extension, codec_named
from s3common.s3uri import S3Uri
from s3common.submanifest import manifest_name


def hash6(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()[:6]


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p.strip("/"))


@dataclass(frozen=True)
class ManifestOutputs:
    """All keys one manifest's processing writes."""

    archive_bucket: str
    archive_key: str
    index_key: str
    dlq: S3Uri
    #: The same archive with the other compression settings (deleted once this one is in).
    other_archive_keys: tuple[str, ...] = ()

    @property
    def archive_uri(self) -> S3Uri:
        return S3Uri(self.archive_bucket, self.archive_key)

    @property
    def index_uri(self) -> S3Uri:
        return S3Uri(self.archive_bucket, self.index_key)


def dlq_uri(manifest: S3Uri) -> S3Uri:
    """The manifest's DLQ index, beside it."""
    return S3Uri(manifest.bucket, manifest.key + ".dlq")


def manifest_outputs(
    manifest: S3Uri, source_bucket: str, archive_bucket: str, prefix: str, compress: str
) -> ManifestOutputs:
    """``compress``: the codec's name (``gzip``, ``zstd``), "" for a plain ``.tar``."""
    name = manifest_name(manifest.key)
    base = _join(prefix, hash6(f"{source_bucket}/{name}"), source_bucket, name)
    ext = archive_extension(codec_named(compress))
    return ManifestOutputs(
        archive_bucket=archive_bucket,
        archive_key=base + ext,
        index_key=base + ".index",
        dlq=dlq_uri(manifest),
        other_archive_keys=tuple(base + other for other in ARCHIVE_EXTENSIONS if other != ext),
    )


#: The tag every archive is written with (at CreateMultipartUpload, no extra request): what a
#: lifecycle rule that moves archives to colder storage filters on (the core stack's does).
ARCHIVE_TAG = ("s3bundler", "archive")

#: User metadata on every archive naming the sub-manifest it holds (URL-encoded, as S3
#: metadata must be ASCII), so two sub-manifests that map to one archive key are caught.
MANIFEST_METADATA = "s3bundler-manifest"


def manifest_tag(manifest: S3Uri) -> str:
    return quote(str(manifest), safe="/:")


def bigobject_key(prefix: str, source_bucket: str, key: str) -> str:
    """Server-side copy target of an object above maxsize. The key is appended verbatim."""
    head = _join(prefix, hash6(f"{source_bucket}/{key}"), source_bucket, "bigobjects")
    return f"{head}/{key}"


def metadata_key(bigobject: str) -> str:
    return bigobject + ".metadata"
