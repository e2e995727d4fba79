"""Rule matching, budgets, windows and seeded rates, without a server."""

from __future__ import annotations

import pytest

from tests.endpoint.classify import RequestInfo
from tests.endpoint.rules import Rule, parse_rules

GET = RequestInfo("GET", "s3", "GetObject", "src", "big/a.bin", "")
RANGED = RequestInfo("GET", "s3", "GetObject", "src", "big/a.bin", "bytes=5-")
RECEIVE = RequestInfo("POST", "sqs", "ReceiveMessage")


def test_static_match_fields():
    assert Rule("error").matches(GET, now=1e12)
    assert Rule("error", service="s3").matches(GET, 1e12)
    assert not Rule("error", service="s3").matches(RECEIVE, 1e12)
    assert Rule("error", service="!s3").matches(RECEIVE, 1e12)
    assert not Rule("error", service="!s3").matches(GET, 1e12)
    assert Rule("error", operation="GetObject").matches(GET, 1e12)
    assert not Rule("error", operation=["PutObject", "UploadPart"]).matches(GET, 1e12)
    assert Rule("error", bucket=["other", "src"], key_prefix="big/").matches(GET, 1e12)
    assert not Rule("error", key_prefix="small/").matches(GET, 1e12)
    assert not Rule("error", key_prefix="big/").matches(RECEIVE, 1e12)
    assert Rule("corrupt", range=True).matches(RANGED, 1e12)
    assert not Rule("corrupt", range=True).matches(GET, 1e12)
    assert Rule("cut", range=False).matches(GET, 1e12)


def test_time_window_counts_from_when_the_rule_was_set():
    rule = Rule("outage", start=2, stop=5)
    t0 = rule._installed
    assert [rule.matches(GET, t0 + t) for t in (0, 1.9, 2, 4.9, 5, 9)] == [
        False, False, True, True, False, False,
    ]  # fmt: skip
    assert rule.service == "s3"  # an outage is S3's unless told otherwise
    assert not rule.matches(RECEIVE, t0 + 3)


def test_count_budget_and_seeded_rate():
    rule = Rule("error", count=3)
    assert [rule.fire() for _ in range(5)] == [True, True, True, False, False]
    assert (rule.matched, rule.fired) == (5, 3)

    def pattern(seed: int) -> list[bool]:
        (r,) = parse_rules({"seed": seed, "rules": [{"kind": "reset", "rate": 0.3}]})
        return [r.fire() for _ in range(200)]

    assert pattern(7) == pattern(7)
    assert pattern(7) != pattern(8)
    assert 30 < sum(pattern(7)) < 90


def test_bad_rules_are_refused():
    with pytest.raises(ValueError, match="unknown fault kind"):
        parse_rules([{"kind": "explode"}])
    with pytest.raises(ValueError, match="unknown rule fields"):
        parse_rules([{"kind": "error", "probability": 0.5}])
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        parse_rules([{"kind": "error", "rate": 2}])
    with pytest.raises(ValueError, match="list"):
        parse_rules({"rules": "error"})
