"""Fixtures for the CloudFormation tests: the templates as users generate them, running
``python cloudformation/<stack>.py`` (the generators are also the package ``cloudformation``,
whose other entry points test_templates.py checks against this one)."""

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
ATHENA = CFN_DIR / "s3bundler_athena_cfn.py"


def generate_text(command: list[str], *args: str) -> str:
    """Run a generator (``command``: how to start it) as users do, with no AWS configuration
    at all: no credentials, no region, and an endpoint nothing listens on, so any AWS call would
    fail. Returns what it printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    proc = subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=CFN_DIR.parent,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def generate(script: Path, *args: str) -> dict[str, Any]:
    """``python cloudformation/<stack>.py ARGS``, parsed (``{}`` when it printed nothing)."""
    out = generate_text([sys.executable, str(script)], *args)
    return json.loads(out) if out.strip() else {}


@pytest.fixture(scope="session")
def core_template() -> dict[str, Any]:
    return generate(CORE)


@pytest.fixture(scope="session")
def fleet_template() -> dict[str, Any]:
    return generate(FLEET)


@pytest.fixture(scope="session")
def athena_template() -> dict[str, Any]:
    return generate(ATHENA)
