"""Where SeaweedFS 4.48 is not AWS S3, each difference asserted as it is (so a SeaweedFS that
changes shows up here), and what the bundler does with it. docs/bundler.md ("S3
implementations") lists the same."""

from __future__ import annotations

import boto3
import botocore.exceptions
import pytest

from s3bundler.boto_reads import BotoFetcher
from s3bundler.fetchers import make_crt_fetcher
from s3bundler.index import read_index
from s3common.submanifest import ManifestEntry
from tests.helpers import run_cli
from tests.s3bundler.e2e import outputs_for
from tests.s3bundler.sources import get_bytes, put_manifest, seed
from tests.s3bundler.test_bundler_e2e import check_tar
from tests.s3bundler.test_crt_fetcher import comparable

pytestmark = pytest.mark.seaweedfs

#: Keys SeaweedFS stores and serves as S3 does.
ODD_KEYS = {
    "with space/and+plus.bin": 2000,
    "percent%20literal%2Fnot-decoded": 10,
    "unicode/日本語/ファイル-ü-é.txt": 300,
    "tilde~and(parens)!*'.bin": 77,
    'comma,and"quote".csv': 5,
    "deep/" + "/".join(["d" * 200] * 4) + "/end": 1234,  # a ~900-byte key: pax path record
    "zero-bytes": 0,
    # The moto server cannot store these (docs/bundler.md, "Known limits"); SeaweedFS can.
    "new\nline/and\ttab\rcr": 33,
    "ctl\x01char": 4,
    "caf\u00e9": 6,  # NFC and NFD: two keys
    "cafe\u0301": 7,
}


def error_of(call, *args, **kwargs) -> tuple[str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call(*args, **kwargs)
    return err.value.response["Error"]["Code"], err.value.response["ResponseMetadata"][
        "HTTPStatusCode"
    ]


def test_sigv4_is_checked(seaweedfs, bucket):
    """The server is started with an S3 identity: a wrong secret, an unknown key or a session
    token it did not issue are refused (so every passing test signed correctly, awscrt's GETs
    included)."""
    good = seaweedfs.client()
    assert good.list_objects_v2(Bucket=bucket)["KeyCount"] == 0

    def client(**creds):
        return boto3.session.Session().client(
            "s3", endpoint_url=seaweedfs.url, region_name="us-east-1", **creds
        )

    key, secret = seaweedfs.access_key, seaweedfs.secret_key
    wrong = client(aws_access_key_id=key, aws_secret_access_key=secret + "x")
    assert error_of(wrong.list_objects_v2, Bucket=bucket) == ("SignatureDoesNotMatch", 403)
    unknown = client(aws_access_key_id="nobody", aws_secret_access_key=secret)
    assert error_of(unknown.list_objects_v2, Bucket=bucket) == ("InvalidAccessKeyId", 403)
    token = client(aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token="t")
    assert error_of(token.list_objects_v2, Bucket=bucket)[0] == "InvalidAccessKeyId"


@pytest.mark.parametrize("get_client", ["crt", "boto3"])
def test_odd_keys_are_archived_exactly(s3, buckets, tmp_path, get_client):
    src_b, arch_b, man_b = buckets
    src = seed(s3, src_b, ODD_KEYS)
    entries = [ManifestEntry(src_b, k, len(v)) for k, v in src.data.items()]
    manifest = put_manifest(s3, man_b, "p/odd.0.index", entries)
    result = run_cli("s3bundler", "-m", str(manifest), "-b", arch_b, "--get-client", get_client)
    assert result.returncode == 0, result.stderr
    out = outputs_for(manifest, src_b, arch_b)
    rows = list(read_index(get_bytes(s3, out.index_uri)))
    assert [r.key for r in rows] == list(src.data)
    check_tar(get_bytes(s3, out.archive_uri), rows, src, tmp_path, "")
    for row in rows:
        assert row.tags == src.tags.get(row.key, {}) and row.metadata == src.metadata.get(
            row.key, {}
        )


def test_awscrt_and_boto3_read_seaweedfs_the_same_way(s3, bucket):
    """awscrt signs its own SigV4 requests (crt_target.py): same URL, same answer as boto3's,
    odd keys, versions and tags included."""
    src = seed(s3, bucket, ODD_KEYS, meta_every=2, tag_every=2)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=bucket, Key="v", Body=b"one", Tagging="a=x%2By")["VersionId"]
    s3.put_object(Bucket=bucket, Key="v", Body=b"two!")
    entries = [ManifestEntry(bucket, k, len(v)) for k, v in src.data.items()]
    entries += [ManifestEntry(bucket, "v", 3, version_id=v1), ManifestEntry(bucket, "v", 4)]
    crt = make_crt_fetcher(s3, boto3.session.Session(), 4)
    boto = BotoFetcher(s3, 4)
    try:
        got = [(crt.submit(e, 1 << 20), boto.submit(e, 1 << 20)) for e in entries]
        pairs = [(c.result(timeout=30), b.result(timeout=30)) for c, b in got]
    finally:
        crt.close()
        boto.close()
    for c, b in pairs:
        assert comparable(c) == comparable(b)
    old, new = pairs[-2][0], pairs[-1][0]
    assert (old.data, old.tags, old.info.version_id) == (b"one", {"a": "x+y"}, v1)
    assert (new.data, new.tags) == (b"two!", {})


def test_keys_seaweedfs_changes_or_refuses(s3, bucket):
    """AWS stores any key of up to 1024 bytes as it is. SeaweedFS keeps objects as files of a
    file system, so some keys are refused or become other keys; an inventory lists what it
    stored, so the bundler archives that."""
    # A `..` segment: refused (AWS stores it).
    for key in ("./dot/../dotdot", "a/../b", ".."):
        assert error_of(s3.put_object, Bucket=bucket, Key=key, Body=b"x") == (
            "InvalidRequest", 400,
        )  # fmt: skip
    # A segment over 255 bytes: refused (AWS: only the whole key is limited, to 1024 bytes).
    code = error_of(s3.put_object, Bucket=bucket, Key="long/" + "s" * 300, Body=b"x")
    assert code == ("KeyTooLongError", 400)
    # `//` and a leading `/` are collapsed: `a//b` is stored, listed and served as `a/b`.
    s3.put_object(Bucket=bucket, Key="double//slash", Body=b"dd")
    s3.put_object(Bucket=bucket, Key="/leading", Body=b"ll")
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert {"double/slash", "leading"} <= listed and "double//slash" not in listed
    assert s3.get_object(Bucket=bucket, Key="double/slash")["Body"].read() == b"dd"
    # A backslash becomes `/`: `back\\slash` is stored, listed and served as `back/slash`.
    s3.put_object(Bucket=bucket, Key="back\\slash", Body=b"bs")
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert "back/slash" in listed and "back\\slash" not in listed
    for key in ("back\\slash", "back/slash"):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"bs"
    # A key ending in `/` is a directory: its data is dropped (AWS keeps it).
    s3.put_object(Bucket=bucket, Key="folder-with-data/", Body=b"lost")
    assert s3.get_object(Bucket=bucket, Key="folder-with-data/")["Body"].read() == b""


def test_storage_class_is_a_label_and_restore_object_is_missing(s3, buckets, tmp_path):
    """SeaweedFS records GLACIER but serves the object: where S3 refuses the GET
    (InvalidObjectState: a Glacier DLQ row), the bundler archives it. RestoreObject is not
    implemented (405), so `s3bundler restore` cannot thaw an archive SeaweedFS labels GLACIER
    (on SeaweedFS nothing is ever cold: copy it back to STANDARD instead). And a copy onto
    itself that changes only the storage class is refused."""
    src_b, arch_b, man_b = buckets
    s3.put_object(Bucket=src_b, Key="cold.bin", Body=b"frozen", StorageClass="GLACIER")
    manifest = put_manifest(s3, man_b, "p/cold.0.index", [
        ManifestEntry(src_b, "cold.bin", 6, storage_class="GLACIER")
    ])  # fmt: skip
    result = run_cli("s3bundler", "-m", str(manifest), "-b", arch_b)
    assert result.returncode == 0, result.stderr
    out = outputs_for(manifest, src_b, arch_b)
    (row,) = read_index(get_bytes(s3, out.index_uri))
    assert (row.key, row.storage_class) == ("cold.bin", "GLACIER")  # AWS: a Glacier DLQ row
    code = error_of(s3.restore_object, Bucket=arch_b, Key=out.archive_key, RestoreRequest={
        "Days": 1, "GlacierJobParameters": {"Tier": "Bulk"}})  # fmt: skip
    assert code == ("MethodNotAllowed", 405)
    # A copy onto itself that only changes the storage class is refused (AWS allows it).
    same = {"Bucket": arch_b, "Key": out.archive_key}
    code = error_of(s3.copy_object, **same, CopySource=same, StorageClass="GLACIER",
                    MetadataDirective="COPY")  # fmt: skip
    assert code == ("InvalidRequest", 400)
    head = s3.head_object(**same)
    s3.copy_object(**same, CopySource=same, StorageClass="GLACIER", MetadataDirective="REPLACE",
                   Metadata=head["Metadata"], ContentType=head["ContentType"])  # fmt: skip
    restore = run_cli("s3bundler", "restore", f"s3://{src_b}/cold.bin", "--catalog",
                      f"s3://{arch_b}/archives", "-o", str(tmp_path / "cold.bin"))  # fmt: skip
    assert restore.returncode == 5 and "MethodNotAllowed" in restore.stderr, restore.stderr


def test_defaults_and_missing_features(s3, bucket, sqs):
    """Content type: SeaweedFS guesses one from the bytes when none is given (AWS:
    binary/octet-stream); the index records what the GET says. Bucket notifications: not
    implemented (the PUT ?notification is taken for a CreateBucket), so sub-manifests reach the
    queue by `s3grouper --queue` (the core stack's ManifestDelivery=queue)."""
    s3.put_object(Bucket=bucket, Key="text", Body=b"hello")
    s3.put_object(Bucket=bucket, Key="binary", Body=b"\x00\x01\x02")
    assert s3.head_object(Bucket=bucket, Key="text")["ContentType"] == "text/plain; charset=utf-8"
    assert s3.head_object(Bucket=bucket, Key="binary")["ContentType"] == "application/octet-stream"
    queue = sqs.create_queue(QueueName=f"{bucket}-n")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    config = {"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]}
    code = error_of(s3.put_bucket_notification_configuration, Bucket=bucket,
                    NotificationConfiguration=config)  # fmt: skip
    assert code == ("BucketAlreadyOwnedByYou", 409)
