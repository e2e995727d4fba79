"""Output locations (docs/formats.md, "Bundler outputs")."""

from __future__ import annotations

import hashlib

import pytest

from s3bundler.layout import (
    bigobject_key,
    hash6,
    manifest_outputs,
    metadata_key,
)
from s3common.s3uri import S3Uri

MANIFEST = S3Uri("manifests", "sub/inv-src-cfg-manifest.3.index")


def md5_6(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()[:6]


# --- hash6 and manifest outputs ------------------------------------------------------------------


def test_hash6_is_first_six_hex_of_md5():
    assert hash6("src/inv-src-cfg-manifest.3") == md5_6("src/inv-src-cfg-manifest.3")
    assert len(hash6("x")) == 6
    assert all(c in "0123456789abcdef" for c in hash6("ü/ß"))
    assert hash6("ü") == hashlib.md5("ü".encode()).hexdigest()[:6]


def test_manifest_outputs_keys():
    out = manifest_outputs(MANIFEST, "src", "archive-bucket", "archives", compress="")
    h = md5_6("src/inv-src-cfg-manifest.3")
    assert out.archive_bucket == "archive-bucket"
    assert out.archive_key == f"archives/{h}/src/inv-src-cfg-manifest.3.tar"
    assert out.index_key == f"archives/{h}/src/inv-src-cfg-manifest.3.index"
    assert out.dlq == S3Uri("manifests", "sub/inv-src-cfg-manifest.3.index.dlq")
    assert out.archive_uri == S3Uri("archive-bucket", out.archive_key)
    assert out.index_uri == S3Uri("archive-bucket", out.index_key)


def test_manifest_outputs_compressed_and_prefix_slashes():
    out = manifest_outputs(MANIFEST, "src", "ab", "/deep/prefix/", compress="gzip")
    h = md5_6("src/inv-src-cfg-manifest.3")
    assert out.archive_key == f"deep/prefix/{h}/src/inv-src-cfg-manifest.3.tar.gz"
    assert out.index_key == f"deep/prefix/{h}/src/inv-src-cfg-manifest.3.index"


@pytest.mark.parametrize(
    ("compress", "ext"), [("", ".tar"), ("gzip", ".tar.gz"), ("zstd", ".tar.zst")]
)
def test_each_compression_has_its_extension_and_the_others_are_to_be_deleted(compress, ext):
    out = manifest_outputs(MANIFEST, "src", "ab", "p", compress=compress)
    base = f"p/{md5_6('src/inv-src-cfg-manifest.3')}/src/inv-src-cfg-manifest.3"
    assert out.archive_key == base + ext
    assert sorted(out.other_archive_keys) == sorted(
        base + e for e in (".tar", ".tar.gz", ".tar.zst") if e != ext
    )


def test_manifest_outputs_empty_prefix():
    out = manifest_outputs(MANIFEST, "src", "ab", "", compress="")
    assert (
        out.archive_key == f"{md5_6('src/inv-src-cfg-manifest.3')}/src/inv-src-cfg-manifest.3.tar"
    )


def test_manifest_outputs_are_deterministic_and_differ_per_manifest():
    a1 = manifest_outputs(MANIFEST, "src", "ab", "p", compress="")
    a2 = manifest_outputs(MANIFEST, "src", "ab", "p", compress="")
    other = S3Uri("manifests", "sub/inv-src-cfg-manifest.4.index")
    b = manifest_outputs(other, "src", "ab", "p", compress="")
    assert a1 == a2
    assert a1.archive_key != b.archive_key
    # Only the manifest's name counts, not the folder it sits in.
    moved = S3Uri("elsewhere", "x/y/inv-src-cfg-manifest.3.index")
    c = manifest_outputs(moved, "src", "ab", "p", compress="")
    assert c.archive_key == a1.archive_key
    assert c.dlq == S3Uri("elsewhere", "x/y/inv-src-cfg-manifest.3.index.dlq")


def test_hash6_depends_on_source_bucket():
    a = manifest_outputs(MANIFEST, "src-a", "ab", "p", compress="")
    b = manifest_outputs(MANIFEST, "src-b", "ab", "p", compress="")
    assert a.archive_key.split("/")[1] == md5_6("src-a/inv-src-cfg-manifest.3")
    assert b.archive_key.split("/")[1] == md5_6("src-b/inv-src-cfg-manifest.3")


# --- big objects ---------------------------------------------------------------------------------


def test_bigobject_key_keeps_key_verbatim():
    key = "dir/sub dir/../ü,file.bin"
    got = bigobject_key("archives", "src", key)
    assert got == f"archives/{md5_6('src/' + key)}/src/bigobjects/{key}"
    assert bigobject_key("archives", "src", key) == got


def test_bigobject_key_with_leading_slash_key_and_prefix_slashes():
    assert bigobject_key("/p/", "src", "/k") == f"p/{md5_6('src//k')}/src/bigobjects//k"


def test_metadata_key():
    assert metadata_key("p/abc/src/bigobjects/k") == "p/abc/src/bigobjects/k.metadata"
