"""The README's "What it saves" example: an inventory of a bucket of small objects (1M by
default) written to a local endpoint with s3jobs/inventory_report.py, then ``s3grouper --plan``
on it.

    .venv/bin/python bench/plan_example.py [--objects 1000000] [-- <s3grouper --plan options>]

The mix (seeded, so the output is the same every run): object sizes log-normal around 24 KiB
(sigma 1.8: most between 1 KiB and 1 MiB, a tail to tens of MiB), 90 % STANDARD, 10 %
STANDARD_IA; 5 video masters of 3-8 GiB (copied, not archived); a folder marker per 1,000
objects; keys like ``photos/2023/05/17/IMG_012345.jpg``.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script
    sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from s3common.local_endpoint import MotoServer  # noqa: E402
from s3common.sizes import GiB  # noqa: E402
from s3jobs import inventory_report  # noqa: E402

CLASSES = ("STANDARD",) * 9 + ("STANDARD_IA",)


def rows(objects: int, seed: int = 14) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(objects):
        day = f"{2019 + i * 5 // objects}/{1 + i % 12:02d}/{1 + i % 28:02d}"
        size = min(int(rng.lognormvariate(math.log(24 * 1024), 1.8)), 512 << 20)
        out.append({"Key": f"photos/{day}/IMG_{i:06d}.jpg", "Size": size,
                    "StorageClass": rng.choice(CLASSES)})  # fmt: skip
        if i % 1000 == 0:
            out.append({"Key": f"photos/{day}/", "Size": 0})
    for i in range(5):
        out.append({"Key": f"video/master-{i:02d}.mov", "Size": rng.randint(3 * GiB, 8 * GiB)})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("plan_args", nargs="*", help="more s3grouper options (after --)")
    args = parser.parse_args()
    with MotoServer() as server:
        env = {**os.environ, **server.env()}
        os.environ.update(server.env())
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="inventory")
        manifest = inventory_report.put_inventory(
            s3, "inventory", rows(args.objects), source_bucket="photos", files=4
        )
        cmd = [sys.executable, "-m", "s3grouper", "-m", manifest, "--plan", *args.plan_args]
        started = time.monotonic()
        code = subprocess.run(cmd, env=env).returncode
        print(f"(s3grouper --plan: {time.monotonic() - started:.1f} s)", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
