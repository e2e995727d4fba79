"""``s3bundler ls``: an archive's keys from its index, one per line whatever they hold."""

from __future__ import annotations

import io

import pytest

from s3bundler.index import IndexRow
from s3restore.commands.ls import write_listing
from s3restore.text import quote_key, unquote_key
from tests.helpers import run_cli
from tests.s3restore.archives import make_archive

KEYS = {
    "plain": 3,
    "dir/with space": 5,
    "tab\there": 7,
    '"starts with a quote': 11,
    'ends with a quote"': 13,
    "unicode/日本語": 17,
    "dir/x": 0,
}


def ls(*args: str):
    return run_cli("s3bundler", "ls", *args)


def test_keys_one_per_line_in_archive_order_from_the_archive_or_its_index(s3, buckets):
    archived = make_archive(s3, buckets, KEYS)
    deleted = archived.outputs.archive_uri  # ls never reads the archive
    s3.delete_object(Bucket=deleted.bucket, Key=deleted.key)
    for uri in (archived.archive, archived.index):
        res = ls(uri)
        assert res.returncode == 0, res.stderr
        assert [unquote_key(line) for line in res.stdout.splitlines()] == list(KEYS)
    assert res.stdout.splitlines()[2:4] == ['"tab\\there"', '"\\"starts with a quote"']
    res = ls(archived.archive, "--prefix", "dir/")
    assert res.stdout.splitlines() == ["dir/with space", "dir/x"]
    assert ls(archived.archive, "--prefix", "nothing").stdout == ""


def test_long_listing_and_nul_separated(s3, buckets):
    archived = make_archive(s3, buckets, KEYS, compress="gzip")
    res = ls(archived.archive, "-l", "--prefix", "dir/")
    assert res.returncode == 0
    expected = [
        f"{r.size}\t{r.last_modified}\t-\t{r.member}\t{r.offset}\t{r.key}"
        for r in archived.rows
        if r.key.startswith("dir/")
    ]
    assert res.stdout.splitlines() == expected
    res = ls(archived.index, "-0")
    assert res.stdout.split("\0") == [*KEYS, ""]


def test_keys_with_line_breaks_stay_one_entry_each():
    # The moto server cannot store keys with a newline: the listing is tested on index rows.
    keys = ["a\nb", "c\r\nd", "e\u2028f", "g\x85h", "\\n literally", "plain"]
    rows = [
        IndexRow("b", k, "v1", 1, "2024-01-31T12:00:00.000Z", "e", "m", f"b/{i}", 512 * i)
        for i, k in enumerate(keys)
    ]
    out = io.BytesIO()
    write_listing(out, rows)
    lines = out.getvalue().decode().split("\n")[:-1]
    assert [unquote_key(line) for line in lines] == keys
    assert lines[-2:] == ["\\n literally", "plain"]  # a backslash alone needs no quoting
    out = io.BytesIO()
    write_listing(out, rows, long=True, null=True)
    entries = out.getvalue().decode().split("\0")[:-1]
    assert [e.split("\t", 5)[5] for e in entries] == keys
    assert entries[0].split("\t")[:5] == ["1", "2024-01-31T12:00:00.000Z", "v1", "b/0", "0"]


@pytest.mark.parametrize("key", ["", "x", '"', 'a"b', "\t", "\x00", "é\u0301"])
def test_quote_key_round_trips(key):
    assert unquote_key(quote_key(key)) == key
    assert "\n" not in quote_key(key + "\n")


def test_errors_name_the_uri(s3, bucket):
    res = ls(f"s3://{bucket}/archives/none.tar")
    assert res.returncode == 5
    assert res.stderr.strip().startswith(
        f"s3bundler ls: error: cannot read s3://{bucket}/archives/none.index:"
    )
    s3.put_object(Bucket=bucket, Key="x.index", Body=b"not,an,index\n")
    res = ls(f"s3://{bucket}/x.index")
    assert (
        res.returncode == 3
        and f"s3://{bucket}/x.index: not a readable s3bundler index" in res.stderr
    )
    res = ls(f"s3://{bucket}/x.zip")
    assert res.returncode == 2 and "not an archive or index URI" in res.stderr
