"""The reference clients the bundler is measured against, each run as its own process so its
CPU and peak RSS are measured exactly like the bundler's:

    python -m bench.clients ceiling -m s3://BUCKET/KEY.index --concurrency 32 [--crt]
    python -m bench.clients loop    -m s3://BUCKET/KEY.index --limit 300 [--crt]
    python -m bench.clients startup -m s3://BUCKET/KEY.index [--bundler-imports]

- ``ceiling``: every object of the sub-manifest fetched by plain concurrent GETs -- one boto3
  client with ``max_pool_connections = concurrency``, a ThreadPoolExecutor of that size, each
  body read whole -- and nothing else (no tar, no MD5, no upload). What the bundler could reach
  at best with the same concurrency on the same machine. With ``--crt``: the same GETs through
  awscrt's S3 client (at most ``concurrency`` connections, bodies counted and dropped), the
  client the bundler uses by default -- the stricter ceiling.
- ``loop``: a plain sequential ``get_object(...)["Body"].read()`` loop over the first
  ``--limit`` objects: the CPU cost of one GET with boto3, without threads (``--crt``: one
  awscrt GET at a time). Its CPU is measured in-process, after the sub-manifest's GET (so no
  start-up cost is included).
- ``startup``: imports, a client, and the one GET of the sub-manifest every run starts with,
  then exit: the fixed cost subtracted from a process's CPU to get its CPU per object.

Each prints one JSON line: objects, bytes, seconds and cpu (process CPU) of the measured part.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
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


def measured(objects: int, fetch: Callable[[], int]) -> dict[str, Any]:
    """Run ``fetch`` (returns the bytes read) and time it: wall seconds and process CPU."""
    t0, c0 = time.monotonic(), time.process_time()
    total = fetch()
    return {
        "objects": objects,
        "bytes": total,
        "seconds": time.monotonic() - t0,
        "cpu": time.process_time() - c0,
    }


def ceiling(manifest: str, concurrency: int) -> dict[str, Any]:
    s3 = _client(concurrency)
    entries = _entries(s3, manifest)

    def get(e: Any) -> int:
        return len(s3.get_object(Bucket=e.bucket, Key=e.key)["Body"].read())

    def all_of_them() -> int:
        with ThreadPoolExecutor(concurrency) as pool:
            return sum(pool.map(get, entries))

    return measured(len(entries), all_of_them)


def loop(manifest: str, limit: int) -> dict[str, Any]:
    s3 = _client(1)
    entries = _entries(s3, manifest)[:limit]  # this first GET warms connection and lazy loads
    return measured(
        len(entries),
        lambda: sum(len(s3.get_object(Bucket=e.bucket, Key=e.key)["Body"].read()) for e in entries),
    )


class PlainCrt:
    """awscrt GETs with nothing on top: the bundler's own awscrt client and request
    (s3bundler.crt_fetcher), bodies only counted -- no MD5, checksum, tar or upload."""

    def __init__(self, boto_client: Any, concurrency: int) -> None:
        import os

        import boto3

        from s3bundler.crt_fetcher import CHECKSUM_MODE, CrtFetcher

        self._headers = CHECKSUM_MODE
        credentials = boto3.session.Session().get_credentials()
        self.fetcher = CrtFetcher(
            boto_client, credentials, concurrency, ca_bundle=os.environ.get("AWS_CA_BUNDLE")
        )

    def start(self, entry: Any) -> Any:
        """Start one GET; returns a Future of the body length."""
        from concurrent.futures import Future

        target = self.fetcher.target(entry.bucket)
        fut: Future[int] = Future()
        got = [0]

        def on_body(chunk: bytes, **_: Any) -> None:
            got[0] += len(chunk)

        def on_done(error: Any, status_code: int | None = None, **_: Any) -> None:
            if error is not None or status_code != 200:
                fut.set_exception(RuntimeError(f"{entry.key}: {status_code} {error}"))
            else:
                fut.set_result(got[0])

        path = target.path(entry)
        self.fetcher.send(
            target, "GetObject", path, self._headers, on_body=on_body, on_done=on_done
        )
        return fut


def crt_ceiling(manifest: str, concurrency: int) -> dict[str, Any]:
    s3 = _client(4)
    entries = _entries(s3, manifest)
    crt = PlainCrt(s3, concurrency)
    crt.start(entries[0]).result()  # connection and target lookup, as the boto3 ceiling's pool
    return measured(len(entries), lambda: sum(f.result() for f in [crt.start(e) for e in entries]))


def crt_loop(manifest: str, limit: int) -> dict[str, Any]:
    s3 = _client(1)
    entries = _entries(s3, manifest)[:limit]
    crt = PlainCrt(s3, 1)
    crt.start(entries[0]).result()  # warm-up, as the boto3 loop's first GET
    return measured(len(entries), lambda: sum(crt.start(e).result() for e in entries))


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
    p.add_argument("--crt", action="store_true", help="GET with awscrt's S3 client, not boto3")
    args = p.parse_args(argv)
    if args.mode == "ceiling":
        out = (crt_ceiling if args.crt else ceiling)(args.manifest, args.concurrency)
    elif args.mode == "loop":
        out = (crt_loop if args.crt else loop)(args.manifest, args.limit)
    else:
        out = startup(args.manifest, args.bundler_imports)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
