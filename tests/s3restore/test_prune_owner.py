"""``s3bundler prune --expected-bucket-owner/--expected-source-owner`` on the instrumented
endpoint, which logs every request's headers and refuses a wrong owner as S3 does: the HEADs
and the DeleteObjects of the source carry the source's owner, the logs the archive bucket's,
and a wrong source owner stops the run before anything is deleted."""

from __future__ import annotations

import pytest

from tests.s3restore.test_prune import KEPT, make_job, prune, source_keys, verified

OWNER, SOURCE_OWNER = "111111111111", "222222222222"
SRC, ARCH, MAN = "prune-src", "prune-arch", "prune-man"


@pytest.fixture()
def server(fault_server):
    return fault_server


@pytest.fixture()
def s3(server, monkeypatch):
    return server.fresh(monkeypatch, SRC, ARCH, MAN)


def test_owners_go_with_every_request_and_a_wrong_one_deletes_nothing(server, s3, tmp_path):
    job = make_job(s3, (SRC, ARCH, MAN), objects=12)
    server.set_faults({"kind": "owner", "bucket": SRC, "account": SOURCE_OWNER})
    owners = ["--expected-bucket-owner", OWNER, "--expected-source-owner"]
    wrong, _ = prune(job, tmp_path, "--yes", *owners, "999999999999")
    assert wrong.returncode == 5, wrong.stderr
    last = wrong.stderr.splitlines()[-1]  # after reconcile's progress lines
    assert last.startswith("s3bundler prune: error: cannot HEAD s3://prune-src/")
    assert last.endswith("403: Forbidden")
    assert len(source_keys(s3, SRC)) == 12 and not server.requests(operation="DeleteObjects")
    server.clear_log()
    result, rows = prune(job, tmp_path, "--yes", *owners, SOURCE_OWNER)
    assert result.returncode == 0, result.stderr
    assert source_keys(s3, SRC) == set(KEPT)
    assert {k for k, r in rows.items() if r["action"] == "deleted"} == verified(job)
    to_source = server.headers(bucket=SRC)
    assert {"HeadObject", "DeleteObjects"} <= {
        r["operation"] for r in server.requests(bucket=SRC) if not r["exempt"]
    }
    assert all(h.get("x-amz-expected-bucket-owner") == SOURCE_OWNER for h in to_source)
    logs = server.headers(operation="PutObject", bucket=ARCH)
    assert logs and all(h.get("x-amz-expected-bucket-owner") == OWNER for h in logs)
