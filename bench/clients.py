"""The reference clients the bundler is measured against, each run as its own process so its
CPU and peak RSS are measured exactly like the bundler's:

    python -m bench.clients ceiling -m s3://BUCKET/KEY.index --concurrency 32
    python -m bench.clients loop    -m s3://BUCKET/KEY.index --limit 300
    python -m bench.clients startup -m s3://BUCKET/KEY.index [--bundler-imports]

- ``ceiling``: every object of the sub-manifest fetched by plain concurrent GETs -- one boto3
  client with ``max_pool_connections = concurrency``, a ThreadPoolExecutor of that size, each
  body read whole -- and nothing else (no tar, no MD5, no upload). What the bundler could reach
  at best with the same concurrency on the same machine.
- ``loop``: a plain sequential ``get_object(...)["Body"].read()`` loop over the first
  ``--limit`` objects: the CPU cost of one GET with boto3, without threads. Its CPU is
  measured in-process, after the sub-manifest's GET (so no start-up cost is included).
- ``startup``: imports, a client, and the one GET of the sub-manifest every run starts with,
  then exit: the fixed cost subtracted from a process's CPU to get its CPU per object.

Each prints one JSON line: objects, bytes, seconds and cpu (process CPU) of the measured part.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def _client(pool: int) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(max_pool_connections=pool))


def _entries(s3: Any, uri: str) -> list[Any]:
    from s3common.s3uri import parse_s3_uri
    from s3common.submanifest import read_manifest

    u = parse_s3_uri(uri)
    data = s3.get_object(Bucket=u.bucket, Key=u.key)["Body"].read()
    return list(read_manifest(data, source=uri))


def ceiling(manifest: str, concurrency: int) -> dict[str, Any]:
    s3 = _client(concurrency)
    entries = _entries(s3, manifest)

    def get(e: Any) -> int:
        return len(s3.get_object(Bucket=e.bucket, Key=e.key)["Body"].read())

    t0, c0 = time.monotonic(), time.process_time()
    with ThreadPoolExecutor(concurrency) as pool:
        total = sum(pool.map(get, entries))
    return {
        "objects": len(entries),
        "bytes": total,
        "seconds": time.monotonic() - t0,
        "cpu": time.process_time() - c0,
    }


def loop(manifest: str, limit: int) -> dict[str, Any]:
    s3 = _client(1)
    entries = _entries(s3, manifest)[:limit]  # this first GET warms connection and lazy loads
    t0, c0 = time.monotonic(), time.process_time()
    total = 0
    for e in entries:
        total += len(s3.get_object(Bucket=e.bucket, Key=e.key)["Body"].read())
    return {
        "objects": len(entries),
        "bytes": total,
        "seconds": time.monotonic() - t0,
        "cpu": time.process_time() - c0,
    }


def startup(manifest: str, bundler_imports: bool) -> dict[str, Any]:
    if bundler_imports:
        # what python -m s3bundler imports
        import s3bundler.cli
        import s3bundler.worker  # noqa: F401
    entries = _entries(_client(10), manifest)
    return {"objects": 0, "bytes": 0, "seconds": 0.0, "cpu": 0.0, "manifest_rows": len(entries)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["ceiling", "loop", "startup"])
    p.add_argument("-m", "--manifest", required=True, help="s3://bucket/key of a sub-manifest")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--limit", type=int, default=300)
    p.add_argument("--bundler-imports", action="store_true")
    args = p.parse_args(argv)
    if args.mode == "ceiling":
        out = ceiling(args.manifest, args.concurrency)
    elif args.mode == "loop":
        out = loop(args.manifest, args.limit)
    else:
        out = startup(args.manifest, args.bundler_imports)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
