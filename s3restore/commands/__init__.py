"""``s3bundler COMMAND``: getting objects back and proving a job complete.

``s3bundler -q/-m`` is the worker (s3bundler/cli.py, which lists the commands and hands them
here). Each command is a module of this package with ``build_parser()`` and
``run(args) -> int``; they share the options and the exit codes below.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from s3common.aws import make_client, make_session
from s3common.cli import Parser, configure_logging, run

EXIT_CODES = (
    "exit codes: 0 ok, 1 check failed (verify/reconcile found problems), 2 usage, 3 bad input "
    "data, 4 upload failed, 5 download failed, 6 not found, 7 other AWS error, 75 not yet "
    "(archive in cold storage: restore requested)"
)


def parser(name: str, description: str, examples: str) -> argparse.ArgumentParser:
    """A command's parser with the shared options (region, profile, verbosity)."""
    p = Parser(
        prog=f"s3bundler {name}",
        description=textwrap.fill(description, 90),
        epilog=f"examples:\n{examples}\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-r", "--region", help="AWS region (default: from the environment)")
    p.add_argument("--profile", help="AWS profile (default: from the environment)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")
    p.add_argument("-d", "--debug", action="store_true", help="log everything, incl. botocore")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return p


def clients(args: argparse.Namespace, concurrency: int = 16) -> tuple[Any, Any]:
    """(boto3 session, S3 client) from the shared options."""
    session = make_session(args.region, args.profile)
    return session, make_client(session, "s3", max_pool_connections=concurrency + 8)


def main(name: str, argv: Sequence[str]) -> int:
    module: Any = importlib.import_module(f"s3restore.commands.{name}")

    def body() -> int:
        args = module.build_parser().parse_args(list(argv))
        configure_logging(args.verbose, args.debug)
        return int(module.run(args) or 0)

    code = run(f"s3bundler {name}", body)
    # pyarrow can abort the interpreter during its teardown after reading Parquet (seen with
    # pyarrow 26 and in-memory buffers); every output is written and closed by now, so leave
    # without the teardown rather than ever exit with a signal.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
