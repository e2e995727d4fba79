"""Installing s3bundler like a Python tool, from its wheel into a fresh venv.

Without extras it brings s3grouper, s3bundler and submitmanifest and only the runtime
dependencies: nothing of [deploy] (troposphere, the docker SDK) or [test]. The runtime wheels
are the ones tools/build_images.py stages for the images (same pins, same wheelhouse), so this
also checks what the images get, without a Docker engine. With [deploy], the template
generators' console scripts print the same templates as the checkout's scripts.

Everything is installed with ``--no-index`` from wheelhouses built first: the runtime one by
tools/build_images.py, the [deploy] one with ``pip download`` pinned to the project venv's
versions (pip's cache makes repeats quick). About a minute; ``-m 'not install'`` skips it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.cloudformation.conftest import CORE, FLEET, generate_text
from tools import build_images

pytestmark = [
    pytest.mark.install,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        sys.platform != "linux", reason="the wheelhouse holds manylinux wheels (Linux only)"
    ),
]

ROOT = Path(__file__).resolve().parents[1]
CLIS = ("s3grouper", "s3bundler", "submitmanifest")
#: Imported by the [deploy] and [test] extras; none of them may come with the plain install.
NOT_RUNTIME = ("troposphere", "docker", "moto", "pytest", "cfnlint", "checkov", "ruff")


def _run(cmd: list[str | Path], **kwargs) -> subprocess.CompletedProcess[str]:
    """Run with no pip configuration of this machine and no path into the checkout."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=600, **kwargs
    )


def _pip_install(venv: Path, pip_whl: Path, *args: str | Path) -> None:
    """pip run from its wheel, as the Dockerfiles run it (the venv has no pip of its own)."""
    proc = _run(
        [venv / "bin" / "python", pip_whl / "pip", "install", "--no-index", "--no-cache-dir",
         "--disable-pip-version-check", "--only-binary", ":all:", *args],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def _installed(venv: Path) -> set[str]:
    probe = (
        "import importlib.metadata as m, json, re; "
        "print(json.dumps([re.sub(r'[-_.]+', '-', d.metadata['Name']).lower() "
        "for d in m.distributions()]))"
    )
    proc = _run([venv / "bin" / "python", "-c", probe])
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout))


def _deploy_requirements() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return list(tomllib.load(f)["project"]["optional-dependencies"]["deploy"])


def test_wheel_installs_the_clis_with_runtime_dependencies_only(tmp_path: Path):
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    wheelhouse = build_images.build_wheelhouse(
        tmp_path / "context",
        platform=f"manylinux_2_28_{platform.machine()}",
        python_version=version,
    )
    deps, project, pip_whl = wheelhouse / "deps", wheelhouse / "project", wheelhouse / "pip.whl"
    (wheel,) = project.glob("s3bundler-*.whl")

    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", venv])
    assert made.returncode == 0, made.stderr
    # The project by name, dependencies resolved from its wheel's metadata: the runtime
    # wheelhouse alone must satisfy them.
    _pip_install(venv, pip_whl, "--find-links", deps, "--find-links", project, "s3bundler")

    installed = _installed(venv)
    runtime = {build_images._dist_name(r) for r in build_images.runtime_requirements()}
    downloaded = {build_images._dist_name(w.name) for w in deps.glob("*.whl")}
    assert runtime <= installed
    # Exactly the runtime closure the images get, less what only the images add.
    assert installed == {"s3bundler"} | downloaded - set(build_images.IMAGE_ONLY_REQUIREMENTS)
    assert not installed & {build_images._dist_name(r) for r in _deploy_requirements()}

    bin_dir = venv / "bin"
    for cli in CLIS:
        proc = _run([bin_dir / cli, "--help"], cwd=tmp_path)
        assert proc.returncode == 0, f"{cli} --help: {proc.stderr[-2000:]}"
        assert "usage:" in proc.stdout, proc.stdout
    # The price table is package data: --plan, --report and reconcile --costs need it.
    probe = "from s3common.prices import load_prices; print(load_prices().storage('GLACIER'))"
    proc = _run([bin_dir / "python", "-c", probe], cwd=tmp_path)
    assert proc.returncode == 0 and float(proc.stdout) > 0, proc.stderr[-2000:]
    for module in NOT_RUNTIME:
        proc = _run([bin_dir / "python", "-c", f"import {module}"], cwd=tmp_path)
        assert proc.returncode != 0, f"{module} is importable without the extras"
        assert "ModuleNotFoundError" in proc.stderr, proc.stderr
    # The generators' scripts are there too, and say which extra they need.
    proc = _run([bin_dir / "s3bundler-cfn"], cwd=tmp_path)
    assert proc.returncode != 0
    assert "pip install 's3bundler[deploy]'" in proc.stderr, proc.stderr

    # [deploy]: troposphere and the docker SDK at the project venv's versions, so pip's cache
    # usually has them; the same wheel, now with the extra.
    deploy = tmp_path / "deploy"
    freeze = _run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"])
    assert freeze.returncode == 0, freeze.stderr
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(freeze.stdout)
    fetched = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--only-binary", ":all:", "--dest", deploy, "--constraint", constraints,
         *_deploy_requirements()],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr[-3000:]
    _pip_install(venv, pip_whl, "--find-links", deps, "--find-links", deploy, f"{wheel}[deploy]")
    assert {"troposphere", "docker"} <= _installed(venv)
    for script, command in (
        (CORE, [bin_dir / "s3bundler-cfn"]),
        (FLEET, [bin_dir / "s3bundler-spotfleet-cfn"]),
        (FLEET, [bin_dir / "python", "-m", "cloudformation.s3bundler_spotfleet_cfn"]),
    ):
        proc = _run(command, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout == generate_text([sys.executable, str(script)]), command
