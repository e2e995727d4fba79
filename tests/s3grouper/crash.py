"""``python -m s3grouper`` that kills itself with SIGKILL (kill -9) at a chosen point, for the
crash tests (tests/s3grouper/test_publish.py)::

    python -m tests.s3grouper.crash --before-file N [--settle S] <s3grouper arguments>
    python -m tests.s3grouper.crash --at-complete N <s3grouper arguments>

``--before-file N``: while reading, when data file N (from 0) is about to be read, after
waiting ``--settle`` seconds (default 1) so that what the earlier data files gave has been
uploaded (and, before sub-manifests were published as a whole, queued). ``--at-complete N``:
while publishing, at the Nth CompleteMultipartUpload request. Both hook only public names
(the readers' entry points, botocore's request method), not the grouper's internals.
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import botocore.client

from s3grouper import cli, readers


def _kill() -> None:
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def kill_before_file(number: int, settle: float) -> None:
    calls = itertools.count()

    def hooked(real: Callable[..., Any]) -> Callable[..., Any]:
        def read(*args: Any, **kwargs: Any) -> Any:
            if next(calls) == number:
                time.sleep(settle)
                _kill()
            return real(*args, **kwargs)

        return read

    for name in ("read_csv", "read_parquet", "read_orc"):
        setattr(readers, name, hooked(getattr(readers, name)))


def kill_at_complete(number: int) -> None:
    real = botocore.client.BaseClient._make_api_call
    calls = itertools.count(1)
    lock = threading.Lock()

    def call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "CompleteMultipartUpload":
            with lock:
                if next(calls) == number:
                    _kill()
        return real(self, operation, params)

    botocore.client.BaseClient._make_api_call = call  # type: ignore[method-assign]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before-file", type=int)
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--at-complete", type=int)
    args, rest = ap.parse_known_args()
    if args.before_file is not None:
        kill_before_file(args.before_file, args.settle)
    if args.at_complete is not None:
        kill_at_complete(args.at_complete)
    return cli.main(rest)


if __name__ == "__main__":
    sys.exit(main())
