"""Archives for the get-back tests, written by the real bundler (ManifestJob, in process), and
ways to damage them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from s3bundler.archiver import BundlerConfig, ManifestJob
from s3bundler.index import IndexRow, IndexWriter, read_index
from s3bundler.layout import ManifestOutputs
from s3common.s3uri import S3Uri
from s3common.submanifest import ManifestEntry
from tests.s3bundler.sources import Source, get_bytes, put_manifest, seed

#: Sizes of a small archive with a bit of everything: empty, one byte, a block exactly, padded
#: members, and objects over 1 MiB (a compressed archive starts a new frame after them).
MIXED = {
    **{f"mixed/{i:02d}": (0, 1, 512, 700, 5_000, 70_000)[i % 6] for i in range(30)},
    "mixed/big-1": 1_300_000,
    "mixed/big-2": 2_100_000,
    "other/x": 10,
    "other/y": 20,
}


@dataclass
class Archived:
    manifest: S3Uri
    outputs: ManifestOutputs
    rows: list[IndexRow]
    src: Source

    @property
    def archive(self) -> str:
        return str(self.outputs.archive_uri)

    @property
    def index(self) -> str:
        return str(self.outputs.index_uri)

    def row(self, key: str) -> IndexRow:
        return next(r for r in self.rows if r.key == key)


def make_archive(
    s3,
    buckets: tuple[str, str, str],
    sizes: dict[str, int] | None = None,
    *,
    compress: str = "",
    name: str = "p/r.0.index",
    meta_every: int = 3,
    tag_every: int = 4,
    before: Callable[[Source], object] | None = None,
) -> Archived:
    """``before``: called with the sources once they are in place, before the bundler runs."""
    src_b, arch_b, man_b = buckets
    sizes = MIXED if sizes is None else sizes
    src = seed(s3, src_b, sizes, meta_every=meta_every, tag_every=tag_every)
    if before is not None:
        before(src)
    entries = [ManifestEntry(src_b, k, v) for k, v in sizes.items()]
    manifest = put_manifest(s3, man_b, name, entries)
    config = BundlerConfig(archive_bucket=arch_b, compress=compress)
    result = ManifestJob(s3, config, manifest).run()
    assert result.outputs is not None and result.counts.archived == len(sizes)
    rows = list(read_index(get_bytes(s3, result.outputs.index_uri)))
    return Archived(manifest, result.outputs, rows, src)


def rewrite_object(s3, uri: S3Uri, change: Callable[[bytes], bytes]) -> None:
    """Put ``uri`` again with its bytes changed, its user metadata kept."""
    head = s3.head_object(Bucket=uri.bucket, Key=uri.key)
    body = change(get_bytes(s3, uri))
    s3.put_object(Bucket=uri.bucket, Key=uri.key, Body=body, Metadata=head.get("Metadata", {}))


def flip_byte(at: int) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        out = bytearray(data)
        out[at] ^= 0x5A
        return bytes(out)

    return change


def put_index(s3, uri: S3Uri, rows: list[IndexRow]) -> None:
    writer = IndexWriter()
    for row in rows:
        writer.add(row)
    s3.put_object(Bucket=uri.bucket, Key=uri.key, Body=writer.getvalue())
