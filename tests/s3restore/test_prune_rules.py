"""prune's rules one by one, the DeleteObjects answer read per object, the deletion log read
back, the request it sends (the ETag condition), and what the local moto server does with it."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime

import pytest

from s3common.errors import ExitCode, UploadError
from s3common.s3uri import S3Uri
from s3restore.prune_batch import outcomes
from s3restore.prune_gate import read_problems
from s3restore.prune_log import batch_key, log_body, put_log, read_prior, result_body
from s3restore.prune_report import Tally as PruneTally
from s3restore.prune_report import summary_lines
from s3restore.prune_rules import (
    CHANGED_SINCE_ARCHIVED,
    CHANGED_SINCE_INVENTORY,
    DELETED,
    DLQ,
    FAILED_DELETE,
    GONE,
    KEPT,
    NO_MD5,
    NOW_VERSIONED,
    UNVERIFIED,
    Row,
    check_catalog,
    check_source,
    delete_entry,
    evidence,
)
from s3restore.reconcile_report import CSV_COLUMNS, Tally

GIB = 1 << 30

MD5 = hashlib.md5(b"x").hexdigest()


def row(**over) -> Row:
    base = dict(
        bucket="src",
        key="k",
        version_id="",
        status="archived",
        size=1,
        etag=MD5,
        md5=MD5,
        checksum="",
        storage_class="STANDARD",
        flags="",
        archive="s3://arch/a.tar",
        member="src/k",
        copy="",
        reason="",
        detail="",
    )
    return Row(**{**base, **over})


def head(size: int = 1, etag: str = MD5, **extra) -> dict:
    return {
        "ContentLength": size,
        "ETag": f'"{etag}"',
        "LastModified": datetime(2024, 1, 1, tzinfo=UTC),
        **extra,
    }


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"status": "failed", "reason": "NoSuchKey", "detail": "gone"}, DLQ),
        ({"flags": "size-changed;etag-changed"}, CHANGED_SINCE_INVENTORY),
        ({"flags": "etag-changed"}, CHANGED_SINCE_INVENTORY),
        ({"md5": ""}, NO_MD5),
        ({"status": "odd"}, UNVERIFIED),
    ],
)
def test_catalog_rules_keep(over, reason):
    verdict = check_catalog(row(**over))
    assert verdict is not None and (verdict.action, verdict.reason) == (KEPT, reason)


def test_a_clean_archived_row_passes_the_catalog_rules():
    assert check_catalog(row(flags="some-other-note")) is None


def test_source_rules():
    assert check_source(row(), None).action == GONE
    assert check_source(row(), head(size=2)).reason == CHANGED_SINCE_ARCHIVED
    assert check_source(row(), head(etag="0" * 32)).reason == CHANGED_SINCE_ARCHIVED
    assert check_source(row(), head(VersionId="v1")).reason == NOW_VERSIONED
    assert check_source(row(version_id="v1"), head(VersionId="v1")) is None
    assert check_source(row(), head()) is None


def test_evidence_of_an_archived_row():
    assert evidence(row(), head(), None).evidence == "md5=etag"
    kms = "1" * 32
    assert evidence(row(etag=kms), head(etag=kms), None).reason == UNVERIFIED
    assert evidence(row(etag=kms, checksum="CRC32:AAAA"), head(etag=kms), None).evidence == (
        "checksum CRC32"
    )
    big, multi = 9 << 20, "2" * 32 + "-3"
    assert evidence(row(etag=multi, size=big), head(big, multi), None).evidence == "multipart-etag"
    sse = head(big, multi, ServerSideEncryption="aws:kms")
    assert evidence(row(etag=multi, size=big), sse, None).reason == UNVERIFIED
    small = evidence(row(etag=multi, size=5 << 20), head(5 << 20, multi), None)
    assert small.reason == UNVERIFIED  # read whole: never checked against its multipart ETag


def test_evidence_of_a_copied_row():
    copied = row(status="copied", archive="", member="", copy="s3://arch/big/k")
    assert evidence(copied, head(), head()).evidence == "copy-etag=md5"
    assert evidence(copied, head(), None).reason == UNVERIFIED
    assert evidence(copied, head(), head(etag="3" * 32 + "-2")).reason == UNVERIFIED
    assert evidence(copied, head(), head(size=2)).reason == UNVERIFIED


def test_delete_entries():
    assert delete_entry(row(version_id="v1"), True) == {"Key": "k", "VersionId": "v1"}
    assert delete_entry(row(), True) == {"Key": "k", "ETag": f'"{MD5}"'}
    assert delete_entry(row(), False) == {"Key": "k"}


def test_a_delete_objects_answer_is_read_per_object():
    rows = [row(key=k) for k in ("ok", "changed", "gone", "denied", "unanswered")]
    rows.append(row(key="ok", version_id="v2"))
    answer = {
        "Deleted": [{"Key": "ok"}, {"Key": "ok", "VersionId": "v2"}],
        "Errors": [
            {"Key": "changed", "Code": "PreconditionFailed", "Message": "At least one..."},
            {"Key": "gone", "Code": "NoSuchKey", "Message": "x"},
            {"Key": "denied", "Code": "AccessDenied", "Message": "no"},
        ],
    }
    got = [(r.key, r.version_id, outcome, code) for r, outcome, code, _ in outcomes(rows, answer)]
    assert got == [
        ("ok", "", DELETED, ""),
        ("changed", "", KEPT, "PreconditionFailed"),
        ("gone", "", GONE, "NoSuchKey"),
        ("denied", "", FAILED_DELETE, "AccessDenied"),
        ("unanswered", "", FAILED_DELETE, "NoAnswer"),
        ("ok", "v2", DELETED, ""),
    ]


def test_the_logs_are_read_back(s3, bucket):
    root, prefix = S3Uri(bucket, "archives"), "archives/prune/job/job.0/"
    a, b, c, d = (row(key=k) for k in ("a", "b", "c", "d"))
    put_log(s3, S3Uri(bucket, batch_key(prefix, 1)), log_body([a, b]))
    put_log(
        s3,
        S3Uri(bucket, batch_key(prefix, 1, True)),
        result_body([(a, DELETED, "", ""), (b, FAILED_DELETE, "AccessDenied", "no")]),
    )
    put_log(s3, S3Uri(bucket, batch_key(prefix, 2)), log_body([c, d]))
    prior = read_prior(s3, root, prefix)
    assert prior.deleted == {("src", "a", ""): 1}
    assert prior.unsure == {("src", "c", ""): 2, ("src", "d", ""): 2}
    assert prior.batches == 2
    with pytest.raises(UploadError, match="exists already") as caught:
        put_log(s3, S3Uri(bucket, batch_key(prefix, 2)), log_body([a]))
    assert caught.value.exit_code == ExitCode.UPLOAD


def test_the_delete_carries_the_etag_condition_and_moto_ignores_it(s3, bucket):
    """The request: ``<ETag>`` per versionless object. The local moto server (5.2) parses
    DeleteObjects but does not evaluate the ETag (it does evaluate DeleteObject's
    ``If-Match``): the race the condition closes cannot be shown on it. If this starts to
    fail, moto evaluates it now: make it a test of the kept object."""
    bodies: list[bytes] = []
    s3.meta.events.register(
        "before-send.s3.DeleteObjects", lambda request, **_: bodies.append(request.body)
    )
    s3.put_object(Bucket=bucket, Key="k", Body=b"now other bytes")
    objects = [delete_entry(row(), conditional=True)]
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": False})
    assert f'<Object><Key>k</Key><ETag>"{MD5}"</ETag></Object>'.encode() in bodies[0]
    assert [d["Key"] for d in answer.get("Deleted", [])] == ["k"]  # moto: deleted anyway
    s3.put_object(Bucket=bucket, Key="k", Body=b"now other bytes")
    with pytest.raises(s3.exceptions.ClientError, match="PreconditionFailed"):
        s3.delete_object(Bucket=bucket, Key="k", IfMatch=f'"{MD5}"')


def test_reconcile_problems_become_what_prune_keeps(tmp_path):
    path = tmp_path / "r.csv"
    rows = [
        ["missing", "src", "a", "", "1", "1", "0", "", "", "", "s3://m/x.0.index", ""],
        ["no_archive", "src", "", "", "", "", "", "", "s3://arch/a.tar", "", "", "3 rows"],
        [
            "no_report",
            "src",
            "",
            "",
            "",
            "",
            "",
            "",
            "s3://m/x.1.index.done",
            "",
            "s3://m/x.1.index",
            "",
        ],
        [
            "no_catalog_file",
            "src",
            "",
            "",
            "",
            "",
            "",
            "",
            "s3://arch/c/x.2.parquet",
            "",
            "s3://m/x.2.index",
            "",
        ],
    ]
    path.write_text("\n".join(",".join(r) for r in [list(CSV_COLUMNS), *rows]) + "\n")
    gate = read_problems(str(path), Tally(missing=1), ["..."])
    assert not gate.complete
    assert gate.problem("src", "a", "", "") == "missing"
    assert gate.problem("src", "b", "s3://arch/a.tar", "") == "no_archive"
    assert gate.problem("src", "b", "", "s3://m/x.1.index").startswith("no_report")
    assert gate.problem("src", "b", "s3://arch/b.tar", "s3://m/x.0.index") == ""
    assert gate.unreadable == {"s3://arch/c/x.2.parquet"}


def tally(**freed: int) -> PruneTally:
    return PruneTally(freed=Counter(freed))


def test_savings_are_the_price_tables_storage_rates_of_the_region(tmp_path):
    from s3common.prices import load_prices

    east = load_prices("us-east-1")
    expected = 10 * east.storage("STANDARD") + 1000 * east.storage("DEEP_ARCHIVE")
    freed = tally(STANDARD=10 * GIB, DEEP_ARCHIVE=1000 * GIB)
    text = "\n".join(summary_lines(freed, True, "r.csv", "s3://l/", "-", east))
    assert f"${expected:,.2f} per month once deleted (us-east-1 list prices" in text
    mine = tmp_path / "p.json"
    mine.write_text('{"regions": {"us-east-1": {"storage_gb_month": {"STANDARD": 1.0}}}}')
    own = load_prices("us-east-1", str(mine))
    text = "\n".join(summary_lines(tally(STANDARD=3 * GIB), False, "r", "l", "-", own))
    assert "$3.00 per month (" in text
    nowhere = load_prices("xx-nowhere-1")
    lines = summary_lines(tally(GLACIER=GIB), True, "r", "l", "-", nowhere)
    assert lines[-1].startswith("  note: no prices for region xx-nowhere-1")


def test_the_doc_names_every_column_action_and_reason():
    from pathlib import Path

    from s3restore import prune_rules
    from s3restore.prune_log import LOG_COLUMNS, RESULT_COLUMNS
    from s3restore.prune_report import REPORT_COLUMNS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "prune.md").read_text()
    for columns in (REPORT_COLUMNS, LOG_COLUMNS, RESULT_COLUMNS):
        assert ",".join(columns) in doc
    actions = (prune_rules.DELETE, DELETED, KEPT, GONE, prune_rules.DONE_BEFORE, FAILED_DELETE)
    for name in (*actions, *prune_rules.KEPT_REASONS, "md5=etag", "copy-etag=md5"):
        assert f"`{name}`" in doc, name
