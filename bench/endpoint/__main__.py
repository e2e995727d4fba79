"""``python -m bench.endpoint --port P ...``: serve the benchmark endpoint in this process
(what :class:`bench.endpoint.process.BenchServer` starts)."""

from __future__ import annotations

import argparse
import os

import bench.endpoint
from bench.endpoint.server import serve
from s3common.local_endpoint import LOCAL_ENV


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until killed."""
    p = argparse.ArgumentParser(
        prog="python -m bench.endpoint", description=(bench.endpoint.__doc__ or "").splitlines()[0]
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--no-replay", action="store_true", help="every GET reaches moto")
    p.add_argument("--replay-max", type=int, default=16 << 20, help="largest body recorded")
    p.add_argument("--sink-bucket", action="append", default=[], help="multipart sink bucket")
    p.add_argument(
        "--put-sink", action="append", default=[], metavar="BUCKET/GLOB",
        help="PutObject of matching keys checked and counted, not stored",
    )  # fmt: skip
    p.add_argument("--cert", help="TLS certificate (PEM); with --key: serve HTTPS")
    p.add_argument("--key", help="TLS private key (PEM)")
    args = p.parse_args(argv)
    os.environ.update({k: v for k, v in LOCAL_ENV.items() if k not in os.environ})
    serve(
        args.host,
        args.port,
        args.latency_ms,
        replay=not args.no_replay,
        replay_max=args.replay_max,
        sink_buckets=args.sink_bucket,
        put_sinks=args.put_sink,
        tls=(args.cert, args.key) if args.cert and args.key else None,
    )


if __name__ == "__main__":
    main()
