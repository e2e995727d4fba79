"""CLI plumbing shared by both tools: logging setup and the error-to-exit-code wrapper."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import NoReturn

from s3common.errors import ExitCode, S3BundlerError, UsageError
from s3common.request_options import RedactSecrets

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging(verbose: bool = False, debug: bool = False) -> None:
    """Quiet by default (WARNING and up, plus each tool's own INFO summary lines when asked);
    ``-v`` shows INFO, ``-d`` shows DEBUG including botocore's."""
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr, force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets())  # botocore's DEBUG lines show request headers
    if not debug:
        for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


class Parser(argparse.ArgumentParser):
    """argparse whose errors are a UsageError: parsed inside :func:`run`, a bad argument is
    one line on stderr, ``PROG: error: MESSAGE (see --help)``, and exit code 2 -- not the
    usage block first."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see --help)")


def positive_int(text: str) -> int:
    """argparse ``type=`` for a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def run(prog: str, fn: Callable[[], int | None]) -> int:
    """Run a CLI body; turn S3BundlerError into one line on stderr and its exit code."""
    try:
        return int(fn() or 0)
    except S3BundlerError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return int(ExitCode.OK)
