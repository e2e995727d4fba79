"""One fault endpoint for the endpoint's own tests; each test starts from a fresh one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.endpoint.process import FaultServer


@pytest.fixture()
def endpoint(fault_server: FaultServer) -> Iterator[FaultServer]:
    """The fault endpoint with no rules, an empty log and nothing stored."""
    fault_server.reset()
    yield fault_server
    fault_server.clear()
