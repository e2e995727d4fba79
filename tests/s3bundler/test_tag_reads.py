"""--tags auto|always|never (s3bundler/tag_reads.py): against a scripted server whose GETs do
or do not announce tags (x-amz-tagging-count), through the awscrt fetcher and boto3's reads,
and end to end on the moto server."""

from __future__ import annotations

import logging
import threading
from http.server import ThreadingHTTPServer

import boto3
import botocore.session
import pytest

from s3bundler.boto_reads import fetch_whole
from s3bundler.crt_fetcher import CrtFetcher
from s3bundler.index import read_index
from s3bundler.tag_reads import TagReads
from s3common.submanifest import ManifestEntry
from tests.helpers import run_cli
from tests.s3bundler.e2e import outputs_for
from tests.s3bundler.sources import get_bytes, put_manifest, seed
from tests.s3bundler.test_boto_reads import FakeS3, fake_response
from tests.s3bundler.test_crt_fetcher import _ok_headers, _Scripted, fetch

TAGS_XML = (
    b'<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>'
    b"<Tag><Key>team</Key><Value>a b</Value></Tag></TagSet></Tagging>"
)
NO_TAGS_XML = b"<Tagging><TagSet></TagSet></Tagging>"
DENIED = b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>"


@pytest.fixture()
def scripted():
    """test_crt_fetcher's scripted server: each GET gets the script's next answer."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    _Scripted.script, _Scripted.seen = [], []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def crt_on(server, reads: TagReads) -> CrtFetcher:
    s3 = boto3.client(
        "s3", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{server.server_port}",
        aws_access_key_id="a", aws_secret_access_key="b",
    )  # fmt: skip
    creds = botocore.session.get_session().get_credentials() or s3._request_signer._credentials
    return CrtFetcher(s3, creds, 2, probe_client=s3, tag_reads=reads)


def get(body: bytes, tag_count: int = 0) -> tuple:
    headers = _ok_headers(body)
    if tag_count:
        headers["x-amz-tagging-count"] = str(tag_count)
    return (200, headers, body, None)


def tagging(xml: bytes, status: int = 200) -> tuple:
    return (status, {}, xml, None)


def run(server, reads: TagReads, script: list[tuple], keys: list[str]) -> list:
    _Scripted.script = script
    crt = crt_on(server, reads)
    try:
        return [fetch(crt, ManifestEntry("b", k, 1)) for k in keys]
    finally:
        crt.close()


def test_probe_finds_tags_a_get_did_not_announce_and_reads_every_objects_from_then_on(
    scripted, caplog
):
    caplog.set_level(logging.WARNING)
    script = [get(b"1"), tagging(TAGS_XML), get(b"2"), tagging(NO_TAGS_XML), get(b"3"),
              tagging(TAGS_XML), get(b"4"), tagging(DENIED, 403)]  # fmt: skip
    got = run(scripted, TagReads("auto", probe_objects=1), script, ["k1", "k2", "k3", "k4"])
    assert _Scripted.seen == ["/b/k1", "/b/k1?tagging", "/b/k2", "/b/k2?tagging",
                              "/b/k3", "/b/k3?tagging", "/b/k4", "/b/k4?tagging"]  # fmt: skip
    assert [f.tags for f in got] == [{"team": "a b"}, {}, {"team": "a b"}, None]
    assert [f.flags for f in got] == [[], [], [], ["tags-unreadable:AccessDenied"]]
    switched = [r for r in caplog.records if "gets a tagging GET from now on" in r.message]
    assert len(switched) == 1 and "no x-amz-tagging-count" in switched[0].message


def test_probe_ends_after_its_objects_or_at_the_first_announced_tags(scripted):
    script = [get(b"1"), tagging(NO_TAGS_XML), get(b"2"), tagging(NO_TAGS_XML), get(b"3")]
    got = run(scripted, TagReads("auto", probe_objects=2), script, ["k1", "k2", "k3"])
    assert _Scripted.seen == ["/b/k1", "/b/k1?tagging", "/b/k2", "/b/k2?tagging", "/b/k3"]
    assert [f.tags for f in got] == [{}, {}, {}] and all(f.flags == [] for f in got)

    _Scripted.seen = []
    script = [get(b"1", tag_count=1), tagging(TAGS_XML), get(b"2")]
    got = run(scripted, TagReads("auto"), script, ["k1", "k2"])
    assert _Scripted.seen == ["/b/k1", "/b/k1?tagging", "/b/k2"]
    assert [f.tags for f in got] == [{"team": "a b"}, {}]


def test_a_probe_that_cannot_read_tags_adds_no_flag_and_ends(scripted, caplog):
    caplog.set_level(logging.WARNING)
    script = [get(b"1"), tagging(DENIED, 403), get(b"2")]
    got = run(scripted, TagReads("auto"), script, ["k1", "k2"])
    assert _Scripted.seen == ["/b/k1", "/b/k1?tagging", "/b/k2"]
    assert [(f.tags, f.flags) for f in got] == [({}, []), ({}, [])]
    assert "trusting x-amz-tagging-count" in caplog.text


def test_always_and_never(scripted):
    got = run(scripted, TagReads("always"), [get(b"1"), tagging(TAGS_XML)], ["k1"])
    assert _Scripted.seen == ["/b/k1", "/b/k1?tagging"] and got[0].tags == {"team": "a b"}
    _Scripted.seen = []
    got = run(scripted, TagReads("never"), [get(b"1", tag_count=3)], ["k1"])
    assert _Scripted.seen == ["/b/k1"]
    assert (got[0].tags, got[0].flags) == ({}, ["tags-not-read"])


def test_boto3_reads_follow_the_same_policy():
    reads = TagReads("auto", probe_objects=1)
    fake = FakeS3(fake_response(b"a"), fake_response(b"b"), tags=[{"Key": "t", "Value": "1"}])
    first = fetch_whole(fake, ManifestEntry("b", "k1", 1), 100, reads)
    second = fetch_whole(fake, ManifestEntry("b", "k2", 1), 100, reads)
    assert first.tags == second.tags == {"t": "1"}  # no TagCount, tags all the same
    never = fetch_whole(FakeS3(fake_response(b"c")), ManifestEntry("b", "k", 1), 100,
                        TagReads("never"))  # fmt: skip
    assert never.flags == ["tags-not-read"]
    with pytest.raises(ValueError):
        TagReads("sometimes")


@pytest.mark.parametrize("get_client", ["crt", "boto3"])
def test_tags_never_on_the_command_line(s3, buckets, get_client):
    src_b, arch_b, man_b = buckets
    src = seed(s3, src_b, {"a": 5, "b": 6, "big": 9 << 20}, tag_every=2)
    manifest = put_manifest(
        s3, man_b, "p/t.0.index", [ManifestEntry(src_b, k, len(v)) for k, v in src.data.items()]
    )
    args = ["-b", arch_b, "--tags", "never", "--get-client", get_client]
    result = run_cli("s3bundler", "-m", str(manifest), *args)
    assert result.returncode == 0, result.stderr
    rows = list(read_index(get_bytes(s3, outputs_for(manifest, src_b, arch_b).index_uri)))
    assert [(r.key, r.tags, r.flags) for r in rows] == [
        (k, {}, "tags-not-read") for k in ("a", "b", "big")
    ]
