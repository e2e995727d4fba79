"""Peak memory of the bundler as the archive grows: prints one row per archive size.

    .venv/bin/python bench/bundler_memory.py [--sizes 64M,256M,1G] [--object-size 8M]

Starts its own moto server, seeds objects, writes a sub-manifest, runs ``s3bundler -m`` as a
subprocess and reads the child's peak RSS from getrusage. The claim it checks: peak RSS does
not grow with the archive (it is bounded by --buffer, the part size and upload concurrency).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3

from s3common.local_endpoint import MotoServer
from s3common.sizes import format_size, parse_size
from s3common.submanifest import ManifestEntry, encode_manifest


def run_case(s3, env: dict[str, str], archive_bytes: int, object_size: int, tag: str) -> dict:
    src, arch = f"src-{tag}", f"arch-{tag}"
    s3.create_bucket(Bucket=src)
    s3.create_bucket(Bucket=arch)
    count = max(1, archive_bytes // object_size)
    body = os.urandom(object_size)
    keys = [f"obj/{i:06d}" for i in range(count)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=src, Key=k, Body=body), keys))
    manifest = encode_manifest(ManifestEntry(src, k, object_size) for k in keys)
    s3.put_object(Bucket=src, Key="m.0.index", Body=manifest)
    cmd = [sys.executable, "-m", "s3bundler", "-m", f"s3://{src}/m.0.index", "-b", arch]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"bundler failed ({proc.returncode}): {proc.stderr[-2000:]}")
    # ru_maxrss of RUSAGE_CHILDREN is the max over all waited-for children (KiB on Linux);
    # cases run in increasing size, so a larger value belongs to this run.
    return {
        "archive_bytes": count * object_size,
        "objects": count,
        "object_size": object_size,
        "seconds": round(seconds, 2),
        "peak_rss_mib": round(after.ru_maxrss / 1024, 1),
        "rss_grew": after.ru_maxrss > before.ru_maxrss,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="64M,256M,1G")
    p.add_argument("--object-size", default="8M")
    args = p.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    obj = parse_size(args.object_size)
    with MotoServer() as server:
        env = {**os.environ, **server.env()}
        os.environ.update(server.env())
        s3 = boto3.client("s3")
        rows = [run_case(s3, env, size, obj, f"{i}") for i, size in enumerate(sorted(sizes))]
    print(f"{'archive':>10} {'objects':>8} {'obj size':>9} {'seconds':>8} {'peak RSS':>10}")
    for r in rows:
        print(
            f"{format_size(r['archive_bytes']):>10} {r['objects']:>8} "
            f"{format_size(r['object_size']):>9} {r['seconds']:>8} {r['peak_rss_mib']:>8} MiB"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
