"""Build the s3grouper and s3bundler container images; with --push, push them to ECR.

    python tools/build_images.py [--base-image IMAGE] [--tag TAG] [-v]
    python tools/build_images.py --push [--region R] [--profile P] [--tag TAG]
                                 [--grouper-repo s3grouper] [--bundler-repo s3bundler]

1. Wheelhouse, built on the host: the project as a wheel (``pip wheel --no-deps .``) and its
   runtime dependencies as manylinux wheels for CPython 3.11 (``pip download --only-binary
   :all: --platform ...``; versions from pyproject.toml and dockerfiles/constraints.txt), plus
   dumb-init and pip, staged with the Dockerfiles as the build context (build/images/).
2. ``docker build`` of dockerfiles/<name>.Dockerfile with the BASE_IMAGE build argument and no
   network, tagged ``<name>:latest`` (and ``<name>:<tag>``).
3. ``--push``: ECR login with a GetAuthorizationToken token, repositories created if missing,
   images tagged ``<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`` and pushed; stdout
   gets ``GrouperImage=<uri>`` and ``BundlerImage=<uri>`` (CloudFormation parameter overrides).

Exit codes: 0 ok; 1 wheelhouse or image build failed; 2 usage, no Docker engine reachable, or
base image not available; 4 push failed; 7 ECR API or credentials error. Errors are one line on
stderr. See docs/containers.md.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = ROOT / "dockerfiles"
CONSTRAINTS = DOCKERFILES / "constraints.txt"
DEFAULT_BASE_IMAGE = "python:3.11-slim"
DEFAULT_CONTEXT = ROOT / "build" / "images"
DEFAULT_PLATFORM = "manylinux_2_28_x86_64"  # glibc >= 2.28: bookworm and python:3.11-slim
PYTHON_VERSION = "3.11"
IMAGE_ONLY_REQUIREMENTS = ("dumb-init",)  # versions pinned in dockerfiles/constraints.txt


@dataclass(frozen=True)
class ImageSpec:
    name: str  # image name, Dockerfile stem and default ECR repository
    parameter: str  # the stack parameter its URI is printed for


IMAGES = (ImageSpec("s3grouper", "GrouperImage"), ImageSpec("s3bundler", "BundlerImage"))


class Failure(Exception):
    """Ends the tool with a one-line message and an exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def log(message: str) -> None:
    print(f"build_images: {message}", file=sys.stderr, flush=True)


# --- 1. wheelhouse -------------------------------------------------------------------------


def runtime_requirements(root: Path = ROOT) -> list[str]:
    """pyproject.toml's [project] dependencies: what the images install (no test extras)."""
    with open(root / "pyproject.toml", "rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def _dist_name(requirement_or_wheel: str) -> str:
    """Normalised distribution name of a requirement (``boto3==1``) or wheel file name."""
    name = re.split(r"[<>=!~;\[ ]|-\d", requirement_or_wheel, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _pinned_names(requirements: Iterable[str]) -> set[str]:
    lines = (line.split("#", 1)[0].strip() for line in requirements)
    return {_dist_name(line) for line in lines if "==" in line}


def platform_tags(platform: str) -> list[str]:
    """``--platform`` values for pip download: a ``manylinux_2_<N>_<arch>`` tag means "glibc
    2.N or newer", so every older manylinux tag (and its legacy alias) is accepted too; pip only
    expands the legacy ``manylinux2014``/``manylinux2010`` names itself."""
    m = re.fullmatch(r"manylinux_2_(\d+)_(\w+)", platform)
    if not m:
        return [platform]
    newest, arch = int(m.group(1)), m.group(2)
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(newest, 4, -1)]
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    return tags + [f"{name}_{arch}" for minor, name in legacy.items() if minor <= newest]


def _pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    # Fixed zip timestamps: the same source gives the same project wheel, so an unchanged tree
    # rebuilds no layer.
    env = {**os.environ, "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH", "315532800")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise Failure(1, f"wheelhouse: pip {args[0]} failed (exit {proc.returncode})")


def build_wheelhouse(
    context: Path,
    *,
    platform: str = DEFAULT_PLATFORM,
    python_version: str = PYTHON_VERSION,
    root: Path = ROOT,
) -> Path:
    """Fill ``<context>/wheelhouse``: ``pip.whl`` (runs pip inside the build), ``deps/`` (runtime
    dependency wheels + requirements.txt) and ``project/`` (the project's wheel)."""
    wheelhouse = context / "wheelhouse"
    shutil.rmtree(wheelhouse, ignore_errors=True)
    deps, project = wheelhouse / "deps", wheelhouse / "project"
    for d in (deps, project):
        d.mkdir(parents=True)
    runtime = runtime_requirements(root)
    requirements = [*runtime, *IMAGE_ONLY_REQUIREMENTS]
    target = [
        "--only-binary", ":all:", "--python-version", python_version, "--implementation", "cp",
        "--abi", "cp" + python_version.replace(".", ""), "--constraint", str(CONSTRAINTS),
    ]  # fmt: skip
    for tag in platform_tags(platform):
        target += ["--platform", tag]
    _pip("download", "--quiet", "--dest", str(deps), *target, *requirements)
    (deps / "requirements.txt").write_text("\n".join(requirements) + "\n")
    _pip("download", "--quiet", "--dest", str(wheelhouse), "--no-deps", *target, "pip")
    (pip_wheel,) = wheelhouse.glob("pip-*.whl")
    pip_wheel.rename(wheelhouse / "pip.whl")
    source = wheelhouse / "source"
    _copy_source(root, source)
    _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(project), str(source))
    shutil.rmtree(source)

    pinned = _pinned_names([*CONSTRAINTS.read_text().splitlines(), *runtime])
    unpinned = sorted(w.name for w in deps.glob("*.whl") if _dist_name(w.name) not in pinned)
    if unpinned:
        log(f"warning: not pinned in dockerfiles/constraints.txt: {', '.join(unpinned)}")
    return wheelhouse


def _copy_source(root: Path, dest: Path) -> None:
    """A clean copy of the tree to build the project wheel from: setuptools' in-tree build/
    would carry modules deleted since."""
    skip_at_top = {".git", ".venv", "build", "dist", "tests", "bench"}

    def ignore(directory: str, names: list[str]) -> list[str]:
        top = Path(directory) == root
        return [
            n
            for n in names
            if n == "__pycache__"
            or n.endswith((".egg-info", "_cache"))
            or (top and n in skip_at_top)
        ]

    shutil.copytree(root, dest, ignore=ignore)


def stage_context(context: Path, **wheelhouse_options: Any) -> Path:
    """The build context: the wheelhouse plus both Dockerfiles."""
    context.mkdir(parents=True, exist_ok=True)
    build_wheelhouse(context, **wheelhouse_options)
    for spec in IMAGES:
        shutil.copy2(DOCKERFILES / f"{spec.name}.Dockerfile", context)
    return context


# --- 2. docker build -------------------------------------------------------------------------


def docker_client() -> Any:
    """A docker SDK client for the engine DOCKER_HOST (or the default socket) names."""
    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        import docker
        import docker.errors
    except ImportError:
        raise Failure(2, "the docker package is not installed: run `make venv`") from None
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise Failure(
            2,
            f"no Docker engine reachable at {where} ({type(exc).__name__}): start dockerd "
            "(as root on Debian: tools/prepare_docker.sh) or set DOCKER_HOST",
        ) from None
    return client


def ensure_base_image(client: Any, base_image: str) -> None:
    import docker.errors

    try:
        client.images.get(base_image)
        return
    except docker.errors.ImageNotFound:
        pass
    log(f"pulling base image {base_image}")
    try:
        client.images.pull(base_image)
    except docker.errors.DockerException as exc:
        reason = str(getattr(exc, "explanation", "") or exc).splitlines()[0][:200]
        raise Failure(
            2,
            f"base image {base_image} is not on this Docker engine and could not be pulled "
            f"({reason}); pass another with --base-image or BASE_IMAGE (docs/containers.md)",
        ) from None


def _git_revision(root: Path) -> str:
    proc = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True)
    return proc.stdout.decode().strip() if proc.returncode == 0 else ""


def _labels(spec: ImageSpec, base_image: str, root: Path) -> dict[str, str]:
    with open(root / "pyproject.toml", "rb") as f:
        version = tomllib.load(f)["project"]["version"]
    labels = {
        "org.opencontainers.image.title": spec.name,
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.base.name": base_image,
    }
    revision = _git_revision(root)
    if revision:
        labels["org.opencontainers.image.revision"] = revision
    return labels


@dataclass(frozen=True)
class BuiltImage:
    spec: ImageSpec
    ref: str  # local name:tag
    id: str
    size: int


def build_image(
    client: Any,
    context: Path,
    spec: ImageSpec,
    *,
    base_image: str,
    tags: Sequence[str] = ("latest",),
    verbose: bool = False,
    root: Path = ROOT,
) -> BuiltImage:
    """docker build one image from the staged context; tags ``<name>:<tag>`` for each tag."""
    ref = f"{spec.name}:{tags[0]}"
    recent: list[str] = []
    stream = client.api.build(
        path=str(context),
        dockerfile=f"{spec.name}.Dockerfile",
        tag=ref,
        buildargs={"BASE_IMAGE": base_image},
        labels=_labels(spec, base_image, root),
        network_mode="none",  # nothing is fetched inside the build
        pull=False,
        rm=True,
        forcerm=True,
        decode=True,
    )
    pending = ""
    for chunk in stream:
        if "error" in chunk:
            sys.stderr.write("".join(recent[-40:]))
            detail = str(chunk["error"]).strip().splitlines()[-1]
            raise Failure(1, f"{spec.name}: docker build failed: {detail}")
        text = chunk.get("stream", "")
        recent.append(text)
        if verbose:
            sys.stderr.write(text)
            continue
        *lines, pending = (pending + text).split("\n")
        for line in lines:
            if line.startswith("Step "):
                log(f"{spec.name}: {line if len(line) <= 110 else line[:107] + '...'}")
    image = client.images.get(ref)
    for extra in tags[1:]:
        image.tag(spec.name, extra)
    return BuiltImage(spec, ref, image.id, int(image.attrs.get("Size", 0)))


def build_all(
    client: Any,
    *,
    base_image: str = DEFAULT_BASE_IMAGE,
    tags: Sequence[str] = ("latest",),
    context: Path = DEFAULT_CONTEXT,
    platform: str = DEFAULT_PLATFORM,
    verbose: bool = False,
) -> list[BuiltImage]:
    """Base image check, wheelhouse, then both images. Returns them in IMAGES order."""
    ensure_base_image(client, base_image)
    started = time.monotonic()
    stage_context(context, platform=platform)
    log(f"wheelhouse ready in {time.monotonic() - started:.0f}s ({context / 'wheelhouse'})")
    built = []
    for spec in IMAGES:
        started = time.monotonic()
        image = build_image(
            client, context, spec, base_image=base_image, tags=tags, verbose=verbose
        )
        log(
            f"built {image.ref} {image.id[7:19]} {image.size / 1e6:.0f} MB "
            f"in {time.monotonic() - started:.0f}s (base {base_image})"
        )
        built.append(image)
    return built


# --- 3. push to ECR --------------------------------------------------------------------------


def _ecr_repository_uri(ecr: Any, name: str) -> str:
    from botocore.exceptions import ClientError

    try:
        repos = ecr.describe_repositories(repositoryNames=[name])["repositories"]
        return str(repos[0]["repositoryUri"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "RepositoryNotFoundException":
            raise
    repo = ecr.create_repository(
        repositoryName=name,
        imageScanningConfiguration={"scanOnPush": True},
        imageTagMutability="MUTABLE",
    )["repository"]
    log(f"created ECR repository {repo['repositoryUri']}")
    return str(repo["repositoryUri"])


@dataclass(frozen=True)
class Registry:
    endpoint: str  # what docker login takes, e.g. https://<account>.dkr.ecr.<region>.amazonaws.com
    username: str
    password: str
    repositories: dict[str, str]  # image name -> repository URI (<host>/<repo>)


def ecr_registry(
    repositories: dict[str, str], *, region: str | None = None, profile: str | None = None
) -> Registry:
    """ECR credentials (GetAuthorizationToken) and the URIs of the repositories, created if
    missing. ``repositories`` maps image name -> repository name."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        ecr = boto3.Session(region_name=region, profile_name=profile).client("ecr")
        auth = ecr.get_authorization_token()["authorizationData"][0]
        username, password = base64.b64decode(auth["authorizationToken"]).decode().split(":", 1)
        uris = {image: _ecr_repository_uri(ecr, repo) for image, repo in repositories.items()}
    except (BotoCoreError, ClientError) as exc:
        raise Failure(7, f"ECR: {exc}") from None
    return Registry(auth["proxyEndpoint"], username, password, uris)


def push_images(
    client: Any, images: Sequence[BuiltImage], registry: Registry, *, tag: str
) -> dict[str, str]:
    """Log in, tag each image ``<repository URI>:<tag>`` and push it; returns name -> URI."""
    import docker.errors

    credentials = {"username": registry.username, "password": registry.password}
    try:
        client.login(registry=registry.endpoint, **credentials)
    except docker.errors.DockerException as exc:
        raise Failure(4, f"docker login to {registry.endpoint} failed: {exc}") from None
    pushed = {}
    for img in images:
        repo_uri = registry.repositories[img.spec.name]
        client.images.get(img.ref).tag(repo_uri, tag)
        digest = ""
        try:
            for line in client.images.push(
                repo_uri, tag=tag, auth_config=credentials, stream=True, decode=True
            ):
                if "error" in line:
                    raise Failure(4, f"push {repo_uri}:{tag} failed: {line['error']}")
                digest = line.get("aux", {}).get("Digest", digest)
        except docker.errors.DockerException as exc:
            raise Failure(4, f"push {repo_uri}:{tag} failed: {exc}") from None
        log(f"pushed {repo_uri}:{tag} {digest}")
        pushed[img.spec.name] = f"{repo_uri}:{tag}"
    return pushed


# --- command line ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="build_images",
        description="Build the s3grouper and s3bundler images (wheelhouse first); "
        "with --push, push them to ECR and print the URIs for the stack.",
        epilog="Exit codes: 0 ok, 1 build failed, 2 usage / no Docker engine / no base image, "
        "4 push failed, 7 ECR API error. See docs/containers.md.",
    )
    p.add_argument(
        "--base-image",
        default=os.environ.get("BASE_IMAGE") or DEFAULT_BASE_IMAGE,
        metavar="IMAGE",
        help="base image with python3 3.11 (default: $BASE_IMAGE or %(default)s)",
    )
    p.add_argument("--tag", default="latest", help="image tag (default: latest)")
    p.add_argument(
        "--context",
        type=Path,
        default=DEFAULT_CONTEXT,
        metavar="DIR",
        help="where the wheelhouse and build context are staged (default: build/images)",
    )
    p.add_argument(
        "--platform",
        default=DEFAULT_PLATFORM,
        help="wheel platform tag of the images (default: %(default)s)",
    )
    p.add_argument(
        "--wheelhouse-only",
        action="store_true",
        help="stage the wheelhouse and build context, build nothing",
    )
    p.add_argument("--push", action="store_true", help="push both images to ECR")
    p.add_argument("--region", help="ECR region (default: the boto3 chain)")
    p.add_argument("--profile", help="AWS profile (default: the boto3 chain)")
    p.add_argument("--grouper-repo", default="s3grouper", metavar="NAME", help="ECR repository")
    p.add_argument("--bundler-repo", default="s3bundler", metavar="NAME", help="ECR repository")
    p.add_argument("-v", "--verbose", action="store_true", help="show the whole build output")
    return p


def _main(args: argparse.Namespace) -> int:
    if args.wheelhouse_only:
        stage_context(args.context, platform=args.platform)
        log(f"build context staged in {args.context}")
        return 0
    client = docker_client()
    registry = None
    if args.push:  # credentials and repositories first: fail before a build, not after
        repositories = {"s3grouper": args.grouper_repo, "s3bundler": args.bundler_repo}
        registry = ecr_registry(repositories, region=args.region, profile=args.profile)
    tags = ["latest"] if args.tag == "latest" else ["latest", args.tag]
    built = build_all(
        client,
        base_image=args.base_image,
        tags=tags,
        context=args.context,
        platform=args.platform,
        verbose=args.verbose,
    )
    if registry is None:
        return 0
    uris = push_images(client, built, registry, tag=args.tag)
    for img in built:
        print(f"{img.spec.parameter}={uris[img.spec.name]}", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except Failure as exc:
        print(f"build_images: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("build_images: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
