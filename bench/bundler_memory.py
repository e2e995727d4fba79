"""Peak memory of the bundler as the archive grows: one row per archive size.

    .venv/bin/python bench/bundler_memory.py [--sizes 64M,256M,1G] [--object-size 8M]
                                             [--latency-ms 0]

A shortcut into the benchmark (``python -m bench``, scenario ``1g`` there): it seeds objects
into the benchmark endpoint, writes one sub-manifest per archive size and runs ``s3bundler -m``
as a measured subprocess on each. The claim it checks: peak RSS does not grow with the archive
(it is bounded by --buffer, the part size and upload concurrency).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

from bench.__main__ import log, run  # noqa: E402
from bench.bundler_bench import Settings  # noqa: E402
from bench.bundler_scenarios import Dataset, Run, Scenario  # noqa: E402
from bench.report import bundler_table  # noqa: E402
from s3common.sizes import format_size, parse_size  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="64M,256M,1G")
    p.add_argument("--object-size", default="8M")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--concurrency", type=int, default=32)
    args = p.parse_args(argv)
    obj = parse_size(args.object_size)
    counts = sorted({max(1, parse_size(s) // obj) for s in args.sizes.split(",")})
    scenario = Scenario(
        "rss",
        "bundler peak RSS vs archive size",
        Dataset(f"rss-{obj}", obj),
        tuple(Run("bundler", c) for c in counts),
    )
    settings = Settings(latency_ms=args.latency_ms, concurrency=args.concurrency, log=log)
    results = run([scenario], [], settings)
    print(bundler_table(results["bundler"]))
    for r in results["bundler"]:
        print(f"{format_size(r['archive_bytes'])} archive: peak RSS {r['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
