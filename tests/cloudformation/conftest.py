"""Fixtures for the CloudFormation tests: the generators are scripts in cloudformation/, put on
sys.path the way ``python cloudformation/<stack>.py`` puts their folder there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CFN_DIR = Path(__file__).resolve().parents[2] / "cloudformation"
CORE = CFN_DIR / "s3bundler_cfn.py"
FLEET = CFN_DIR / "s3bundler_spotfleet_cfn.py"
if str(CFN_DIR) not in sys.path:
    sys.path.insert(0, str(CFN_DIR))


def generate(script: Path, *args: str) -> dict[str, Any]:
    """Run a generator as users do, with no AWS configuration at all: no credentials, no
    region, and an endpoint nothing listens on, so any AWS call would fail."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=CFN_DIR.parent,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


@pytest.fixture(scope="session")
def core_template() -> dict[str, Any]:
    return generate(CORE)


@pytest.fixture(scope="session")
def fleet_template() -> dict[str, Any]:
    return generate(FLEET)
